"""End to end in real headless Chromium against a real waitress server (``python -m web``):
sign in, drop a photo, read the verdict, download the safe copy; run a batch on a folder and
watch it reach 100%; import a CSV into the register."""

from __future__ import annotations

import base64
import shutil

import pytest

from tests.conftest import fixture_dir
from tests.web_helpers import LiveServer, browser_sign_in, launch_chromium, metadata_tags

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("live") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


DROP_JS = """
([b64, name, target]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
  const zone = document.getElementById(target);
  zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
}
"""


def drop_file(page, path, target="dropzone"):
    page.evaluate(DROP_JS, [base64.b64encode(path.read_bytes()).decode(), path.name, target])


def test_sign_in_drop_a_photo_see_the_verdict_and_download_a_metadata_free_copy(server, page, tmp_path):
    photo = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    assert metadata_tags(photo), "the fixture should carry metadata to begin with"
    browser_sign_in(page, server.url, "office")
    page.get_by_role("link", name="Check photos").first.click()
    page.get_by_label("Where will it be published?").select_option("newsletter")
    drop_file(page, photo)
    card = page.locator("article.result", has_text="DSCN0010.jpg").filter(has=page.locator(".verdict-big"))
    verdict = card.locator(".verdict-big")
    verdict.wait_for()
    assert verdict.inner_text() == "OK to publish"
    assert "newsletter" in card.locator(".channels").inner_text()
    with page.expect_download() as info:
        card.get_by_role("link", name="Download safe copy").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "DSCN0010-safe.jpg"
    assert metadata_tags(saved) == {}


@pytest.mark.parametrize("role", ["office", "comms", "senior", "admin"])
def test_every_page_in_the_menu_loads_without_a_browser_error(server, browser, role):
    """No 404 for an icon or script, no script error, no password-form warning: what a school's
    IT person would see in the browser's console."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"{page.url}: {m.type}: {m.text}")
            if m.type in ("error", "warning") or "Password forms" in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    try:
        page.goto(server.url + "/login")
        page.wait_for_load_state("networkidle")
        browser_sign_in(page, server.url, role)
        links = page.locator("header.top nav a").evaluate_all("as => as.map(a => a.href)")
        assert links, "no menu"
        for href in links + [server.url + "/account/password"]:
            page.goto(href)
            page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert problems == []


def test_a_non_photo_dropped_gets_a_clear_message(server, page, tmp_path):
    notes = tmp_path / "minutes.jpg"
    notes.write_text("minutes of the governors' meeting")
    browser_sign_in(page, server.url, "office")
    page.goto(server.url + "/check/")
    drop_file(page, notes)
    error = page.locator("article.failed")
    error.wait_for()
    assert "minutes.jpg: not a photo" in error.inner_text()


def test_group_photo_shows_amber_faces_and_can_be_sent_for_sign_off(server, page):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    browser_sign_in(page, server.url, "office")
    page.goto(server.url + "/check/")
    page.locator("#photo").set_input_files(str(photo))  # the "Choose photos" route
    card = page.locator("article.result", has_text="obama_and_biden.jpg").filter(has=page.locator(".verdict-big"))
    card.wait_for()
    assert card.locator(".verdict-big").inner_text() == "Needs a senior's sign-off"
    assert card.locator(".swatch-review").count() >= 2
    assert card.get_by_role("link", name="Download safe copy").count() == 0
    card.get_by_role("button", name="Send to a senior for sign-off").click()
    page.get_by_text("waiting for sign-off").wait_for()


def test_batch_on_a_folder_reaches_100_percent_and_lists_every_photo(server, page, tmp_path):
    folder = tmp_path / "Summer fair"
    (folder / "stalls").mkdir(parents=True)
    gps = fixture_dir("metadata", "gps")
    for name in ("DSCN0010.jpg", "DSCN0012.jpg", "DSCN0025.jpg"):
        shutil.copy(gps / name, folder / name)
    shutil.copy(gps / "DSCN0027.jpg", folder / "stalls" / "DSCN0027.jpg")
    (folder / "notes.txt").write_text("not a photo")
    browser_sign_in(page, server.url, "comms")
    page.goto(server.url + "/batch/")
    page.locator("#folder").set_input_files(str(folder))
    page.get_by_role("button", name="Start checking").click()
    page.wait_for_url("**/batch/*")
    seen = []
    bar = page.locator("#job-bar")
    for _ in range(240):
        if page.locator("#progress-label").inner_text() == "Finished":
            break
        seen.append(bar.get_attribute("value"))
        page.wait_for_timeout(250)
    assert page.locator("#progress-label").inner_text() == "Finished"
    assert bar.get_attribute("value") == "100"
    assert "4 of 4 checked" in page.locator("#job-count").inner_text()
    gallery = page.locator("ul.gallery li")
    assert gallery.count() == 4
    assert "stalls/DSCN0027.jpg" in page.locator("ul.gallery").inner_text()
    with page.expect_download() as info:
        page.get_by_role("link", name="safe copies").click()
    assert info.value.suggested_filename.endswith("-safe-copies.zip")


def test_import_a_csv_into_the_register(server, page, tmp_path):
    csv = tmp_path / "year6.csv"
    csv.write_text("UPN,Surname,Forename,Year,Form,Website,Press\nB200,Lee,Ann,6,6L,Yes,No\nB201,Khan,Omar,6,6L,Yes,Yes\n")
    browser_sign_in(page, server.url, "admin")
    page.goto(server.url + "/register/import")
    page.locator("#csv").set_input_files(str(csv))
    page.get_by_role("button", name="Show what would change").click()
    assert "2 would be added" in page.locator("#import-summary").inner_text()
    page.get_by_role("button", name="Import these rows").click()
    page.get_by_text("Imported: 2 added").wait_for()
    page.goto(server.url + "/register/?q=khan")
    page.get_by_role("link", name="Omar Khan").wait_for()  # visible, waited for: is_visible() does not wait for the page
    # a consent change is saved by its Save button after confirming what will be recorded,
    # with the admin's name in the audit log
    page.get_by_label("Press consent for Omar Khan").select_option("withdrawn")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save Press consent for Omar Khan").click()
    page.locator("td.saved").wait_for()
    page.goto(server.url + "/audit/?action=consent")
    assert "withdrawn" in page.locator("table").first.inner_text()
