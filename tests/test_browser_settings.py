"""The Settings page and the wide tables in real headless Chromium against a real server: the
page fits a school admin's screen with Expert folded, a bad value marks its field and keeps every
other edit, and no page with a table scrolls the body sideways on a 390 px phone."""

from __future__ import annotations

import pytest

from tests.test_browser import browser  # noqa: F401  (the same headless Chromium fixture)
from tests.web_helpers import LiveServer, browser_sign_in

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("settings") / "data"
    with LiveServer(data) as live:
        yield live


def admin_page(browser, server, width=1280, height=900):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    browser_sign_in(page, server.url, "admin")
    return page


def test_the_settings_page_is_grouped_and_under_2000_px_tall_at_1280_with_expert_folded(server, browser):  # noqa: F811
    page = admin_page(browser, server)
    page.goto(server.url + "/admin/settings/")
    headings = page.locator("main h2").all_inner_texts()
    assert headings[:3] == ["The school", "What may be published", "Signing in and security"]
    expert = page.locator("details#expert")
    assert expert.get_attribute("open") is None
    assert not page.get_by_label("Match distance").is_visible()  # the thresholds are folded away
    height = page.evaluate("() => document.documentElement.scrollHeight")
    print(f"settings page at 1280 px, Expert folded: {height} px tall")
    assert height < 2000
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    # each field says in one line what it changes; a threshold says the figure it was chosen from
    assert "needs a senior colleague's sign-off" in page.locator("#f-min_group_size").inner_text()
    page.locator("details#expert > summary").click()
    assert page.get_by_label("Match distance").is_visible()
    assert "Chosen from: no two different children of 270,000 pairs" in page.locator("#f-match_threshold").inner_text()
    page.context.close()


def test_a_bad_value_marks_its_field_and_keeps_every_other_edit(server, browser):  # noqa: F811
    page = admin_page(browser, server)
    page.goto(server.url + "/admin/settings/")
    page.get_by_label("Safe copies can be downloaded for (hours)").fill("48")
    page.get_by_label("Smallest group published without sign-off").fill("4")
    page.get_by_label("Swimming words").fill("swim, swimming, swimwear, gala, pool, beach, lido")
    page.get_by_label("Lockout lasts (minutes)").fill("half an hour")
    page.get_by_role("button", name="Save settings").click()

    summary = page.locator("#settings-errors")
    summary.wait_for()
    assert "Not saved yet: 1 value to put right" in summary.inner_text()
    assert "Your other 3 changes are still in the form" in summary.inner_text()
    field = page.locator("#f-login_lockout_minutes")
    assert "has-error" in field.get_attribute("class")
    assert "“half an hour” is not a whole number" in field.inner_text()
    lockout = page.get_by_label("Lockout lasts (minutes)")
    assert lockout.get_attribute("aria-invalid") == "true"
    # every other edit is still in the form, so the fix is one field and Save again
    assert page.get_by_label("Safe copies can be downloaded for (hours)").input_value() == "48"
    assert page.get_by_label("Smallest group published without sign-off").input_value() == "4"
    assert page.get_by_label("Swimming words").input_value().endswith("lido")
    summary.get_by_role("link", name="Lockout lasts (minutes)").click()
    assert page.evaluate("() => document.activeElement.id") == "s-login_lockout_minutes"

    lockout.fill("30")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Saved and in force now").wait_for()
    saved = page.locator(".flash-info").inner_text()
    for words in ("Safe copies can be downloaded for (hours): 24 → 48", "Smallest group published without sign-off: 3 → 4",
                  "Lockout lasts (minutes): 15 → 30", "lido"):
        assert words in saved
    assert page.get_by_label("Lockout lasts (minutes)").input_value() == "30"
    page.context.close()


def test_a_bad_expert_value_opens_expert_to_show_it(server, browser):  # noqa: F811
    page = admin_page(browser, server)
    page.goto(server.url + "/admin/settings/")
    page.locator("details#expert > summary").click()
    page.get_by_label("Match distance").fill("0.95")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#settings-errors").wait_for()
    assert page.locator("details#expert").get_attribute("open") is not None
    assert page.get_by_label("Match distance").is_visible()
    assert "Must be between 0.3 and 0.85" in page.locator("#f-match_threshold").inner_text()
    page.context.close()


IMPORT_CSV = """UPN,Legal Surname,Legal Forename,Preferred Forename,Year,Reg Group,Website Consent,Social Media Consent,Newsletter Consent,Press Consent,Biometric Consent
A100,Okonkwo-Reyes,Tamsin,,6,6B,Yes,No,Yes,No,Yes
A101,Fitzgerald-Hamilton,Maximilian,Max,6,6B,Yes,Yes,Yes,Yes,Yes
"""


def hint_pixels(wrap) -> int:
    """Pixels of the hint's ink (the brand blue) in the strip above a table, at its right."""
    import io

    from PIL import Image

    shot = Image.open(io.BytesIO(wrap.screenshot())).convert("RGB")
    w, h = shot.size
    strip = shot.crop((max(0, w - 240), 0, w, 26))
    return sum(1 for r, g, b in strip.getdata() if r < 80 and 40 < g < 110 and 70 < b < 140)


def hint_shown(wrap) -> bool:
    """Whether the line above the table is open and visible (its height and opacity)."""
    height, opacity = wrap.evaluate("w => { const s = getComputedStyle(w, '::before'); "
                                    "return [parseFloat(s.height) || 0, parseFloat(s.opacity)]; }")
    return height > 10 and opacity > 0.5


def test_at_390_px_no_page_scrolls_sideways_and_a_wide_table_says_there_is_more(server, browser, tmp_path):  # noqa: F811
    page = admin_page(browser, server, 390, 844)
    csv_path = tmp_path / "pupils.csv"
    csv_path.write_text(IMPORT_CSV)
    page.goto(server.url + "/register/import")
    page.locator("#csv").set_input_files(str(csv_path))
    page.get_by_role("button", name="Show what would change").click()
    page.locator("#import-summary").wait_for()
    widths = {"import preview": page.evaluate("() => document.documentElement.scrollWidth")}
    page.get_by_role("button", name="Import these rows").click()
    page.get_by_text("Imported").first.wait_for()
    for path in ("/admin/users/", "/takedowns/", "/review/", "/audit/", "/admin/settings/"):
        page.goto(server.url + path)
        widths[path] = page.evaluate("() => document.documentElement.scrollWidth")
    assert all(w <= 390 for w in widths.values()), widths

    # the users table is wider than a phone: it scrolls in its own box, which says so until its end is in view
    page.goto(server.url + "/admin/users/")
    wrap = page.locator(".table-wrap").first
    inner, box = wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert inner > box
    assert hint_pixels(wrap) > 50 and hint_shown(wrap)
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    page.wait_for_timeout(200)  # the scroll timeline moves on the next frame
    assert not hint_shown(wrap)
    # a table that fits says nothing
    page.set_viewport_size({"width": 1280, "height": 900})
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    assert not hint_shown(wrap)

    # the audit log becomes cards on a phone: every cell labelled, nothing to the side
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/audit/")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    labels = page.locator("table.stack-narrow tbody tr").first.locator("td").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert labels[:3] == ['"When: "', '"Who: "', '"What: "']
    assert "added 2" in page.locator("table.stack-narrow tbody tr").first.inner_text()
    page.context.close()
