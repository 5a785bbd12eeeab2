"""Accounts, sign-in, setup link, throttling, CSRF, cookies and security headers."""

from __future__ import annotations

import pytest

from web.accounts import accounts
from web import create_app
from web.core.db import connect

from tests.web_helpers import PASSWORD, client_as, csrf, make_app, post, sign_in


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def test_signed_out_visitor_is_sent_to_sign_in(app):
    response = app.test_client().get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_with_right_password_opens_the_start_page(app):
    client = client_as(app, "office")
    page = client.get("/").get_data(as_text=True)
    assert "Hello, Office User" in page


def test_wrong_password_is_refused_with_a_plain_message(app):
    client = app.test_client()
    response = sign_in(client, "office", "not the password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_account_is_locked_after_too_many_failures_even_with_the_right_password(app):
    client = app.test_client()
    limit = app.config["CONSENT_SETTINGS"].login_max_failures
    for _ in range(limit):
        assert sign_in(client, "office", "wrong password!").status_code == 401
    response = sign_in(client, "office", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    # another account from the same address still works (failures count per account and address)
    assert sign_in(app.test_client(), "comms").status_code == 302


def test_lockout_is_persisted_across_app_instances(app, tmp_path):
    client = app.test_client()
    for _ in range(app.config["CONSENT_SETTINGS"].login_max_failures):
        sign_in(client, "senior", "wrong password!")
    again = create_app({"TESTING": True, "CONSENT_DATA": app.config["CONSENT_DATA"], "CONSENT_DB": app.config["CONSENT_DB"]})
    assert sign_in(again.test_client(), "senior").status_code == 429


def test_made_up_user_names_from_one_address_lock_no_real_account(app):
    """Issue 27: 20 guesses with made-up names locked every account out of new browsers at that
    address (a whole school behind one proxy). Failures count per account and address."""
    client = app.test_client()
    for i in range(50):
        sign_in(client, f"nobody{i}", "wrong password!")
    for role in ("admin", "office"):
        assert sign_in(app.test_client(), role).status_code == 302


def test_post_without_csrf_token_is_refused(app):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "office", "password": PASSWORD})
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)


def test_post_with_wrong_csrf_token_is_refused(app):
    client = client_as(app, "admin")
    response = client.post(
        "/admin/users/", data={"username": "x1", "password": PASSWORD, "roles": "office", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    db = connect(app.config["CONSENT_DB"])
    assert accounts.find_user(db, "x1") is None


def test_csrf_token_in_header_is_accepted_for_scripts(app):
    client = client_as(app, "admin")
    token = csrf(client)
    response = client.post(
        "/admin/users/", data={"username": "scripted", "password": PASSWORD, "roles": "office"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 302


def test_sign_out_needs_csrf_and_ends_the_session(app):
    client = client_as(app, "office")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
    assert post(client, "/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(app):
    client = app.test_client()
    client.get("/login")
    response = sign_in(client, "office")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login", base_url="https://localhost",
        data={"username": "office", "password": PASSWORD, "csrf_token": token},
    )
    assert "Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers


def test_pages_carry_security_headers_and_a_csp_without_inline_scripts(app):
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)


def test_secret_key_is_kept_in_the_data_folder_so_sessions_survive_a_restart(app):
    client = client_as(app, "office")
    restarted = create_app({"TESTING": True, "CONSENT_DATA": app.config["CONSENT_DATA"], "CONSENT_DB": app.config["CONSENT_DB"]})
    assert restarted.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    cookie = client.get_cookie("consent_session")
    other = restarted.test_client()
    other.set_cookie("consent_session", cookie.value)
    assert "Hello, Office User" in other.get("/").get_data(as_text=True)


def test_next_after_sign_in_never_leaves_the_site(app):
    client = app.test_client()
    token = csrf(client)
    response = client.post(
        "/login", data={"username": "office", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    )
    assert response.headers["Location"] == "/"


# --- first start ----------------------------------------------------------------------------


@pytest.fixture
def empty_app(tmp_path):
    data = tmp_path / "data"
    return create_app({"TESTING": True, "CONSENT_DATA": str(data), "CONSENT_DB": str(data / "consent.db")})


def test_first_start_prints_a_setup_link_and_no_default_account_exists(empty_app):
    from web.__main__ import setup_link_message

    message = setup_link_message(empty_app, "127.0.0.1", 5000)
    assert "http://127.0.0.1:5000/setup/" in message
    db = connect(empty_app.config["CONSENT_DB"])
    assert accounts.count_users(db) == 0
    assert sign_in(empty_app.test_client(), "admin", "admin").status_code == 401


def test_setup_link_creates_the_first_admin_once(empty_app):
    from web.__main__ import setup_link_message

    link = setup_link_message(empty_app, "127.0.0.1", 5000).split("http://127.0.0.1:5000")[1].split()[0]
    client = empty_app.test_client()
    assert client.get(link).status_code == 200
    form = {"username": "head", "display_name": "Head", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf(client)}
    response = client.post(link, data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users/")
    assert client.get("/admin/users/").status_code == 200
    # single use: the same link no longer works
    again = empty_app.test_client()
    assert again.get(link).status_code == 404
    form["csrf_token"] = csrf(again)
    form["username"] = "intruder"
    assert again.post(link, data=form).status_code == 404
    db = connect(empty_app.config["CONSENT_DB"])
    assert accounts.find_user(db, "intruder") is None


def test_setup_link_token_is_stored_only_as_a_hash(empty_app):
    from web.__main__ import setup_link_message

    link = setup_link_message(empty_app, "127.0.0.1", 5000)
    token = link.split("/setup/")[1].split()[0]
    db = connect(empty_app.config["CONSENT_DB"])
    stored = [r["token_hash"] for r in db["web_setup_tokens"].rows]
    assert token not in stored and len(stored) == 1


def test_no_setup_link_once_an_account_exists(app):
    from web.__main__ import setup_link_message

    assert setup_link_message(app, "127.0.0.1", 5000) is None


def test_setup_link_refuses_mismatched_passwords(empty_app):
    from web.__main__ import setup_link_message

    link = setup_link_message(empty_app, "127.0.0.1", 5000).split("5000")[1].split()[0]
    client = empty_app.test_client()
    response = client.post(link, data={"username": "head", "password": PASSWORD, "confirm": PASSWORD + "x", "csrf_token": csrf(client)})
    assert response.status_code == 400
    assert "different" in response.get_data(as_text=True)
