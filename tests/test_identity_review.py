"""Telling children apart: a face that only looks like a pupil is never cleared until a senior
says who it is; the answer is audited and kept for the photo; a check restricted to some year
groups or classes leaves everybody else unknown.

A real register: "Harry Patel" (Year 7, 7B) enrolled from the people/train photos of one man,
and the people/test photo of the same man checked. The thresholds are set around the distance
that photo is measured at (never a number written here), so the face lands where each test
needs it: matched, or in the look-alike band.
"""

from __future__ import annotations

import dataclasses

import pytest

from consent.check import Analysis, Checker
from consent.register.view import load_view
from consent.register import Register
from consent.settings import DEFAULTS

from .conftest import copy_register, fixture_dir
from .web_helpers import PASSWORD, client_as, make_app, post

PUBLICATION = ("website", "social_media", "newsletter", "press")


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    """(register path, the test photo, its distance to Harry): Harry enrolled, every consent
    granted; Amy Lee in Year 8 (8C) with no face photo, so Year 8 exists."""
    from consent.images import file_hash
    from consent.vision import faces

    db = tmp_path_factory.mktemp("register") / "consent.db"
    with Register(db, user="test") as reg:
        harry = reg.add_person("P001", "Harry", "Patel", year_group="Year 7", form="7B")
        reg.record_consent(harry, "biometric", "granted")
        for channel in PUBLICATION:
            reg.record_consent(harry, channel, "granted")
        for photo in sorted((fixture_dir("people", "train") / "obama").iterdir()):
            encoding, quality = faces.enrolment_encoding(photo)
            reg.add_template(harry, encoding, file_hash(photo), quality)
        reg.add_person("P002", "Amy", "Lee", year_group="8", form="8C")
    photo = fixture_dir("people", "test") / "obama1.jpg"
    [face] = Checker(db, use_cache=False, kit_check=False, text_check=False).check(photo, "website").faces
    assert face.recognisable and face.distance is not None
    return db, photo, face.distance


@pytest.fixture
def db(enrolled, tmp_path):
    return copy_register(enrolled[0], tmp_path)


def band(distance: float):
    """Settings that put a face at ``distance`` beyond the match threshold, inside the look-alike band."""
    return dataclasses.replace(DEFAULTS, match_threshold=distance * 0.9, match_lookalike_threshold=distance * 1.1)


def matching(distance: float):
    """Settings that match a face at ``distance``."""
    return dataclasses.replace(DEFAULTS, match_threshold=distance * 1.1, match_lookalike_threshold=distance * 1.2)


def checker(db, settings) -> Checker:
    return Checker(db, settings, kit_check=False, text_check=False)


def answer(db, result, reply: str, by: str = "mrs.senior"):
    from consent.register import identities

    face = result.faces[0]
    with Register(db) as reg:
        identities.record(reg, result.sha256, face.box, face.suggested_id or face.person_id, reply, by=by,
                          photo="trip.jpg")


def test_a_face_that_only_looks_like_a_pupil_is_never_cleared_and_names_them_only_to_names_roles(enrolled, db):
    _, photo, distance = enrolled
    result = checker(db, band(distance)).check(photo, "website")
    [face] = result.faces
    assert face.match == "looks_like" and face.person_id is None
    assert face.suggested_name == "Harry Patel" and face.suggested_id is not None
    assert face.overall_state(["website"]) == "review"
    assert result.verdict == "review"
    [reason] = [r for r in result.reasons if r.code == "looks_like"]
    assert reason.severity == "review" and reason.faces == [0]
    assert reason.message == ("a face looks like a pupil in the register: a senior colleague must "
                              "confirm who it is")
    assert reason.name_detail == "face 1 looks like Harry Patel: check who this is"
    # as office and comms see it: amber, no name anywhere
    office = result.to_json(names=False)
    assert office["faces"][0]["match"] == "looks_like" and office["faces"][0]["state"] == "review"
    assert "suggested_id" not in office["faces"][0]
    assert "Harry" not in str(office) and "Patel" not in str(office)
    senior = result.to_json(names=True)
    assert senior["faces"][0]["suggested_name"] == "Harry Patel" and senior["faces"][0]["person_id"] is None
    # the same face matched would be cleared: only the look-alike band holds it back
    assert checker(db, matching(distance)).check(photo, "website").faces[0].overall_state(["website"]) == "cleared"


def test_a_confirmation_is_audited_and_applies_to_the_cached_analysis_when_the_photo_is_checked_again(enrolled, db):
    _, photo, distance = enrolled
    check = checker(db, band(distance))
    first = check.check(photo, "website")
    answer(db, first, "yes")
    again = check.check(photo, "website")
    assert again.timings.get("cached") == 1.0  # no new analysis: the answer applies on top
    [face] = again.faces
    assert face.match == "matched" and face.person_name == "Harry Patel" and face.answer == "yes"
    assert face.overall_state(["website"]) == "cleared"
    assert "looks_like" not in [r.code for r in again.reasons]
    with Register(db) as reg:
        [entry] = reg.audit(action="identity")
        assert entry.action == "identity.confirmed" and entry.by == "mrs.senior"
        assert entry.person_label.startswith("Harry Patel")
        assert entry.after["answer"] == "yes" and entry.after["photo"] == "trip.jpg"
        assert entry.after["sha256"] == first.sha256 and entry.after["face"] == list(first.faces[0].box)


def test_a_confirmation_says_who_it_is_and_consent_still_decides(enrolled, db):
    _, photo, distance = enrolled
    with Register(db) as reg:
        reg.record_consent(reg.find_person("P001"), "website", "withdrawn")
    check = checker(db, band(distance))
    answer(db, check.check(photo, "website"), "yes")
    result = check.check(photo, "website")
    assert result.faces[0].match == "matched"
    assert result.verdict == "block" and "no_consent" in [r.code for r in result.reasons]


def test_a_rejected_look_alike_is_unknown_when_the_photo_is_checked_again(enrolled, db):
    _, photo, distance = enrolled
    check = checker(db, band(distance))
    answer(db, check.check(photo, "website"), "no")
    [face] = (result := check.check(photo, "website")).faces
    assert face.match == "unknown" and face.person_id is None and face.answer == "no"
    assert "unrecognised_face" in [r.code for r in result.reasons]
    assert face.overall_state(["website"]) == "review" and result.verdict == "review"
    with Register(db) as reg:
        assert [e.action for e in reg.audit(action="identity")] == ["identity.rejected"]


def test_a_check_restricted_to_another_year_leaves_the_pupil_unknown(enrolled, db):
    _, photo, distance = enrolled
    check = checker(db, matching(distance))
    year8 = check.check(photo, "website", groups=["Year 8"])
    assert year8.error is None and year8.faces[0].match == "unknown"
    assert year8.compared_with == {"years": ["8"], "forms": []}
    assert "compared with Year 8 only (and staff)" in year8.notes
    year7 = check.check(photo, "website", groups=["7"])
    assert year7.faces[0].match == "matched" and year7.faces[0].person_name == "Harry Patel"
    assert check.check(photo, "website", groups=["7b"]).faces[0].match == "matched"
    # the restriction is in the analysis cache key: unrestricted, it is matched again
    assert check.check(photo, "website").faces[0].match == "matched"
    assert check.check(photo, "website", groups=["8"]).faces[0].match == "unknown"


def test_a_year_group_nobody_has_is_refused_naming_it_and_those_that_exist(enrolled, db):
    _, photo, _ = enrolled
    result = checker(db, DEFAULTS).check(photo, "website", groups=["7", "Year 9"])
    assert result.error_code == "unknown_group"
    assert result.error == ("nobody on roll is in year group or class “Year 9”; the register has "
                            "year groups 7, 8; classes 7B, 8C")


def test_the_command_line_refuses_an_unknown_class_before_checking(enrolled, db):
    from click.testing import CliRunner

    from consent.cli import main

    _, photo, _ = enrolled
    out = CliRunner().invoke(main, ["check", "--db", str(db), "--group", "7Z", str(photo)])
    assert out.exit_code == 1
    assert "nobody on roll is in year group or class “7Z”" in out.output
    assert "Traceback" not in out.output


# --- the web app --------------------------------------------------------------------------


@pytest.fixture
def web_app(enrolled, tmp_path):
    """The app over a copy of the enrolled register, with the look-alike band around the photo."""
    src, photo, distance = enrolled
    (tmp_path / "data").mkdir()
    copy_register(src, tmp_path / "data")
    app = make_app(tmp_path, CONSENT_SETTINGS=dataclasses.replace(band(distance), text_check=False))
    app.config["TEST_PHOTO"] = photo
    return app


def upload(app, role: str, **fields):
    import io

    photo = app.config["TEST_PHOTO"]
    return post(client_as(app, role), "/check/upload", {
        "photo": (io.BytesIO(photo.read_bytes()), "trip.jpg"), "channel": "website", "caption": "", **fields})


def _checked(app, role: str = "admin", **fields) -> str:
    """Check the test photo on the check page as ``role``; returns the check id."""
    from web.core.db import connect

    response = upload(app, role, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    [row] = list(connect(app.config["CONSENT_DB"])["web_checks"].rows)
    return row["id"]


def test_only_seniors_and_admins_may_say_who_a_face_is(web_app):
    check_id = _checked(web_app)
    for role in ("office", "comms"):
        response = post(client_as(web_app, role), f"/review/{check_id}/faces/1/identity", {"answer": "yes"})
        assert response.status_code == 403
    page = client_as(web_app, "admin").get(f"/check/{check_id}").get_data(as_text=True)
    assert "Yes, this is Harry Patel" in page
    with Register(web_app.config["CONSENT_DB"]) as reg:
        assert reg.audit(action="identity") == []


def test_a_senior_confirms_a_face_in_one_click_and_the_page_shows_it_matched(web_app):
    check_id = _checked(web_app)
    senior = client_as(web_app, "senior")
    page = senior.get(f"/check/{check_id}").get_data(as_text=True)
    assert "looks like Harry Patel: check who this is" in page and "swatch-review" in page
    response = post(senior, f"/review/{check_id}/faces/1/identity", {"answer": "yes"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/check/{check_id}")
    page = senior.get(f"/check/{check_id}").get_data(as_text=True)
    assert "Harry Patel: consent held" in page and "a senior confirmed who this is" in page
    assert "Yes, this is Harry Patel" not in page
    with Register(web_app.config["CONSENT_DB"]) as reg:
        [entry] = reg.audit(action="identity")
        assert entry.by == "senior" and entry.after["photo"] == "trip.jpg"


def test_office_staff_see_a_look_alike_as_amber_without_the_name(web_app):
    check_id = _checked(web_app, role="office")
    page = client_as(web_app, "office").get(f"/check/{check_id}").get_data(as_text=True)
    assert "looks like a pupil in the register: a senior colleague must confirm who it is" in page
    assert "swatch-review" in page and "Harry" not in page and "Yes, this is" not in page


def test_the_check_page_refuses_a_year_group_nobody_has(web_app):
    response = upload(web_app, "office", groups="7, 12")
    assert response.status_code == 400
    assert "nobody on roll is in year group or class “12”" in response.get_data(as_text=True)


def test_the_check_page_shows_who_faces_were_compared_with(web_app):
    check_id = _checked(web_app, role="office", groups="8C")
    page = client_as(web_app, "office").get(f"/check/{check_id}").get_data(as_text=True)
    assert "compared with class 8C only (and staff)" in page
    assert "not recognised: check who this is" in page  # not a look-alike of a pupil in 7B


def test_purging_a_leaver_deletes_the_answers_about_them(tmp_path):
    import datetime as dt

    from consent.register import identities
    from consent.register.housekeeping import purge_leavers

    with Register(tmp_path / "consent.db", user="test") as reg:
        leaver = reg.add_person("L001", "Siân", "Llewellyn", left_on=dt.date.today() - dt.timedelta(days=400))
        stays = reg.add_person("P001", "Harry", "Patel", year_group="7")
        identities.record(reg, "sha-a", (10, 90, 80, 20), leaver.id, "yes", by="senior", photo="a.jpg")
        identities.record(reg, "sha-b", (10, 90, 80, 20), stays.id, "no", by="senior", photo="b.jpg")
        purge_leavers(reg, dt.date.today() - dt.timedelta(days=30), by="dpo")
        assert identities.answers(reg) == {"sha-b": {(10, 90, 80, 20): (stays.id, "no")}}
        assert all(e.redacted for e in reg.audit(person=leaver.id)[:-1])


def test_a_batch_restricted_to_another_year_leaves_the_pupil_unknown_and_an_unknown_class_is_refused(web_app):
    import io

    from web.check import checked_photos
    from web.core.db import connect

    web_app.config["BATCH_INLINE"] = True
    photo = web_app.config["TEST_PHOTO"].read_bytes()
    comms = client_as(web_app, "comms")
    refused = post(comms, "/batch/", {"photos": [(io.BytesIO(photo), "trip.jpg")], "channel": "all",
                                      "groups": "7Z"})
    assert refused.status_code == 400
    assert "Nobody on roll is in year group or class “7Z”" in refused.get_data(as_text=True)
    assert not list(connect(web_app.config["CONSENT_DB"])["web_jobs"].rows)
    response = post(comms, "/batch/", {"photos": [(io.BytesIO(photo), "trip.jpg")], "channel": "all",
                                       "groups": "Year 8"})
    assert response.status_code in (200, 302)
    db = connect(web_app.config["CONSENT_DB"])
    [row] = list(db["web_checks"].rows)
    data = checked_photos.get(db, row["id"])["data"]
    assert data["faces"][0]["match"] == "unknown" and data["compared_with"] == {"years": ["8"], "forms": []}


def test_a_face_that_looks_like_a_never_publish_pupil_is_for_the_safeguarding_lead_alone(web_app):
    """Not matched, so the never-publish rule does not fire on it; but only the designated
    safeguarding lead may say who it is or sign the photo off, and no blurred copy clears it:
    a senior saying "no, not them" must not turn a looked-after child into a stranger."""
    from web.accounts import accounts
    from web.check import checked_photos
    from web.core.db import connect

    with Register(web_app.config["CONSENT_DB"]) as reg:
        reg.set_never_publish(reg.find_person("P001"), "looked after")
    check_id = _checked(web_app, "office")
    row = checked_photos.get(connect(web_app.config["CONSENT_DB"]), check_id)
    [face] = row["data"]["faces"]
    assert face["match"] == "looks_like" and face["never_publish"]
    assert checked_photos.needs_safeguarding_lead(row) and checked_photos.blurred_channels(row) == []
    refused = post(client_as(web_app, "admin"), f"/review/{check_id}/faces/1/identity", {"answer": "no"})
    assert refused.status_code == 403  # an admin who is not the lead may not say either
    with Register(web_app.config["CONSENT_DB"]) as reg:
        assert reg.audit(action="identity") == []
    db = connect(web_app.config["CONSENT_DB"])
    lead = accounts.create_user(db, "dsl", PASSWORD, ["senior"])
    accounts.set_safeguarding_lead(db, lead.id, True)
    db.conn.close()
    response = post(client_as(web_app, "dsl"), f"/review/{check_id}/faces/1/identity", {"answer": "yes"})
    assert response.status_code == 302


def test_a_face_too_close_to_call_between_a_pupil_and_a_never_publish_pupil_is_for_the_lead(enrolled, db):
    """Ambiguous between two people, one of whom must never be published: the face carries the
    flag (only the safeguarding lead decides; no blurred copy clears it)."""
    from consent.register.matching import Match
    from consent.check import judge, take_match
    from consent.results import Face

    with Register(db) as reg:
        amy = reg.find_person("P002")
        reg.set_never_publish(amy, "court order")
        harry = reg.find_person("P001")
        view = load_view(reg)
    face = Face(index=0, box=(10, 60, 60, 10), height_px=50, identifiable=True, recognisable=True, match="unknown")
    take_match(face, Match(None, 0.5, 0.02, "ambiguous", (harry.id, amy.id)))
    analysis = Analysis(sha256="ab" * 32, format="JPEG", width=100, height=100, faces=[face])
    [judged] = judge(Analysis.from_json(analysis.to_json()), view, list(PUBLICATION), path="p.jpg", name="p.jpg").faces
    assert judged.match == "ambiguous" and judged.never_publish and judged.candidate_ids == (harry.id, amy.id)
    take_match(face, Match(None, 0.5, 0.02, "ambiguous", (harry.id,)))
    [judged] = judge(analysis, view, list(PUBLICATION), path="p.jpg", name="p.jpg").faces
    assert not judged.never_publish
