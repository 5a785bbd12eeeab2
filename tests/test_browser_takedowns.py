"""The takedown journey in real headless Chromium against a real waitress server: a photo of an
enrolled pupil is signed off, its safe copy downloaded (a copy, not published), then downloaded
"to publish on the newsletter" (published); the admin withdraws the pupil's consent; the home page counts the photo to take down; the list says why; it is marked
taken down."""

from __future__ import annotations

import pytest

from consent.register import Register, enrolment
from tests.conftest import fixture_dir
from tests.test_browser import browser  # noqa: F401  (the same headless Chromium fixture)
from tests.web_helpers import LiveServer, browser_sign_in

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("takedowns") / "data"
    data.mkdir(parents=True)
    with Register(data / "consent.db", user="admin") as reg:
        pupil = reg.add_person("T100", "Tamsin", "Okonkwo-Reyes", year_group="9")
        for channel in ("website", "social_media", "newsletter", "press", "biometric"):
            reg.record_consent(pupil.id, channel, "granted")
        enrolment.enrol(reg, pupil.id, [fixture_dir("people", "train", "obama") / "obama.jpg"])
    with LiveServer(data) as live:
        live.pupil_id = pupil.id
        yield live


def new_page(browser, server, user):  # noqa: F811
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    browser_sign_in(page, server.url, user)
    return page


def test_publish_withdraw_see_the_count_open_the_list_mark_taken_down(server, browser, tmp_path):  # noqa: F811
    # office checks the photo and sends it for sign-off
    office = new_page(browser, server, "office")
    office.goto(server.url + "/check/")
    office.locator("#photo").set_input_files(str(fixture_dir("people", "test") / "obama1.jpg"))
    card = office.locator("article.result", has_text="obama1.jpg").filter(has=office.locator(".verdict-big"))
    card.wait_for()
    check_url = f"{server.url}/check/{card.get_attribute('id').removeprefix('result-')}"
    card.get_by_role("button", name="Send to a senior for sign-off").click()
    office.get_by_text("waiting for sign-off").first.wait_for()

    # a senior approves it
    senior = new_page(browser, server, "senior")
    senior.goto(server.url + "/review/")
    senior.get_by_role("button", name="Approve").first.click()
    senior.get_by_text("obama1.jpg: approved").wait_for()

    # office downloads the safe copy to look at it: a copy left, not published
    office.goto(check_url)
    with office.expect_download() as info:
        office.get_by_role("link", name="Download safe copy").click()
    info.value.save_as(tmp_path / info.value.suggested_filename)
    office.reload()
    published = office.locator("#published").inner_text()
    assert "Copies downloaded, not marked published" in published and "Not recorded as published" in published

    # then downloads it again, saying it is going in the newsletter: published there
    office.get_by_label("I am publishing this on").select_option(label="newsletter")
    with office.expect_download() as info:
        office.get_by_role("button", name="Download and record as published").click()
    info.value.save_as(tmp_path / ("published-" + info.value.suggested_filename))
    office.reload()
    assert "Published on newsletter" in office.locator("#published").inner_text()

    # nothing to take down yet
    admin = new_page(browser, server, "admin")
    assert admin.locator("#takedown-count").count() == 0

    # the admin withdraws every consent on the pupil's page
    admin.goto(f"{server.url}/register/people/{server.pupil_id}")
    admin.get_by_role("button", name="Withdraw consent for every channel").click()
    admin.get_by_text("Consent withdrawn for 4 channels").wait_for()

    # the home page counts the photo on each channel it went out on (not each download)
    admin.goto(server.url + "/")
    count = admin.locator("#takedown-count")
    assert "4 photos to take down" in count.inner_text()
    count.get_by_role("link", name="Open the takedown list").click()
    admin.wait_for_url("**/takedowns/")
    rows = admin.locator("#takedown-list tbody tr")
    rows.nth(3).wait_for()  # the list has loaded (counting at once can race the navigation)
    assert rows.count() == 4
    listed = admin.locator("#takedown-list").inner_text()
    assert listed.count("published; copies downloaded too") == 1
    assert listed.count("copies downloaded, not marked published") == 3
    first = rows.first.inner_text()
    assert "obama1.jpg" in first and "consent for" in first and "was withdrawn on" in first
    assert "Tamsin Okonkwo-Reyes" in first  # admins see who

    # mark each taken down; the count goes away
    for left in (3, 2, 1):
        rows.first.get_by_role("button", name="Mark taken down").click()
        admin.wait_for_function("n => document.querySelectorAll('#takedown-list tbody tr').length === n", arg=left)
        admin.get_by_text("marked as taken down").first.wait_for()
    rows.first.get_by_role("button", name="Mark taken down").click()  # the last one: the list goes
    admin.locator("#no-takedowns").wait_for()  # visible, waited for: is_visible() does not wait for the page
    assert "taken down by admin" in admin.locator("main").inner_text()
    admin.goto(server.url + "/")
    assert admin.locator("#takedown-count").count() == 0

    # the old check page says what changed, first
    office.goto(check_url)
    assert "this approval no longer stands" in office.locator(".changed").first.inner_text()
