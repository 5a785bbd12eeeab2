"""Who may release what: the designated safeguarding lead alone decides photos holding someone
who must never be published, and an approval clears only what the approver saw.

Real app, real register; each photo is a stored check written the way the web app writes one
(face boxes and person ids, judged again against the register whenever it is shown), so no
face model runs. The full path from a real photo is in tests/test_web_withdrawal.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from PIL import Image

from consent.check import Analysis
from consent.register import Register
from consent.register.view import load_view
from consent.rejudge import StoredCheck, day_words, reason_codes
from consent.results import Face
from tests.web_helpers import PASSWORD, client_as, make_app, post
from web.accounts import accounts
from web.audit import audit_log
from web.check import checked_photos
from web.core.db import connect

CHANNELS = ["website", "social_media"]
PUPILS = [("S1", "Perpetua", "Quarrington"), ("S2", "Ambrose", "Winterbottom")]
REASON = "Zanzibar placement order"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    with Register(app.config["CONSENT_DB"], user="admin") as reg:
        for mis, first, last in PUPILS:
            pupil = reg.add_person(mis, first, last, year_group="7")
            for channel in CHANNELS:
                reg.record_consent(pupil.id, channel, "granted")
    return app


def with_lead(app) -> None:
    """A senior colleague, ``dsl``, marked as designated safeguarding lead."""
    db = connect(app.config["CONSENT_DB"])
    user = accounts.create_user(db, "dsl", PASSWORD, ["senior"], display_name="Dee Lead")
    accounts.set_safeguarding_lead(db, user.id, True)
    db.conn.close()


def register(app) -> Register:
    return Register(app.config["CONSENT_DB"], user="admin")


def pupil(app, n: int) -> int:
    with register(app) as reg:
        return reg.find_person(PUPILS[n][0]).id


def stored_photo(app, check_id: str, unknown_face: bool = False) -> None:
    """Office checked a photo of both pupils (and, with ``unknown_face``, someone the register
    does not know: needs sign-off), for website and social media."""
    faces = [Face(index=i, box=(1000, 700 + 600 * i, 1300, 400 + 600 * i), height_px=300, identifiable=True,
                  recognisable=True, match="matched", person_id=pupil(app, i), distance=0.35) for i in range(2)]
    if unknown_face:
        faces.append(Face(index=2, box=(1000, 1900, 1300, 1600), height_px=300, identifiable=True,
                          recognisable=True, match="unknown"))
    stored = StoredCheck(analysis=Analysis(sha256="cd" * 32, format="JPEG", width=4000, height=3000, faces=faces),
                         channels=list(CHANNELS), name=f"{check_id}.jpg")
    with register(app) as reg:
        result = stored.judge(load_view(reg))
    stored.verdicts = {c: v.verdict for c, v in result.verdicts.items()}
    stored.codes = reason_codes(result)
    safe = app.config["CONSENT_DATA"] + f"/{check_id}-safe.jpg"
    Image.new("RGB", (64, 48), "green").save(safe)
    db = connect(app.config["CONSENT_DB"])
    office = accounts.find_user(db, "office")
    db["web_checks"].insert({
        "id": check_id, "user_id": office.id, "created_at": time.time(), "state": "done",
        "name": f"{check_id}.jpg", "channels": json.dumps(CHANNELS), "caption": "", "verdict": result.verdict,
        "summary": result.summary(), "result": None, "safe_path": safe, "expires_at": time.time() + 3600,
        "stored": json.dumps({"check": stored.to_json(), "blurred": None}),
    }, alter=True)
    db.conn.close()


def sent_for_sign_off(app, check_id: str, **kwargs) -> None:
    stored_photo(app, check_id, **kwargs)
    response = post(client_as(app, "office"), f"/check/{check_id}/review", {"note": "for the website"})
    assert response.status_code == 302
    assert row(app, check_id)["review_state"] == "pending"


def row(app, check_id: str) -> dict:
    return checked_photos.get(connect(app.config["CONSENT_DB"]), check_id)


def never_publish(app, n: int) -> None:
    with register(app) as reg:
        reg.set_never_publish(pupil(app, n), REASON)


# --- the designated safeguarding lead ----------------------------------------------------------


def test_a_senior_who_is_not_safeguarding_lead_cannot_release_a_never_publish_photo(app):
    with_lead(app)
    never_publish(app, 0)
    sent_for_sign_off(app, "np1")
    senior = client_as(app, "senior")

    queue = senior.get("/review/").get_data(as_text=True)
    assert "waiting for the designated safeguarding lead" in queue and "np1.jpg" in queue
    assert "/review/np1/approve" not in queue and "Dee Lead" in queue  # no form; who decides
    assert "waiting for your sign-off" not in senior.get("/").get_data(as_text=True)  # header count

    refused = post(senior, "/review/np1/approve", {"release": CHANNELS, "note": "I checked with the family"})
    assert refused.status_code == 403
    text = refused.get_data(as_text=True)
    assert "Only the designated safeguarding lead can decide on np1.jpg" in text and "Ask Dee Lead" in text
    assert post(senior, "/review/np1/reject", {"note": "no"}).status_code == 403
    assert post(client_as(app, "admin"), "/review/np1/approve",
                {"release": CHANNELS, "note": "admin, not the lead"}).status_code == 403
    assert row(app, "np1")["review_state"] == "pending"
    assert senior.get("/check/np1").status_code == 403  # not on the page either

    office_page = client_as(app, "office").get("/check/np1").get_data(as_text=True)
    assert "Waiting for the designated safeguarding lead" in office_page
    assert client_as(app, "office").get("/check/np1/download/safe?channel=website").status_code == 403


def test_the_safeguarding_lead_sees_and_releases_a_never_publish_photo(app):
    with_lead(app)
    never_publish(app, 0)
    sent_for_sign_off(app, "np2")
    lead = client_as(app, "dsl")
    assert "1 photo waiting for your sign-off" in lead.get("/").get_data(as_text=True)
    queue = lead.get("/review/").get_data(as_text=True)
    assert "/review/np2/approve" in queue and "as designated safeguarding lead you may release it" in queue

    response = post(lead, "/review/np2/approve", {"release": ["website"], "note": "court allows the school website"})
    assert response.status_code == 302
    decided = row(app, "np2")
    assert decided["review_state"] == "approved" and checked_photos.cleared_channels(decided) == ["website"]
    office = client_as(app, "office")
    assert office.get("/check/np2/download/safe?channel=website").status_code == 200
    assert office.get("/check/np2/download/safe?channel=social_media").status_code == 403


def test_with_no_safeguarding_lead_the_admin_and_the_sign_off_page_say_who_to_ask(app):
    users_page = client_as(app, "admin").get("/admin/users/").get_data(as_text=True)
    assert "No designated safeguarding lead" in users_page
    never_publish(app, 0)
    sent_for_sign_off(app, "np3")
    senior = client_as(app, "senior")
    queue = senior.get("/review/").get_data(as_text=True)
    assert "Nobody is marked as designated safeguarding lead yet" in queue and "Admin User" in queue
    refused = post(senior, "/review/np3/approve", {"release": CHANNELS, "note": "n"})
    assert refused.status_code == 403 and "ask an admin (Admin User)" in refused.get_data(as_text=True)


def test_marking_a_safeguarding_lead_is_for_admins_only_and_audited(app):
    db = connect(app.config["CONSENT_DB"])
    senior_id = accounts.find_user(db, "senior").id
    office_id = accounts.find_user(db, "office").id
    assert post(client_as(app, "senior"), f"/admin/users/{senior_id}/safeguarding-lead", {"lead": "1"}).status_code == 403
    assert not accounts.get_user(db, senior_id).safeguarding_lead

    admin = client_as(app, "admin")
    before = time.time()
    assert post(admin, f"/admin/users/{senior_id}/safeguarding-lead", {"lead": "1"}).status_code == 302
    assert accounts.get_user(db, senior_id).safeguarding_lead
    assert "No designated safeguarding lead" not in admin.get("/admin/users/").get_data(as_text=True)
    # someone who cannot sign photos off cannot be the lead
    refused = post(admin, f"/admin/users/{office_id}/safeguarding-lead", {"lead": "1"})
    assert refused.status_code == 400 and "give them the senior role first" in refused.get_data(as_text=True)
    assert post(admin, f"/admin/users/{senior_id}/safeguarding-lead", {"lead": "0"}).status_code == 302
    assert not accounts.get_user(db, senior_id).safeguarding_lead

    [set_] = audit_log.events(db, action="account.safeguarding_lead_set")
    [removed] = audit_log.events(db, action="account.safeguarding_lead_removed")
    for event in (set_, removed):
        assert event["by_user"] == "admin" and event["detail"]["user"] == "senior" and event["at"] >= before


# --- an approval covers what the approver saw ----------------------------------------------------


def test_an_approval_stops_clearing_the_photo_after_a_new_never_publish_flag(app):
    with_lead(app)
    never_publish(app, 0)
    sent_for_sign_off(app, "np4")
    post(client_as(app, "dsl"), "/review/np4/approve", {"release": ["website"], "note": "court allows it"})
    assert row(app, "np4")["review_state"] == "approved"

    never_publish(app, 1)  # the verdict was "do not publish" already: the new flag must still count
    office = client_as(app, "office")
    page = office.get("/check/np4").get_data(as_text=True)
    assert "The register changed since it was approved" in page and "must never be published" in page
    assert "Download safe copy" not in page
    assert office.get("/check/np4/download/safe?channel=website").status_code == 403
    returned = row(app, "np4")
    assert returned["review_state"] == "pending" and checked_photos.cleared_channels(returned) == []
    assert audit_log.events(connect(app.config["CONSENT_DB"]), action="review.returned")


def test_no_sign_off_releases_a_missing_consent_and_an_approval_stops_after_a_withdrawal(app):
    with register(app) as reg:
        reg.record_consent(pupil(app, 0), "website", "withdrawn")
    sent_for_sign_off(app, "w1")  # website: "do not publish" (the first pupil has no consent)
    senior = client_as(app, "senior")
    queue = senior.get("/review/").get_data(as_text=True)
    assert "Sign-off cannot release website: record the written consent in the register" in queue
    refused = post(senior, "/review/w1/approve", {"release": ["website"], "note": "signed form arrived today"})
    assert row(app, "w1")["review_state"] == "pending"  # a parent's consent is recorded, not signed off
    page = senior.get(refused.headers["Location"]).get_data(as_text=True)
    assert "w1.jpg: Sign-off cannot release website: record the written consent in the register" in page
    with register(app) as reg:  # the cure: the consent recorded
        reg.record_consent(pupil(app, 0), "website", "granted")
    post(senior, "/review/w1/approve", {"note": "a group of two is fine here"})
    assert checked_photos.cleared_channels(row(app, "w1")) == ["website", "social_media"]

    with register(app) as reg:
        reg.record_consent(pupil(app, 1), "website", "withdrawn")
    returned = row(app, "w1")
    assert returned["review_state"] == "pending" and checked_photos.cleared_channels(returned) == []
    sentence = f"consent for website was withdrawn on {day_words(dt.date.today())}"
    assert sentence in client_as(app, "office").get("/check/w1").get_data(as_text=True)


def test_an_approval_made_for_website_does_not_clear_social_media(app):
    with register(app) as reg:
        reg.record_consent(pupil(app, 0), "social_media", "refused")
    sent_for_sign_off(app, "s1", unknown_face=True)  # website: needs sign-off; social media: do not publish
    post(client_as(app, "senior"), "/review/s1/approve", {"note": "fine for the website"})
    office = client_as(app, "office")
    assert office.get("/check/s1/download/safe?channel=website").status_code == 200
    assert office.get("/check/s1/download/safe?channel=social_media").status_code == 403

    with register(app) as reg:
        reg.record_consent(pupil(app, 0), "social_media", "granted")  # now only the unknown face
    now = row(app, "s1")
    assert now["review_state"] == "approved" and not now["changes"]
    assert checked_photos.cleared_channels(now) == ["website"]
    assert office.get("/check/s1/download/safe?channel=social_media").status_code == 403
