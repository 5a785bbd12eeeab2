"""In real headless Chromium: a face that only looks like a pupil is answered in one click."""

from __future__ import annotations

import pytest

from consent.check import Checker
from consent.register import Register
from consent.settings import DEFAULTS, limits
from tests.conftest import fixture_dir
from tests.web_helpers import LiveServer, browser_sign_in, launch_chromium

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")


def test_a_senior_confirms_who_a_look_alike_face_is_in_one_click(tmp_path):
    from consent.images import file_hash
    from consent.vision import faces

    data = tmp_path / "data"
    data.mkdir()
    db = data / "consent.db"
    with Register(db, user="test") as reg:
        harry = reg.add_person("P001", "Harry", "Patel", year_group="7")
        reg.record_consent(harry, "biometric", "granted")
        reg.record_consent(harry, "website", "granted")
        for photo in sorted((fixture_dir("people", "train") / "obama").iterdir()):
            encoding, quality = faces.enrolment_encoding(photo)
            reg.add_template(harry, encoding, file_hash(photo), quality)
    photo = fixture_dir("people", "test") / "obama1.jpg"
    distance = Checker(db, use_cache=False, kit_check=False, text_check=False).check(photo).faces[0].distance
    # the face lands in the look-alike band: the strictest match threshold the settings allow,
    # below its measured distance, and the band as shipped
    strict = limits()["match_threshold"].lo
    assert strict < distance < DEFAULTS.match_lookalike_threshold, distance
    (data / "settings.toml").write_text(f"match_threshold = {strict}\ntext_check = false\n")
    with LiveServer(data) as server, playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        browser_sign_in(page, server.url, "admin")
        page.goto(server.url + "/check/")
        page.get_by_label("Where will it be published?").select_option("website")
        page.locator("#photo").set_input_files(str(photo))
        card = page.locator("article.result", has_text="obama1.jpg").filter(has=page.locator(".verdict-big"))
        card.wait_for()
        assert "looks like Harry Patel: check who this is" in card.locator(".faces").inner_text()
        assert card.locator(".swatch-review").count() == 1
        card.get_by_role("button", name="Yes, this is Harry Patel").click()
        page.get_by_text("face 1 is Harry Patel").wait_for()
        faces_list = page.locator("article.result .faces").inner_text()
        assert "Harry Patel: consent held" in faces_list and "a senior confirmed who this is" in faces_list
        assert page.locator("article.result .swatch-cleared").count() == 1
        assert page.get_by_role("button", name="Yes, this is Harry Patel").count() == 0
        browser.close()
