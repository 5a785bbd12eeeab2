"""The users page: accounts, roles, API tokens (admin only)."""

from __future__ import annotations

import pytest

from web.accounts import accounts
from web.core.db import connect

from tests.web_helpers import PASSWORD, ROLES, client_as, make_app, post, sign_in


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def _db(app):
    return connect(app.config["CONSENT_DB"])


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_users_page_is_refused_to_every_role_but_admin(app, role):
    client = client_as(app, role)
    assert client.get("/admin/users/").status_code == 403
    response = post(client, "/admin/users/", {"username": "sneaky", "password": PASSWORD, "roles": "admin"})
    assert response.status_code == 403
    assert accounts.find_user(_db(app), "sneaky") is None


def test_users_page_needs_sign_in(app):
    response = app.test_client().get("/admin/users/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_creates_a_user_with_several_roles_who_can_then_sign_in(app):
    client = client_as(app, "admin")
    response = post(client, "/admin/users/", {"username": "jo", "display_name": "Jo Bloggs", "password": PASSWORD, "roles": ["office", "senior"]})
    assert response.status_code == 302
    user = accounts.find_user(_db(app), "jo")
    assert user.roles == {"office", "senior"}
    assert sign_in(app.test_client(), "jo").status_code == 302


def test_passwords_are_stored_hashed(app):
    row = next(_db(app)["web_users"].rows_where("username = 'office'"))
    assert PASSWORD not in row["password_hash"] and row["password_hash"].startswith(("scrypt:", "pbkdf2:"))


def test_short_password_is_refused_with_a_reason(app):
    client = client_as(app, "admin")
    response = post(client, "/admin/users/", {"username": "jo", "password": "short", "roles": "office"})
    assert response.status_code == 400
    assert "too short" in response.get_data(as_text=True)


def test_admin_changes_roles(app):
    client = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    post(client, f"/admin/users/{office.id}/roles", {"roles": ["office", "comms"]})
    assert accounts.get_user(_db(app), office.id).roles == {"office", "comms"}


def test_the_last_admin_cannot_remove_their_own_admin_role(app):
    client = client_as(app, "admin")
    admin = accounts.find_user(_db(app), "admin")
    response = post(client, f"/admin/users/{admin.id}/roles", {"roles": ["office"]})
    assert response.status_code == 400
    assert "last active admin" in response.get_data(as_text=True)
    assert accounts.get_user(_db(app), admin.id).is_admin


def test_turned_off_account_is_signed_out_and_cannot_sign_in(app):
    office_client = client_as(app, "office")
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    post(admin, f"/admin/users/{office.id}/active", {"active": "0"})
    assert office_client.get("/").status_code == 302
    assert sign_in(app.test_client(), "office").status_code == 401


def test_password_reset_signs_out_other_sessions(app):
    office_client = client_as(app, "office")
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    post(admin, f"/admin/users/{office.id}/password", {"password": "a brand new password"})
    assert office_client.get("/").status_code == 302
    assert sign_in(app.test_client(), "office", "a brand new password").status_code == 302


def test_api_token_is_shown_once_and_stored_hashed(app):
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    response = post(admin, f"/admin/users/{office.id}/tokens", {"label": "photo script"})
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    token = page.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("cst_")
    assert accounts.user_for_token(_db(app), token).username == "office"
    stored = [r["token_hash"] for r in _db(app)["web_api_tokens"].rows]
    assert token not in stored
    assert token not in admin.get("/admin/users/").get_data(as_text=True)


def test_revoked_api_token_stops_working(app):
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    token = accounts.create_api_token(_db(app), office.id, "x")
    token_id = next(_db(app)["web_api_tokens"].rows)["id"]
    assert post(admin, f"/admin/users/tokens/{token_id}/revoke").status_code == 302
    assert accounts.user_for_token(_db(app), token) is None


def test_settings_page_lists_the_settings_in_force_for_admins(tmp_path):
    from consent.settings import Settings

    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(safe_copy_expiry_hours=6))
    page = client_as(app, "admin").get("/admin/settings/").get_data(as_text=True)
    import re

    # the value in force, marked as changed, with the default beside it
    assert re.search(r'<div class="setting is-changed" id="f-safe_copy_expiry_hours">', page)
    assert re.search(r'name="safe_copy_expiry_hours" value="6"', page)
    assert re.search(r'<span class="tag">changed</span> default 24\.', page)
    assert client_as(app, "office").get("/admin/settings/").status_code == 403


def test_expired_safe_copies_are_swept_by_the_server_itself(app):
    from web.check import checked_photos

    db = _db(app)
    db["web_checks"].insert({"id": "old", "user_id": 1, "state": "done", "name": "a.jpg", "safe_path": "/nonexistent",
                             "expires_at": 1.0})
    app.extensions["consent_last_sweep"] = 0.0
    client_as(app, "office").get("/")
    assert checked_photos.get(_db(app), "old")["safe_path"] is None
