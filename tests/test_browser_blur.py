"""In real headless Chromium: a batch with "Also make copies with faces blurred" ticked makes
blurred copies, and the zip holds one only where blurring makes the photo OK (faces nobody has
consent for), never where it does not (a tennis player in sports kit)."""

from __future__ import annotations

import shutil
import zipfile

import pytest
import sqlite_utils

from tests import test_browser
from tests.conftest import fixture_dir
from tests.web_helpers import LiveServer, browser_sign_in

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")

browser = test_browser.browser  # the same Chromium fixture


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("blur") / "data") as live:  # nobody enrolled
        yield live


def test_a_batch_with_blurring_ticked_zips_a_blurred_copy_where_blurring_makes_it_ok(server, browser, tmp_path):
    folder = tmp_path / "Sports day"
    folder.mkdir()
    shutil.copy(fixture_dir("people", "test") / "obama_and_biden.jpg", folder / "group.jpg")  # unknown faces
    shutil.copy(fixture_dir("kit") / "COCO_val2014_000000000564.jpg", folder / "tennis.jpg")  # PE kit
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(90_000)
    browser_sign_in(page, server.url, "comms")
    page.goto(server.url + "/batch/")
    page.get_by_label("Name of this batch").fill("Sports day")
    page.get_by_label("Also make copies with faces blurred").check()
    page.locator("#folder").set_input_files(str(folder))
    page.get_by_role("button", name="Start checking").click()
    page.wait_for_url("**/batch/*")
    page.locator("#progress-label", has_text="Finished").wait_for(timeout=300_000)

    db = sqlite_utils.Database(server.data / "consent.db")
    job = next(db.query("select id, blur from web_jobs where title = 'Sports day'"))
    assert job["blur"] == 1
    photos = {r["name"]: r for r in db.query("select name, blur, blurred_path from web_checks where job_id = ?",
                                              [job["id"]])}
    assert {n: r["blur"] for n, r in photos.items()} == {"Sports day/group.jpg": 1, "Sports day/tennis.jpg": 1}
    assert photos["Sports day/group.jpg"]["blurred_path"]
    db.conn.close()

    page.get_by_text("1 of them with faces blurred").wait_for()  # visible, waited for: is_visible() does not wait for the page
    with page.expect_download() as info:
        page.get_by_role("link", name="safe cop").first.click()
    saved = tmp_path / "copies.zip"
    info.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert "Sports day/group-blurred.jpg" in names
    # blurring hides the tennis player's face, not the sports kit: no blurred copy of it
    assert "Sports day/tennis-blurred.jpg" not in names

    page.locator(".gallery li", has_text="tennis.jpg").get_by_role("link").first.click()
    page.wait_for_url("**/check/*")  # the photo's page, not the batch page still on screen
    page.get_by_text("blurring hides faces, not PE kit").wait_for(state="visible", timeout=30_000)
