"""End to end in real headless Chromium against a real server: drop a small clip on the check
page and read its verdict per channel, the reasons with their times and the frame strip."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import fixture_dir
from tests.test_check import enrolled_db  # noqa: F401  (the module-scoped register fixture)
from tests.web_helpers import LiveServer, browser_sign_in, launch_chromium

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("av")

DROP_VIDEO_JS = """
([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: "video/mp4"}));
  const zone = document.getElementById("dropzone");
  zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
}
"""


def test_drop_a_clip_and_see_the_sound_was_not_checked_and_a_face_reason_with_its_time(tmp_path):
    from tests.test_video import blank, make_clip, picture

    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "Sports day.mp4", [(blank(), 1.0), (face, 1.0), (blank(), 1.0)], audio=True)
    with LiveServer(tmp_path / "data") as server, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(90_000)
            browser_sign_in(page, server.url, "office")
            page.get_by_role("link", name="Check photos").first.click()
            assert "videos too (MP4, MOV, M4V or WebM" in page.locator("#dropzone").inner_text()
            page.evaluate(DROP_VIDEO_JS, [base64.b64encode(clip.read_bytes()).decode(), clip.name])
            card = page.locator("article.result", has_text="Sports day.mp4").filter(has=page.locator(".verdict-big"))
            card.locator(".verdict-big").wait_for()
            assert card.locator(".verdict-big").get_attribute("data-verdict") == "review"
            assert card.locator(".channels li").count() >= 4  # a verdict for each channel
            reasons = card.locator(".reasons").inner_text()
            assert "the sound was not checked: listen for pupils' names" in reasons
            assert any(line.startswith(("0:01: ", "0:01-0:02: ")) for line in reasons.splitlines()), reasons
            strip = card.locator("img[alt^='Frames of Sports day.mp4']")
            strip.wait_for()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=strip.element_handle())
            assert "A video, 0:03 long, with sound" in card.inner_text()
        finally:
            browser.close()


def test_a_clip_larger_than_the_page_takes_says_video_and_where_larger_clips_go(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "settings.toml").write_text("max_upload_mb = 1\n")
    big = base64.b64encode(b"\x00" * (1024 * 1024 + 1)).decode()  # never sent: refused in the page
    with LiveServer(tmp_path / "data", workers=0) as server, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            browser_sign_in(page, server.url, "office")
            page.get_by_role("link", name="Check photos").first.click()
            page.locator("#dropzone").wait_for()
            page.evaluate(DROP_VIDEO_JS, [big, "Nativity.mov"])
            card = page.locator("article.result", has_text="Nativity.mov")
            card.get_by_text("This video is too large to send here").wait_for()
            assert "Check it in a batch job, which takes larger clips" in card.inner_text()
            assert "photo" not in card.inner_text()
        finally:
            browser.close()


def test_press_make_a_blurred_copy_follow_its_progress_and_see_the_copy_offered(tmp_path, enrolled_db):  # noqa: F811
    """The check page's blurred copy of a clip, made by the server's worker process (the queue's
    ``blur_clip`` task): the button, the progress the page follows, then the copy's download."""
    from consent.register import Register
    from tests.conftest import copy_register
    from tests.test_check import PUBLICATION
    from tests.test_video import blank, make_clip, picture

    data = tmp_path / "data"
    data.mkdir()
    copy_register(enrolled_db, data)
    with Register(data / "consent.db") as reg:
        for channel in PUBLICATION:
            reg.record_consent("P002", channel, "refused")  # Joe Biden
    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "Sports day.mp4", [(blank(), 0.5), (face, 3.5)])
    with LiveServer(data) as server, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(120_000)
            browser_sign_in(page, server.url, "office")
            page.get_by_role("link", name="Check photos").first.click()
            page.locator("#dropzone").wait_for()  # the check page, not the one before it
            page.evaluate(DROP_VIDEO_JS, [base64.b64encode(clip.read_bytes()).decode(), clip.name])
            card = page.locator("article.result", has_text="Sports day.mp4").filter(has=page.locator(".verdict-big"))
            card.locator(".verdict-big").wait_for()
            assert card.locator(".verdict-big").get_attribute("data-verdict") == "block"
            card.get_by_role("button", name="Make a blurred copy (takes a few minutes)").click()
            progress = page.locator(".blur-progress[role=status]")
            progress.wait_for()  # the page it lands on follows the copy
            assert page.get_by_role("button", name="Make a blurred copy (takes a few minutes)").count() == 0
            page.get_by_role("link", name="Download with faces blurred").wait_for()
            copies = page.get_by_role("list", name="Verdict for each channel of the blurred copy").inner_text()
            assert copies.splitlines().count("ok") == len(PUBLICATION), copies
            with page.expect_download() as download:
                page.get_by_role("link", name="Download with faces blurred").click()
            assert download.value.suggested_filename == "Sports day-blurred.mp4"
        finally:
            browser.close()
