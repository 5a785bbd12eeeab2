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
    """Barack Obama enrolled (website consent only, never-publish set); Alex Rivers and Quinn
    Zzyzx on roll."""
    from consent.register import enrolment

    photo = fixture_dir("people", "train", "obama") / "obama.jpg"
    app = make_app(tmp_path_factory.mktemp("roles"))
    with Register(app.config["CONSENT_DB"], user="admin") as r:
        obama = r.add_person("A100", "Barack", "Obama", year_group="6")
        r.add_person("A200", "Alex", "Rivers", year_group="6")
        r.add_person("A300", "Quinn", "Zzyzx", year_group="5")
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
    # issue 27: a name that is nobody's on roll reads and judges the same (it was no reason at
    # all, so "found" vs "not found" told office who is on roll)
    assert _caption_reason(nobody)[0]["message"] == _caption_reason(on_roll)[0]["message"]
    assert "names a person; check it is not a pupil in the photo" in _caption_reason(nobody)[0]["message"]
    assert nobody["channels"] == on_roll["channels"] == pictured["channels"]
    assert [r["code"] for r in nobody["reasons"]].count("caption_names_someone") == 0


def test_for_office_names_on_roll_or_not_read_alike_and_everyday_captions_are_clear(app):
    """"Zzyzx" (a pupil's surname, on roll) and "Joseph Bidden" (nobody's): the same words."""
    answers = {c: _api(app, "office", c) for c in ("Zzyzx at sports day", "Joseph Bidden at sports day",
                                                    "Sports Day at the school")}
    found, made_up, plain = answers.values()
    assert _caption_reason(found)[0]["message"] == _caption_reason(made_up)[0]["message"]
    assert found["channels"] == made_up["channels"] and found["verdict"] == made_up["verdict"]
    assert not _caption_reason(plain)
    # a senior still sees the truth: a pupil on roll is named, the other name is nobody's
    senior = {c: _api(app, "senior", c) for c in ("Zzyzx at sports day", "Joseph Bidden at sports day")}
    assert "on roll" in _caption_reason(senior["Zzyzx at sports day"])[0]["message"]
    assert not _caption_reason(senior["Joseph Bidden at sports day"])


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


def _jpeg(seed: int) -> bytes:
    """A small photo; a different ``seed`` gives different bytes (a byte changed)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (96, 64), (seed % 256, 90, 140)).save(out, "JPEG")
    return out.getvalue()


def _upload(client, data: bytes, file_name: str, caption: str = ""):
    return client.post("/check/upload", data={"photo": (io.BytesIO(data), file_name), "caption": caption},
                       headers={"X-CSRF-Token": csrf(client), "X-Requested-With": "fetch"})


def test_caption_tries_are_limited_per_person_not_per_photo(tmp_path):
    """Issue 27 (b): changing one byte of the photo reset the five-captions-per-photo limit."""
    app = make_app(tmp_path)
    office = client_as(app, "office")
    limit = app.config["CONSENT_SETTINGS"].caption_tries_per_hour
    names = ["Ann", "Ben", "Cal", "Dee", "Eve", "Fay", "Gus", "Hal"]
    statuses = [_upload(office, _jpeg(i), "trip.jpg", f"{names[i]} runs").status_code for i in range(limit + 1)]
    assert statuses == [200] * limit + [429]
    # the same caption again is not a new try; everyday captions are not tries at all
    assert _upload(office, _jpeg(50), "trip.jpg", "Ann runs").status_code == 200
    assert _upload(office, _jpeg(51), "trip.jpg", "Sports Day at the school").status_code == 200
    # a senior sees names anyway: no limit
    assert _upload(client_as(app, "admin"), _jpeg(53), "trip.jpg", "Hal runs").status_code == 200


def test_file_names_count_as_tries_too(tmp_path):
    """Issue 27 (c): 30 names tried as file names confirmed 3 pupils; they were never limited."""
    from web.audit.audit_log import events

    app = make_app(tmp_path)
    office = client_as(app, "office")
    limit = app.config["CONSENT_SETTINGS"].caption_tries_per_hour
    tried = ["joseph_bidden.jpg", "Zara-Quill.jpg", "amira khan.jpg", "Tomasz.jpg", "niamh_o_neill.jpg",
             "Priya S.jpg", "kai.jpg"][: limit + 1]
    statuses = [_upload(office, _jpeg(i), name).status_code for i, name in enumerate(tried)]
    assert statuses == [200] * limit + [429]
    # a camera's file names hold no name: checking many photos is not limited
    assert all(_upload(office, _jpeg(100 + i), f"IMG_{1000 + i}.JPG").status_code == 200 for i in range(3))
    log = events(connect(app.config["CONSENT_DB"]), action="caption")
    assert "bidden" not in str(log).lower()  # tries are audited as hashes, never the names
