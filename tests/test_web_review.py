"""The sign-off queue: a photo that needs review, sent by office, decided by a senior."""

from __future__ import annotations

import pytest

from web.audit import audit_log
from web.check import checked_photos
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.test_web_check import upload
from tests.web_helpers import client_as, make_app, post


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """An app with one group photo of unregistered people, checked by the office user."""
    app = make_app(tmp_path_factory.mktemp("review"))
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    office = client_as(app, "office")
    assert upload(office, photo.read_bytes(), photo.name).status_code == 200
    check_id = next(connect(app.config["CONSENT_DB"])["web_checks"].rows)["id"]
    return app, check_id


def _row(app, check_id):
    return checked_photos.get(connect(app.config["CONSENT_DB"]), check_id)


def _reset(app, check_id):
    connect(app.config["CONSENT_DB"])["web_checks"].update(
        check_id, {"review_state": None, "reviewed_by": None, "review_note": None}
    )


def test_photo_needing_review_is_sent_approved_and_its_safe_copy_becomes_downloadable(checked):
    app, check_id = checked
    _reset(app, check_id)
    office = client_as(app, "office")
    assert office.get(f"/check/{check_id}/download/safe").status_code == 403
    assert post(office, f"/check/{check_id}/review", {"note": "for the newsletter"}).status_code == 302
    assert _row(app, check_id)["review_state"] == "pending"

    senior = client_as(app, "senior")
    queue = senior.get("/review/").get_data(as_text=True)
    assert "obama_and_biden.jpg" in queue and "for the newsletter" in queue
    assert "not recognised in the register" in queue  # the reasons are shown
    assert post(senior, f"/review/{check_id}/approve", {"note": "parents asked; fine"}).status_code == 302

    assert _row(app, check_id)["review_state"] == "approved"
    download = office.get(f"/check/{check_id}/download/safe")
    assert download.status_code == 200 and download.mimetype == "image/jpeg"
    event = audit_log.events(connect(app.config["CONSENT_DB"]), action="review.approved")[0]
    assert event["by_user"] == "senior" and event["check_id"] == check_id
    assert event["detail"]["note"] == "parents asked; fine"


def test_rejection_needs_a_note_and_is_logged(checked):
    app, check_id = checked
    _reset(app, check_id)
    post(client_as(app, "office"), f"/check/{check_id}/review")
    senior = client_as(app, "senior")
    post(senior, f"/review/{check_id}/reject", {"note": ""})
    assert _row(app, check_id)["review_state"] == "pending"
    post(senior, f"/review/{check_id}/reject", {"note": "a pupil at the back is not known"})
    assert _row(app, check_id)["review_state"] == "rejected"
    assert client_as(app, "office").get(f"/check/{check_id}/download/safe").status_code == 403
    assert audit_log.events(connect(app.config["CONSENT_DB"]), action="review.rejected")


def test_a_photo_cannot_be_sent_twice(checked):
    app, check_id = checked
    _reset(app, check_id)
    office = client_as(app, "office")
    post(office, f"/check/{check_id}/review")
    post(office, f"/check/{check_id}/review", {"note": "again"})
    assert _row(app, check_id)["review_request_note"] == ""


@pytest.mark.parametrize("role", ["office", "comms"])
def test_sign_off_is_refused_to_roles_other_than_senior(checked, role):
    app, check_id = checked
    _reset(app, check_id)
    post(client_as(app, "office"), f"/check/{check_id}/review")
    client = client_as(app, role)
    assert client.get("/review/").status_code == 403
    assert post(client, f"/review/{check_id}/approve").status_code == 403
    assert _row(app, check_id)["review_state"] == "pending"


def test_approval_without_csrf_token_is_refused(checked):
    app, check_id = checked
    _reset(app, check_id)
    post(client_as(app, "office"), f"/check/{check_id}/review")
    senior = client_as(app, "senior")
    assert senior.post(f"/review/{check_id}/approve", data={"note": "x"}).status_code == 400
    assert _row(app, check_id)["review_state"] == "pending"


def test_senior_cannot_send_photos_for_sign_off(checked):
    app, check_id = checked
    _reset(app, check_id)
    assert post(client_as(app, "senior"), f"/check/{check_id}/review").status_code == 403


def test_deciding_an_unknown_photo_is_404(checked):
    app, _ = checked
    assert post(client_as(app, "senior"), "/review/nope/approve").status_code == 404
