"""A withdrawal reaches photos already checked, signed off or published, in the web app.

Real app, real register, a real photo of an enrolled person (the fixture's Obama photos, under
a pupil name of our own and a neutral file name, so the raw-bytes checks cannot be fooled by a
file name)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from consent.register import Register, publications
from consent.rejudge import day_words
from web.audit import audit_log
from web.check import checked_photos
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.test_web_batch import job_id_of, send_zip
from tests.test_web_check import upload
from tests.web_helpers import client_as, make_app, post

FIRST, LAST, MIS = "Barnaby", "Quixwellington", "Q100"
REASON = "Xylophonic safeguarding order"
CHANNELS = ("website", "social_media", "newsletter", "press")
TODAY = dt.date.today()


@pytest.fixture
def app(tmp_path):
    return with_enrolled_pupil(make_app(tmp_path))


def with_enrolled_pupil(app):
    """A pupil enrolled from a reference photo, with consent for every channel."""
    with Register(app.config["CONSENT_DB"], user="admin") as reg:
        pupil = reg.add_person(MIS, FIRST, LAST, year_group="8")
        for channel in (*CHANNELS, "biometric"):
            reg.record_consent(pupil.id, channel, "granted")
        from consent.register import enrolment

        enrolment.enrol(reg, pupil.id, [fixture_dir("people", "train", "obama") / "obama.jpg"])
    return app


def register(app) -> Register:
    return Register(app.config["CONSENT_DB"], user="admin")


def pupil_id(app) -> int:
    with register(app) as reg:
        return reg.find_person(MIS).id


def check_photo(app) -> str:
    """The office checks a photo of the pupil; returns the check id."""
    office = client_as(app, "office")
    photo = fixture_dir("people", "test") / "obama1.jpg"
    response = upload(office, photo.read_bytes(), "IMG_0412.jpg")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return next(connect(app.config["CONSENT_DB"])["web_checks"].rows)["id"]


def row(app, check_id) -> dict:
    return checked_photos.get(connect(app.config["CONSENT_DB"]), check_id, judge=False)


def signed_off_and_downloaded(app) -> str:
    """Checked (needs sign-off), sent, approved by a senior, safe copy downloaded by the office."""
    check_id = check_photo(app)
    assert row(app, check_id)["verdict"] == "review"
    office = client_as(app, "office")
    assert post(office, f"/check/{check_id}/review", {"note": "for the newsletter"}).status_code == 302
    assert post(client_as(app, "senior"), f"/review/{check_id}/approve", {"note": "fine"}).status_code == 302
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "signed off" in page and "Changed since" not in page
    assert office.get(f"/check/{check_id}/download/safe").status_code == 200
    return check_id


def test_a_stored_check_keeps_ids_not_names(app):
    check_id = check_photo(app)
    stored = row(app, check_id)
    text = repr(stored)
    assert LAST not in text and FIRST not in text
    assert f'"person_id": {pupil_id(app)}' in stored["stored"]
    senior_view = client_as(app, "senior").get(f"/check/{check_id}").get_data(as_text=True)
    assert f"{FIRST} {LAST}" in senior_view  # the name is looked up when the page is shown


def test_approve_then_withdraw_old_page_says_so_first_download_refused_sign_off_back_in_queue(app):
    check_id = signed_off_and_downloaded(app)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "newsletter", "withdrawn")
    sentence = f"consent for newsletter was withdrawn on {day_words(TODAY)}: this approval no longer stands"

    office = client_as(app, "office")
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert sentence in page
    assert page.index(sentence) < page.index('class="verdict-big')  # said first
    assert "waiting for sign-off" in page and "Download safe copy" not in page

    refused = office.get(f"/check/{check_id}/download/safe")
    assert refused.status_code == 403
    assert sentence.lower() in refused.get_data(as_text=True).lower()

    assert row(app, check_id)["review_state"] == "pending"
    queue = client_as(app, "senior").get("/review/").get_data(as_text=True)
    assert "IMG_0412.jpg" in queue and sentence in queue
    [event] = audit_log.events(connect(app.config["CONSENT_DB"]), action="review.returned")
    assert event["check_id"] == check_id and sentence in event["detail"]["why"][0]


def test_a_senior_can_approve_it_again_for_the_channels_still_open(app):
    check_id = signed_off_and_downloaded(app)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "newsletter", "withdrawn")
    senior = client_as(app, "senior")
    senior.get("/review/")
    assert post(senior, f"/review/{check_id}/approve", {"note": "not the newsletter"}).status_code == 302
    office = client_as(app, "office")
    assert office.get(f"/check/{check_id}/download/safe?channel=website").status_code == 200
    refused = office.get(f"/check/{check_id}/download/safe?channel=newsletter")
    assert refused.status_code == 403
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "Changed since" not in page and "newsletter" in page


def test_withdraw_all_puts_every_published_channel_on_the_takedown_list(app):
    check_id = signed_off_and_downloaded(app)
    admin = client_as(app, "admin")
    assert post(admin, f"/register/people/{pupil_id(app)}/withdraw-all").status_code == 302
    with register(app) as reg:
        items = publications.takedowns(reg)
    assert sorted(t.publication.channel for t in items) == sorted(CHANNELS)
    assert {t.publication.ref for t in items} == {check_id}
    assert client_as(app, "office").get(f"/check/{check_id}/download/safe").status_code == 403


def test_never_publish_after_publication_lists_it_with_the_reason_for_admins_only(app):
    check_id = signed_off_and_downloaded(app)
    admin = client_as(app, "admin")
    assert post(admin, f"/register/people/{pupil_id(app)}/never-publish", {"reason": REASON}).status_code == 302

    comms_list = client_as(app, "comms").get("/takedowns/").get_data(as_text=True)
    assert "must never be published" in comms_list and REASON not in comms_list
    assert LAST not in comms_list  # comms does not see names
    admin_list = admin.get("/takedowns/").get_data(as_text=True)
    assert REASON in admin_list and f"{FIRST} {LAST}" in admin_list
    assert "4 photos to take down" in admin.get("/").get_data(as_text=True)
    assert "4 photos to take down" in client_as(app, "comms").get("/").get_data(as_text=True)
    assert "to take down" not in client_as(app, "office").get("/").get_data(as_text=True)
    assert client_as(app, "office").get("/takedowns/").status_code == 403
    assert REASON not in client_as(app, "office").get(f"/check/{check_id}").get_data(as_text=True)


def test_marking_published_with_a_link_then_taking_it_down(app):
    check_id = signed_off_and_downloaded(app)
    office = client_as(app, "office")
    assert post(office, f"/check/{check_id}/published",
                {"channel": "website", "link": "https://school.example/news/sports"}).status_code == 302
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "website", "refused")
    comms = client_as(app, "comms")
    page = comms.get("/takedowns/").get_data(as_text=True)
    assert "https://school.example/news/sports" in page and "consent for website was refused" in page
    with register(app) as reg:
        ids = [t.publication.id for t in publications.takedowns(reg)]
    for pub_id in ids:
        assert post(comms, f"/takedowns/{pub_id}/done").status_code == 302
    assert "Nothing to take down" in comms.get("/takedowns/").get_data(as_text=True)
    assert "taken down by comms" in comms.get("/takedowns/").get_data(as_text=True)


def records(app) -> list[publications.Publication]:
    with register(app) as reg:
        return publications.publications(reg)


def test_a_plain_download_records_a_copy_downloaded_not_a_publication(app):
    check_id = signed_off_and_downloaded(app)
    out = records(app)
    assert sorted(p.channel for p in out) == sorted(CHANNELS)  # once per channel it is cleared for
    assert not any(p.published for p in out)
    office = client_as(app, "office")
    assert office.get(f"/check/{check_id}/download/safe").status_code == 200
    assert len(records(app)) == len(CHANNELS)  # downloading again: once per photo and channel
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "Not recorded as published" in page and "Copies downloaded, not marked published" in page


def test_a_download_confirmed_as_publishing_records_it_published_on_that_channel(app):
    check_id = signed_off_and_downloaded(app)
    office = client_as(app, "office")
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "I am publishing this on" in page and 'value="safe:website"' in page
    response = post(office, f"/check/{check_id}/download", {"copy": "safe:website"})
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    published = [p for p in records(app) if p.published]
    assert [(p.channel, p.how) for p in published] == [("website", "download")]
    assert "Published on website" in office.get(f"/check/{check_id}").get_data(as_text=True)


def test_a_download_to_publish_without_a_form_token_is_refused(app):
    check_id = signed_off_and_downloaded(app)
    office = client_as(app, "office")
    assert office.post(f"/check/{check_id}/download", data={"copy": "safe:website"}).status_code in (400, 403)
    assert not any(p.published for p in records(app))


def test_a_download_and_a_mark_as_published_are_one_row_on_the_takedown_list(app):
    check_id = signed_off_and_downloaded(app)
    office = client_as(app, "office")
    assert post(office, f"/check/{check_id}/published",
                {"channel": "website", "link": "https://school.example/news/1"}).status_code == 302
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "website", "withdrawn")
    with register(app) as reg:
        [item] = publications.takedowns(reg)
    assert item.publication.channel == "website" and item.words == "published; copies downloaded too"
    assert len(item.records) == 2 and item.link == "https://school.example/news/1"
    comms = client_as(app, "comms")
    listed = comms.get("/takedowns/").get_data(as_text=True)
    assert listed.count("Mark taken down") == 1 and "published; copies downloaded too" in listed
    assert "1 photo to take down" in comms.get("/").get_data(as_text=True)
    assert post(comms, f"/takedowns/{item.publication.id}/done").status_code == 302
    assert "Nothing to take down" in comms.get("/takedowns/").get_data(as_text=True)
    assert "to take down" not in comms.get("/").get_data(as_text=True)


def test_copies_downloaded_and_not_published_still_reach_the_takedown_list(app):
    signed_off_and_downloaded(app)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "press", "withdrawn")
    listed = client_as(app, "comms").get("/takedowns/").get_data(as_text=True)
    assert "copies downloaded, not marked published" in listed and "consent for press was withdrawn" in listed


def test_register_page_links_a_withdrawal_to_its_takedowns(app):
    signed_off_and_downloaded(app)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "press", "withdrawn")
    page = client_as(app, "admin").get("/register/?roll=all").get_data(as_text=True)
    assert f"/takedowns/?person={pupil_id(app)}&amp;channel=press" in page
    listed = client_as(app, "admin").get(f"/takedowns/?person={pupil_id(app)}&channel=press").get_data(as_text=True)
    assert "consent for press was withdrawn" in listed


def files_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_purge_leaves_no_stored_result_or_file_byte_holding_the_name(app):
    check_id = signed_off_and_downloaded(app)
    with register(app) as reg:
        reg.set_never_publish(pupil_id(app), REASON)
        reg.update_person(pupil_id(app), left_on=TODAY - dt.timedelta(days=400))
    data = Path(app.config["CONSENT_DATA"])
    assert LAST.encode() in files_under(data) and REASON.encode() in files_under(data)

    admin = client_as(app, "admin")
    before = (TODAY - dt.timedelta(days=30)).isoformat()
    assert post(admin, "/register/leavers", {"before": before, "confirm": "yes"}).status_code == 302

    everything = files_under(data)  # consent.db, consent.db-wal, previews, safe copies
    for trace in (LAST.encode(), FIRST.encode(), REASON.encode(), b"Xylophonic"):
        assert trace not in everything
    stored = row(app, check_id)
    assert LAST not in repr(stored)
    page = client_as(app, "senior").get(f"/check/{check_id}").get_data(as_text=True)
    assert LAST not in page and "removed from the register" in page


def test_a_batch_item_is_judged_again_when_its_job_is_shown(tmp_path):
    app = with_enrolled_pupil(make_app(tmp_path, BATCH_INLINE=True))
    comms = client_as(app, "comms")
    photo = fixture_dir("people", "test") / "obama1.jpg"
    job = job_id_of(send_zip(comms, {"hall/IMG_0007.jpg": photo.read_bytes()}))
    assert "IMG_0007.jpg" not in comms.get(f"/batch/{job}?show=block").get_data(as_text=True)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "press", "withdrawn")
    assert "IMG_0007.jpg" in comms.get(f"/batch/{job}?show=block").get_data(as_text=True)
    report = comms.get(f"/batch/{job}/report.csv").get_data(as_text=True)
    assert "consent withdrawn" in report
