"""``python -m scripts.screenshots``: a screenshot of each page of the web app, saved as PNGs
under ``build/screenshots/``.

Starts a real server (``python -m web``) over a throw-away data folder, fills it through the
pages themselves (CSV import, photo checks, a batch, a sign-off request) with the shared
fixture photos (``CONSENT_FIXTURES``), and photographs every page in headless Chromium at a
desktop width (``NN-name.png``) and at a 390 px phone width (``NN-name-390.png``), plus the
check page at a tablet width.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "screenshots"
FIXTURES = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")

CSV = """UPN,Legal Surname,Legal Forename,Preferred Forename,Year,Reg Group,Website Consent,Social Media Consent,Newsletter Consent,Press Consent,Biometric Consent
A100,Obama,Barack,,6,6B,Yes,No,Yes,No,Yes
A101,Biden,Joseph,Joe,6,6B,Yes,Yes,Yes,Yes,Yes
A102,Leslie,Rose,,5,5L,Yes,Yes,Yes,No,No
A103,Harington,Christopher,Kit,5,5L,No,No,Yes,No,Yes
A104,Lacamoire,Alex,,4,4C,Yes,Yes,Yes,Yes,No
,Nobody,Missing,,4,4C,Yes,Yes,Yes,Yes,No
"""


def main() -> int:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.web_helpers import LiveServer, browser_sign_in, launch_chromium

    if not FIXTURES.is_dir():
        print(f"shared fixtures not found at {FIXTURES} (set CONSENT_FIXTURES)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="consent-shots-"))
    try:
        with LiveServer(work / "data") as server, sync_playwright() as p:
            browser = launch_chromium(p)
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True)
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            shots = Shots(page, server.url)

            page.goto(server.url + "/login")
            shots.take("01-login")

            browser_sign_in(page, server.url, "admin")
            shots.take("02-home-admin")
            shots.take("03-users", "/admin/users/")

            csv_path = work / "pupils.csv"
            csv_path.write_text(CSV)
            page.goto(server.url + "/register/import")
            shots.take("04-register-import")
            page.locator("#csv").set_input_files(str(csv_path))
            page.get_by_role("button", name="Show what would change").click()
            shots.take("05-register-import-preview")
            page.get_by_role("button", name="Import these rows").click()
            page.get_by_text("Imported:").first.wait_for()
            shots.take("06-register-import-done")
            _enrol(page, server.url, work)
            page.goto(server.url + "/register/?q=A102")  # Rose: never publish, whatever her forms say
            page.locator("#people a.person-link").first.click()
            page.locator("#np-reason").fill("court order")
            page.get_by_role("button", name="Never publish").click()
            page.get_by_text("Flagged:").wait_for()
            shots.take("07-register-people", "/register/")
            page.goto(server.url + "/register/")
            page.locator("#q").type("6b")  # find as you type
            shots.take("07a-register-find")
            shots.take("07b-register-glance", "/register/glance")
            shots.take("07c-register-glance-year", "/register/glance?year=6")
            page.goto(server.url + "/register/?q=obama")
            page.get_by_role("link", name="Barack Obama").click()
            shots.take("08-register-person")
            shots.take("09-register-leavers", "/register/leavers")
            shots.take("09a-register-add-person", "/register/people/new")
            shots.take("09b-settings", "/admin/settings/")

            # the office view of a check: states, no names
            ctx_office = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            office = ctx_office.new_page()
            office.set_default_timeout(120_000)
            browser_sign_in(office, server.url, "office")
            office_shots = Shots(office, server.url)
            office_shots.take("10-home-office")
            office.goto(server.url + "/check/")
            office_shots.take("11-check-empty")
            for name in ("obama_and_biden.jpg", "obama1.jpg"):
                _drop(office, FIXTURES / "people" / "test" / name)
            _drop(office, FIXTURES / "metadata" / "gps" / "DSCN0010.jpg")
            office.locator("article.result .verdict-big").nth(2).wait_for()
            office_shots.take("12-check-results-office")
            card = office.locator("article.result", has_text="obama1.jpg")
            card.get_by_label("Note for the senior").fill("For the newsletter: class assembly")
            card.locator("form.send-review button").click()
            card = office.locator("article.result", has_text="obama1.jpg")
            card.locator(".verdict-big.v-pending").wait_for()
            office_shots.take("13-check-sent-for-sign-off")
            tablet = browser.new_context(viewport={"width": 820, "height": 1180}, locale="en-GB", is_mobile=True, has_touch=True)
            tpage = tablet.new_page()
            browser_sign_in(tpage, server.url, "office")
            tpage.goto(server.url + "/check/")
            Shots(tpage, server.url).take("14-check-tablet")

            # senior: sign-off queue with names
            senior_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            senior = senior_ctx.new_page()
            browser_sign_in(senior, server.url, "senior")
            senior_shots = Shots(senior, server.url)
            senior_shots.take("15-sign-off-queue", "/review/")
            item = senior.locator(".review-item", has_text="obama1.jpg")
            item.get_by_label("Your note").fill("Fine for the newsletter")
            item.get_by_role("button", name="Approve", exact=True).click()
            senior.get_by_text("approved.").first.wait_for()
            senior_shots.take("15a-sign-off-decided")
            office_shots.take("15b-check-decision-seen-by-office", "/check/")
            office_shots.take("15c-sent-for-sign-off", "/review/mine")

            # comms: a batch job
            comms_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            comms = comms_ctx.new_page()
            comms.set_default_timeout(180_000)
            browser_sign_in(comms, server.url, "comms")
            comms_shots = Shots(comms, server.url)
            comms_shots.take("16-batch-form", "/batch/")
            folder = work / "Summer fair"
            folder.mkdir()
            for src in sorted((FIXTURES / "metadata" / "gps").glob("*.jpg"))[:4] + sorted((FIXTURES / "people" / "test").glob("*.jpg")):
                shutil.copy(src, folder / src.name)
            comms.locator("#folder").set_input_files(str(folder))
            comms.get_by_role("button", name="Start checking").click()
            comms.wait_for_url("**/batch/*")
            comms.wait_for_timeout(1500)
            comms_shots.take("17-batch-progress")
            comms.get_by_text("Finished").wait_for()
            comms_shots.take("18-batch-results")
            comms.goto(comms.url.split("?")[0] + "?show=review")
            comms_shots.take("19-batch-results-filtered")
            if comms.locator("#select-all").count():
                comms.locator("#select-all").click()
                comms.get_by_label("Note for the senior").fill("For the summer newsletter")
                comms.get_by_role("button", name="Send the ticked photos for sign-off").click()
                comms_shots.take("19a-batch-sent-for-sign-off")
            comms.locator(".gallery a").first.click()
            comms_shots.take("19b-batch-photo-details")
            senior_shots.take("19c-sign-off-queue-batch", "/review/")

            shots.take("20-audit-log", "/audit/")
            shots.take("21-forbidden", "/nope-404")
            office.goto(server.url + "/register/")
            office_shots.take("22-refused-403")
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"saved {len(list(OUT.glob('*.png')))} screenshots in {OUT}")
    return 0


class Shots:
    def __init__(self, page, base: str):
        self.page = page
        self.base = base

    def take(self, name: str, path: str | None = None) -> None:
        """The page at the desktop width, then the same page (no reload) at a phone's width."""
        if path:
            self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": 390, "height": 844})
        self.page.wait_for_timeout(100)
        self.page.screenshot(path=str(OUT / f"{name}-390.png"), full_page=True)
        wide = self.page.evaluate("() => document.documentElement.scrollWidth")
        self.page.set_viewport_size(size)
        print(f"  {name}.png, {name}-390.png" + (f"  (WIDER THAN 390 px: {wide} px)" if wide > 390 else ""))


def _drop(page, path: Path) -> None:
    page.evaluate(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
          document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [base64.b64encode(path.read_bytes()).decode(), path.name],
    )


def _enrol(page, base: str, work: Path) -> None:
    """Enrol the people with biometric consent from their training photos, through the page."""
    for mis_id, folder in (("A100", "obama"), ("A101", "biden"), ("A103", "kit_harington")):
        page.goto(f"{base}/register/?q={mis_id}")
        page.locator("table.matrix tbody th a").first.click()
        photos = sorted((FIXTURES / "people" / "train" / folder).iterdir())[:1]
        page.locator("#enrol-photos").set_input_files([str(x) for x in photos])
        page.wait_for_load_state("networkidle")


if __name__ == "__main__":
    sys.exit(main())
