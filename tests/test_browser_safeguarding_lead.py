"""An admin marks a colleague as designated safeguarding lead on the Users page, in real
headless Chromium against a real waitress server."""

from __future__ import annotations

import pytest

from tests.test_browser import browser  # noqa: F401  (the same headless Chromium fixture)
from tests.web_helpers import LiveServer, browser_sign_in

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("lead") / "data"
    with LiveServer(data, workers=0) as live:
        yield live


def test_admin_marks_a_senior_as_safeguarding_lead_on_the_users_page(server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    browser_sign_in(page, server.url, "admin")
    page.goto(server.url + "/admin/users/")
    expect = playwright_api.expect
    expect(page.get_by_role("heading", name="No designated safeguarding lead")).to_be_visible()

    page.get_by_role("button", name="Make senior safeguarding lead").click()
    expect(page.get_by_text("Senior User is now a designated safeguarding lead")).to_be_visible()
    row = page.get_by_role("row", name="Senior User")
    expect(row.get_by_text("safeguarding lead", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Remove senior as safeguarding lead")).to_be_visible()
    expect(page.get_by_role("heading", name="No designated safeguarding lead")).to_have_count(0)

    page.goto(server.url + "/audit/")
    expect(page.get_by_text("Marked senior as designated safeguarding lead.").first).to_be_visible()
