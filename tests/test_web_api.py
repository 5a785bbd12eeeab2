"""POST /api/check with per-user bearer tokens."""

from __future__ import annotations

import io

import pytest

from consent.results import JSON_VERSION
from consent.settings import Settings
from web.accounts import accounts
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.test_web_check import landscape_jpeg
from tests.web_helpers import client_as, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def token_for(app, username: str) -> str:
    db = connect(app.config["CONSENT_DB"])
    return accounts.create_api_token(db, accounts.find_user(db, username).id, "test")


def api_check(app, token, data: bytes, name="photo.jpg", **form):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post(
        "/api/check", data={"file": (io.BytesIO(data), name), **form}, headers=headers
    )


def api_files(app):
    root = app.config["CONSENT_DATA"] + "/web/api"
    import os

    return [f for _, _, files in os.walk(root) for f in files]


def test_api_returns_the_versioned_check_json(app):
    response = api_check(app, token_for(app, "office"), landscape_jpeg(), "field.jpg", channel="newsletter")
    assert response.status_code == 200
    body = response.get_json()
    assert body["version"] == JSON_VERSION
    assert body["name"] == body["path"] == "field.jpg"
    assert body["verdict"] == "ok"
    assert list(body["channels"]) == ["newsletter"]
    assert api_files(app) == []


def test_api_checks_every_channel_by_default(app):
    body = api_check(app, token_for(app, "office"), landscape_jpeg()).get_json()
    assert set(body["channels"]) >= {"website", "social_media", "newsletter", "press"}


def test_api_group_photo_of_unknown_people_needs_review(app):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    body = api_check(app, token_for(app, "office"), photo.read_bytes(), photo.name).get_json()
    assert body["verdict"] == "review"
    assert len(body["faces"]) >= 2
    assert all("person_name" not in f for f in body["faces"])


def test_api_accepts_the_token_of_a_senior_who_also_has_the_office_role(app):
    db = connect(app.config["CONSENT_DB"])
    accounts.set_roles(db, accounts.find_user(db, "senior").id, ["senior", "office"])
    body = api_check(app, token_for(app, "senior"), landscape_jpeg()).get_json()
    assert body["verdict"] == "ok"


def test_api_without_token_is_refused(app):
    response = api_check(app, None, landscape_jpeg())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_api_ignores_the_session_cookie(app):
    client = client_as(app, "office")
    response = client.post("/api/check", data={"file": (io.BytesIO(landscape_jpeg()), "a.jpg")})
    assert response.status_code == 401


def test_api_refuses_a_revoked_token(app):
    token = token_for(app, "office")
    db = connect(app.config["CONSENT_DB"])
    accounts.revoke_api_token(db, next(db["web_api_tokens"].rows)["id"])
    assert api_check(app, token, landscape_jpeg()).status_code == 401


@pytest.mark.parametrize("role", ["comms", "senior"])
def test_api_refuses_tokens_of_users_without_the_office_role(app, role):
    assert api_check(app, token_for(app, role), landscape_jpeg()).status_code == 403


def test_api_refuses_a_non_image_with_415_and_keeps_nothing(app):
    response = api_check(app, token_for(app, "office"), b"just some text", "notes.txt")
    assert response.status_code == 415
    body = response.get_json()
    assert body["error"]["code"] == "unreadable_image"
    assert body["error"]["message"].startswith("notes.txt: not a photo")
    assert api_files(app) == []


def test_api_refuses_an_oversized_upload_with_413(tmp_path):
    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(max_upload_mb=1))
    response = api_check(app, token_for(app, "office"), b"0" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "http_413"
    assert api_files(app) == []


def test_api_refuses_an_unknown_channel(app):
    response = api_check(app, token_for(app, "office"), landscape_jpeg(), channel="billboard")
    assert response.status_code == 400
    assert "unknown channel" in response.get_json()["error"]["message"]


def test_api_without_a_file_says_which_field_to_send(app):
    response = app.test_client().post("/api/check", data={}, headers={"Authorization": f"Bearer {token_for(app, 'office')}"})
    assert response.status_code == 400
    assert "'file'" in response.get_json()["error"]["message"]
