"""Sessions end on the server, setup links are spent once, passwords must be hard to guess,
wrong passwords cannot lock the real user out, API tokens expire and die with the account."""

from __future__ import annotations

import threading
import time

import pytest

from web.accounts import accounts
from web import create_app
from web.core.db import connect

from tests.web_helpers import PASSWORD, client_as, csrf, make_app, post, sign_in


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def _db(app):
    return connect(app.config["CONSENT_DB"])


def _replay(app, cookie_value: str):
    """A new browser presenting an old copy of a session cookie."""
    other = app.test_client()
    other.set_cookie("consent_session", cookie_value)
    return other


# --- sessions -------------------------------------------------------------------------------


def test_a_copied_cookie_stops_working_once_its_owner_signs_out(app):
    client = client_as(app, "office")
    stolen = client.get_cookie("consent_session").value
    assert _replay(app, stolen).get("/check/").status_code == 200
    assert post(client, "/logout").status_code == 302
    assert _replay(app, stolen).get("/check/").status_code == 302


def test_a_sign_in_lasts_the_hours_the_settings_give(tmp_path):
    from consent.settings import Settings

    for hours, still_in in ((12, True), (2, False)):
        app = make_app(tmp_path / str(hours), CONSENT_SETTINGS=Settings(session_hours=hours))
        client = client_as(app, "office")
        db = _db(app)
        db.execute("update web_sessions set created_at = ?", [time.time() - 3 * 3600])  # 3 hours ago
        db.conn.commit()
        assert client.get("/check/").status_code == (200 if still_in else 302)


def test_turning_an_account_off_ends_its_sessions_even_if_turned_on_again(app):
    client = client_as(app, "office")
    stolen = client.get_cookie("consent_session").value
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    post(admin, f"/admin/users/{office.id}/active", {"active": "0"})
    post(admin, f"/admin/users/{office.id}/active", {"active": "1"})
    assert _replay(app, stolen).get("/check/").status_code == 302
    assert client.get("/check/").status_code == 302


def test_the_session_cookie_holds_no_user_id_or_role(app):
    import json

    client = client_as(app, "admin")
    value = client.get_cookie("consent_session").value
    data = app.session_interface.get_signing_serializer(app).loads(value)
    admin = accounts.find_user(_db(app), "admin")
    assert "uid" not in data and "pwv" not in data
    assert admin.id not in data.values() and "admin" not in json.dumps(data)


def test_sessions_are_stored_hashed_on_the_server(app):
    client = client_as(app, "office")
    with client.session_transaction() as session:
        token = session["_user_id"]
    stored = [r["id"] for r in _db(app)["web_sessions"].rows]
    assert len(stored) == 1 and token not in stored


# --- changing your own password ---------------------------------------------------------------


def test_users_change_their_own_password_and_other_sessions_end(app):
    laptop = client_as(app, "office")
    phone = client_as(app, "office")
    page = laptop.get("/account/password").get_data(as_text=True)
    assert "Current password" in page
    response = post(laptop, "/account/password",
                    {"current": PASSWORD, "password": "velvet otter lamp parade", "confirm": "velvet otter lamp parade"})
    assert response.status_code == 302
    assert laptop.get("/check/").status_code == 200  # this browser carries on
    assert phone.get("/check/").status_code == 302  # the other one is signed out
    assert sign_in(app.test_client(), "office", PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "office", "velvet otter lamp parade").status_code == 302


def test_changing_your_password_needs_the_current_one(app):
    client = client_as(app, "office")
    response = post(client, "/account/password",
                    {"current": "not it at all", "password": "velvet otter lamp parade", "confirm": "velvet otter lamp parade"})
    assert response.status_code == 400
    assert "current password is not right" in response.get_data(as_text=True)
    assert sign_in(app.test_client(), "office", PASSWORD).status_code == 302


def test_changing_your_password_needs_a_sign_in(app):
    response = app.test_client().get("/account/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- password strength ----------------------------------------------------------------------


@pytest.mark.parametrize("weak", ["aaaaaaaaaa", "1234567890", "password12", "qwertyuiop", "consent2024"])
def test_common_and_guessable_passwords_are_refused(app, weak):
    with pytest.raises(accounts.AccountError, match="too easy to guess"):
        accounts.create_user(_db(app), "newbie", weak, ["office"])
    client = client_as(app, "office")
    response = post(client, "/account/password", {"current": PASSWORD, "password": weak, "confirm": weak})
    assert response.status_code == 400 and "too easy to guess" in response.get_data(as_text=True)


def test_a_password_made_of_the_users_own_name_is_refused(app):
    with pytest.raises(accounts.AccountError, match="too easy to guess"):
        accounts.create_user(_db(app), "jsmith", "jsmith12345", ["office"], "J Smith")


def test_the_length_rule_still_applies(app):
    with pytest.raises(accounts.AccountError, match="too short"):
        accounts.create_user(_db(app), "newbie", "Xq7#vR2!", ["office"])


# --- throttling without lockout -----------------------------------------------------------------


def test_wrong_passwords_cannot_lock_the_owner_out_of_a_browser_they_used_before(app):
    owner = client_as(app, "office")
    post(owner, "/logout")
    attacker = app.test_client()
    for _ in range(app.config["CONSENT_SETTINGS"].login_max_failures + 3):
        sign_in(attacker, "office", "wrong password!")
    assert sign_in(attacker, "office", PASSWORD).status_code == 429
    assert sign_in(owner, "office", PASSWORD).status_code == 302


def test_the_wait_grows_with_each_failure_and_is_announced(app):
    settings = app.config["CONSENT_SETTINGS"]
    db = _db(app)
    waits = []
    for _ in range(3):
        for _ in range(settings.login_max_failures if not waits else 1):
            accounts.record_failure(db, "office", "127.0.0.1", settings)  # the test client's address
        waits.append(accounts.sign_in_wait(db, "office", "127.0.0.1", settings))
    assert waits[0] >= settings.login_delay_s - 1
    assert waits[0] < waits[1] < waits[2] <= settings.login_lockout_minutes * 60
    attacker = app.test_client()
    response = sign_in(attacker, "office", PASSWORD)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def test_the_wait_ends_by_itself(app, tmp_path):
    from consent.settings import Settings

    app = make_app(tmp_path / "quick", CONSENT_SETTINGS=Settings(login_delay_s=1))
    client = app.test_client()
    for _ in range(app.config["CONSENT_SETTINGS"].login_max_failures):
        sign_in(client, "comms", "wrong password!")
    assert sign_in(client, "comms").status_code == 429
    time.sleep(1.2)
    assert sign_in(client, "comms").status_code == 302


# --- setup link -------------------------------------------------------------------------------


def test_a_setup_link_used_by_many_requests_at_once_makes_exactly_one_admin(tmp_path):
    from web.__main__ import setup_link_message

    data = tmp_path / "data"
    app = create_app({"TESTING": True, "CONSENT_DATA": str(data), "CONSENT_DB": str(data / "consent.db")})
    link = setup_link_message(app, "127.0.0.1", 5000).split("5000")[1].split()[0]
    clients = [app.test_client() for _ in range(6)]
    tokens = [csrf(c) for c in clients]
    start = threading.Barrier(len(clients))
    codes = []

    def race(i):
        start.wait()
        form = {"username": f"head{i}", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": tokens[i]}
        codes.append(clients[i].post(link, data=form).status_code)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes).count(302) == 1, codes
    assert accounts.count_users(connect(data / "consent.db")) == 1


def test_a_refused_password_leaves_the_setup_link_usable(tmp_path):
    from web.__main__ import setup_link_message

    data = tmp_path / "data"
    app = create_app({"TESTING": True, "CONSENT_DATA": str(data), "CONSENT_DB": str(data / "consent.db")})
    link = setup_link_message(app, "127.0.0.1", 5000).split("5000")[1].split()[0]
    client = app.test_client()
    weak = {"username": "head", "password": "1234567890", "confirm": "1234567890", "csrf_token": csrf(client)}
    assert client.post(link, data=weak).status_code == 400
    strong = dict(weak, password=PASSWORD, confirm=PASSWORD)
    assert client.post(link, data=strong).status_code == 302


# --- API tokens -------------------------------------------------------------------------------


def test_api_tokens_expire_after_the_configured_days(app):
    db = _db(app)
    office = accounts.find_user(db, "office")
    token = accounts.create_api_token(db, office.id, "script", days=365)
    row = next(db["web_api_tokens"].rows)
    assert abs(row["expires_at"] - (time.time() + 365 * 86400)) < 60
    assert accounts.user_for_token(db, token) is not None
    db["web_api_tokens"].update(row["id"], {"expires_at": time.time() - 1})
    assert accounts.user_for_token(db, token) is None


def test_the_users_page_shows_when_each_token_expires(app):
    admin = client_as(app, "admin")
    office = accounts.find_user(_db(app), "office")
    page = post(admin, f"/admin/users/{office.id}/tokens", {"label": "photo script"}).get_data(as_text=True)
    year = time.localtime(time.time() + 365 * 86400).tm_year
    assert "Expires" in page and "It works until" in page and str(year) in page


def test_turning_an_account_off_revokes_its_tokens_for_good(app):
    db = _db(app)
    office = accounts.find_user(db, "office")
    token = accounts.create_api_token(db, office.id, "script")
    admin = client_as(app, "admin")
    post(admin, f"/admin/users/{office.id}/active", {"active": "0"})
    post(admin, f"/admin/users/{office.id}/active", {"active": "1"})
    assert accounts.user_for_token(_db(app), token) is None


def test_revoking_a_token_that_does_not_exist_says_so(app):
    admin = client_as(app, "admin")
    response = post(admin, "/admin/users/tokens/9999/revoke")
    assert response.status_code == 404
    assert "no such api token" in response.get_data(as_text=True).lower()
