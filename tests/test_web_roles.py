"""What each role may learn from a check: the API tells a role no more than its web page, and
captions cannot be used to ask the register who is pictured or on roll."""

from __future__ import annotations

import io

import pytest

from consent.register import Register
from web.accounts import accounts
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.web_helpers import client_as, csrf, make_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Barack Obama enrolled (website consent only, never-publish set); Alex Rivers on roll."""
    from consent.register import enrolment

    photo = fixture_dir("people", "train", "obama") / "obama.jpg"
    app = make_app(tmp_path_factory.mktemp("roles"))
    with Register(app.config["CONSENT_DB"], user="admin") as r:
        obama = r.add_person("A100", "Barack", "Obama", year_group="6")
        r.add_person("A200", "Alex", "Rivers", year_group="6")
        r.record_consent(obama.id, "website", "granted")
        r.record_consent(obama.id, "social_media", "refused")
        r.record_consent(obama.id, "biometric", "granted")
        enrolment.enrol(r, obama.id, [photo])
        r.set_never_publish(obama.id, "court order")
    return app


def _token(app, role):
    db = connect(app.config["CONSENT_DB"])
    user = accounts.find_user(db, role)
    if not user.has("office"):
        accounts.set_roles(db, user.id, sorted(user.roles | {"office"}))
    return accounts.create_api_token(db, user.id, "test")


def _api(app, role, caption=""):
    photo = fixture_dir("people", "test") / "obama1.jpg"
    response = app.test_client().post(
        "/api/check", data={"file": (io.BytesIO(photo.read_bytes()), "photo.jpg"), "caption": caption},
        headers={"Authorization": f"Bearer {_token(app, role)}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_an_office_token_learns_no_more_than_the_office_page_shows(app):
    body = _api(app, "office")
    face = next(f for f in body["faces"] if f["match"] == "matched")
    for hidden in ("never_publish", "consent", "role", "person_name", "person_id", "distance"):
        assert hidden not in face, hidden
    assert face["state"] == "no_consent"
    assert all("admin_detail" not in r for r in body["reasons"])
    assert "court order" not in str(body)


def test_a_senior_token_still_sees_who_and_why(app):
    face = next(f for f in _api(app, "senior")["faces"] if f["match"] == "matched")
    assert face["person_name"] == "Barack Obama" and face["consent"]["social_media"] == "refused"


def _caption_reason(body):
    return [r for r in body["reasons"] if r["code"] == "name_in_caption"]


def test_for_office_a_pictured_name_and_a_name_on_roll_read_the_same(app):
    pictured, on_roll, nobody = (_api(app, "office", c) for c in ("Barack at sports day", "Alex at sports day",
                                                                     "Zebedee at sports day"))
    assert _caption_reason(pictured) and _caption_reason(on_roll)
    assert _caption_reason(pictured)[0]["message"] == _caption_reason(on_roll)[0]["message"]
    assert "caption" in _caption_reason(on_roll)[0]["message"]
    assert _caption_reason(pictured)[0]["severity"] == _caption_reason(on_roll)[0]["severity"] == "block"
    assert pictured["channels"]["website"]["verdict"] == on_roll["channels"]["website"]["verdict"]
    assert "names 1 pupil" not in str(pictured) and "on roll" not in str(on_roll)
    assert not _caption_reason(nobody)


def test_a_senior_is_still_told_whether_the_named_pupil_is_pictured(app):
    assert "in the photo" in _caption_reason(_api(app, "senior", "Barack at sports day"))[0]["message"]


def test_trying_caption_after_caption_on_one_photo_is_limited_and_audited(tmp_path):
    from web.audit.audit_log import events

    app = make_app(tmp_path)
    office = client_as(app, "office")
    photo = fixture_dir("people", "test") / "obama1.jpg"
    limit = app.config["CONSENT_SETTINGS"].caption_tries_per_hour
    statuses = []
    for name in ["Ann", "Ben", "Cal", "Dee", "Eve", "Fay", "Gus"][: limit + 1]:
        response = office.post(
            "/check/upload", data={"photo": (io.BytesIO(photo.read_bytes()), "p.jpg"), "caption": f"{name} runs"},
            headers={"X-CSRF-Token": csrf(office), "X-Requested-With": "fetch"},
        )
        statuses.append(response.status_code)
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429
    assert "different captions" in response.get_json()["error"]["message"]
    log = events(connect(app.config["CONSENT_DB"]), action="caption")
    assert len([e for e in log if e["action"] == "caption.tried"]) == limit
    assert any(e["action"] == "caption.refused" for e in log)
