"""Issue 27's rough edges: what hostile but ordinary input does to the web app.

Each test drives the real app (a fresh data folder, one account per role) with the input an
attacker sent, and asserts the answer a person or script gets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.register.store import Register

from tests.web_helpers import client_as, csrf, make_app, post
from web.accounts import accounts
from web.core.db import connect

HUGE = "99999999999999999999999"  # more than SQLite's largest integer (2**63 - 1)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("rough"))
    with Register(app.config["CONSENT_DB"]) as reg:
        app.config["PUPIL_ID"] = reg.add_person("M1", "Zara", "Quill", year_group="5").id
    return app


def int_routes(app):
    """(endpoint, method, url) for every route with an integer in its address, the integers huge."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items() if conv.regex == r"\d+"]
        if not ints:
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", HUGE).replace(f"<{name}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def test_a_huge_integer_in_any_address_is_not_found_never_a_server_error(app):
    client = client_as(app, "admin")
    token = csrf(client)
    routes = int_routes(app)
    assert len(routes) >= 12, routes  # users, tokens, people, publications, faces
    for endpoint, method, url in routes:
        response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
        assert response.status_code in (400, 404), (endpoint, method, url, response.status_code)


def test_the_largest_sqlite_integer_is_still_an_id_and_one_more_is_not(app):
    client = client_as(app, "admin")
    assert client.get(f"/register/people/{2**63 - 1}").status_code == 404
    assert client.get(f"/register/people/{2**63}").status_code == 404
    revoke = post(client, f"/admin/users/tokens/{2**63}/revoke")
    assert revoke.status_code == 404


@pytest.mark.parametrize("value", [HUGE, "-1", "abc", "1e9", ""])
def test_a_bad_integer_in_a_form_is_refused_plainly(app, value):
    client = client_as(app, "admin")
    pupil = app.config["PUPIL_ID"]
    response = post(client, f"/register/people/{pupil}/consent/undo", data={"channel": "website", "record": value})
    assert response.status_code in (302, 400, 404), response.status_code
    assert "server" not in response.get_data(as_text=True)
    page = client.get("/takedowns/?person=" + value)
    assert page.status_code in (200, 400), page.status_code


# --- the API: 401 in JSON, from the headers ---------------------------------------------------


def _raw_post(url: str, path: str, length: int, headers: str = "") -> tuple[int, dict, bytes]:
    """Send the headers of a POST announcing ``length`` bytes and 64 KB of it; the server's answer
    (status, headers, body) without sending the rest."""
    import socket

    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  f"Content-Length: {length}\r\n{headers}\r\n".encode())
        s.sendall(b"a" * 65536)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length_line = [h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
            if length_line and len(body) >= int(length_line[0].split(b":")[1]):
                break
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


def test_the_live_api_answers_a_missing_or_bad_token_with_401_json_before_reading_a_large_body(tmp_path):
    import json

    from tests.web_helpers import LiveServer

    with LiveServer(tmp_path / "data", workers=0) as server:
        db = connect(tmp_path / "data" / "consent.db")
        comms = accounts.create_api_token(db, accounts.find_user(db, "comms").id, "script")
        office = accounts.create_api_token(db, accounts.find_user(db, "office").id, "script")
        db.conn.close()
        for headers in ("", "Authorization: Bearer cst_made_up\r\n", "Authorization: Basic eDp5\r\n"):
            status, fields, body = _raw_post(server.url, "/api/check", 600 * 1024 * 1024, headers)
            assert status == 401, (headers, status, body[:200])
            assert fields["content-type"] == "application/json"
            assert fields["www-authenticate"].startswith("Bearer")
            assert json.loads(body)["error"]["code"] == "unauthorized"
        status, fields, body = _raw_post(server.url, "/api/check", 600 * 1024 * 1024,
                                         f"Authorization: Bearer {comms}\r\n")
        assert status == 403 and json.loads(body)["error"]["code"] == "forbidden"
        # a valid token's too-large photo: 413, in JSON, naming the limit (not "Sign in")
        status, fields, body = _raw_post(server.url, "/api/check", 600 * 1024 * 1024,
                                         f"Authorization: Bearer {office}\r\n")
        assert status == 413 and fields["content-type"] == "application/json"
        message = json.loads(body)["error"]["message"]
        assert "MB" in message and "Sign in" not in message
        # a small body without a token: the same 401 JSON (from the app this time)
        status, fields, body = _raw_post(server.url, "/api/check", 10)
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"


def test_the_api_refuses_a_missing_token_without_reading_the_body(app):
    from tests.test_web_limits import _post_unread, NeverRead

    response = _post_unread(app.test_client(), "/api/check", 600 * 1024 * 1024)
    assert response.status_code == 401 and not NeverRead.read_from
    assert response.get_json()["error"]["code"] == "unauthorized"


# --- the takedown list: by person only for roles that see names -------------------------------


def test_comms_cannot_list_one_persons_takedowns_but_an_admin_can(app):
    pupil = app.config["PUPIL_ID"]
    comms = client_as(app, "comms")
    refused = comms.get(f"/takedowns/?person={pupil}")
    assert refused.status_code == 403
    assert "cannot list the photos of one person" in refused.get_data(as_text=True)
    assert comms.get(f"/takedowns/?person={pupil}&channel=website").status_code == 403
    assert comms.get("/takedowns/").status_code == 200  # the whole list is still theirs
    assert comms.get("/takedowns/?channel=website").status_code == 200
    admin = client_as(app, "admin")
    page = admin.get(f"/takedowns/?person={pupil}")
    assert page.status_code == 200 and "Show every photo to take down" in page.get_data(as_text=True)


# --- passwords: zxcvbn, with the school's name and the user's own ------------------------------

SCHOOL = "St Mary\u2019s Primary"
WEAK = {"Abcdefgh12": "sequences like", "stmarys2024": "the school's name"}


@pytest.fixture(scope="module")
def school_app(tmp_path_factory):
    from dataclasses import replace

    from consent.settings import DEFAULTS

    return make_app(tmp_path_factory.mktemp("school"), CONSENT_SETTINGS=replace(DEFAULTS, school_name=SCHOOL))


def _refused(response, why: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 400, response.status_code
    assert "too easy to guess" in page and why in page.replace("&#39;", "'"), page[page.find("flash"):][:400]


@pytest.mark.parametrize("password", sorted(WEAK))
def test_guessable_passwords_are_refused_wherever_one_is_set_with_zxcvbns_reason(school_app, password):
    why = WEAK[password]
    admin = client_as(school_app, "admin")
    # an admin making an account, and resetting someone's password
    _refused(post(admin, "/admin/users/", {"username": "jo", "password": password, "roles": "office"}), why)
    db = connect(school_app.config["CONSENT_DB"])
    office = accounts.find_user(db, "office")
    _refused(post(admin, f"/admin/users/{office.id}/password", {"password": password}), why)
    # a user changing their own
    me = client_as(school_app, "office")
    from tests.web_helpers import PASSWORD

    _refused(post(me, "/account/password", {"current": PASSWORD, "password": password, "confirm": password}), why)
    assert accounts.authenticate(db, "office", password) is None and accounts.find_user(db, "jo") is None


@pytest.mark.parametrize("password", sorted(WEAK))
def test_the_setup_link_refuses_a_guessable_first_admin_password(tmp_path, password):
    from dataclasses import replace

    from consent.settings import DEFAULTS
    from web import create_app
    from web.__main__ import setup_link_message

    data = tmp_path / "data"
    app = create_app({"TESTING": True, "CONSENT_DATA": str(data), "CONSENT_DB": str(data / "consent.db"),
                      "CONSENT_SETTINGS": replace(DEFAULTS, school_name=SCHOOL)})
    link = setup_link_message(app, "127.0.0.1", 5000).split("http://127.0.0.1:5000")[1].split()[0]
    client = app.test_client()
    form = {"username": "head", "password": password, "confirm": password, "csrf_token": csrf(client)}
    _refused(client.post(link, data=form), WEAK[password])
    form["password"] = form["confirm"] = "velvet otter lamp parade"
    assert client.post(link, data=form).status_code == 302  # the link still works


def test_the_school_name_in_any_spelling_and_the_users_own_name_are_guessable():
    from dataclasses import replace

    from consent.settings import DEFAULTS

    settings = replace(DEFAULTS, school_name=SCHOOL)
    for password in ("St.Marys-2024", "StMarysPrimary1", "Primary2024!!"):
        with pytest.raises(accounts.AccountError, match="school's name"):
            accounts.check_password_strength(password, ("jo", "Jo Bloggs"), settings)
    with pytest.raises(accounts.AccountError, match="your name"):
        accounts.check_password_strength("JoBloggs2024", ("jo", "Jo Bloggs"), settings)
    for good in ("correct horse battery", "velvet otter lamp parade", "Tr0ub4dor-and-3"):
        accounts.check_password_strength(good, ("jo", "Jo Bloggs"), settings)


# --- sign-in: a growing wait per account and address, never for a browser that signed in ------


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_wrong_passwords_make_only_that_account_at_that_address_wait_longer_each_time(tmp_path):
    from tests.web_helpers import PASSWORD, sign_in

    app = make_app(tmp_path)
    limit = app.config["CONSENT_SETTINGS"].login_max_failures
    guesser = _from(app.test_client(), "10.0.0.66")
    waits = []
    for _ in range(limit + 2):
        response = sign_in(guesser, "office", "wrong password!")
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            db = connect(app.config["CONSENT_DB"])  # the wait passes: age the failures
            db.execute("update web_login_failures set at = at - ?", [waits[-1] + 1])
            db.conn.commit()
            db.conn.close()
            sign_in(guesser, "office", "wrong password!")
    assert waits and sign_in(guesser, "office", PASSWORD).status_code == 429
    # the wait grows with each failure
    assert len(waits) >= 2 and waits[0] < waits[-1], waits
    # the same account from another address, and another account from the same one: no wait
    assert sign_in(_from(app.test_client(), "10.0.0.7"), "office").status_code == 302
    assert sign_in(_from(app.test_client(), "10.0.0.66"), "comms").status_code == 302


def test_a_browser_that_signed_in_before_never_waits_even_at_the_guessers_address(tmp_path):
    from tests.web_helpers import PASSWORD, sign_in

    app = make_app(tmp_path)
    owner = _from(client_as(app, "office"), "10.0.0.66")
    post(owner, "/logout")
    assert "consent_browser" in {c.key for c in owner._cookies.values()}
    guesser = _from(app.test_client(), "10.0.0.66")  # the same proxy address
    for _ in range(app.config["CONSENT_SETTINGS"].login_max_failures + 5):
        sign_in(guesser, "office", "wrong password!")
    assert sign_in(guesser, "office", PASSWORD).status_code == 429
    assert sign_in(owner, "office", PASSWORD).status_code == 302
    # a forged or copied-from-another-account mark is not a known browser
    stranger = _from(app.test_client(), "10.0.0.66")
    stranger.set_cookie("consent_browser", "made-up-mark")
    assert sign_in(stranger, "office", PASSWORD).status_code == 429


def test_a_known_browser_guessing_itself_stops_being_known(tmp_path):
    """A shared computer: someone else guessing on the owner's browser gets a few tries, then
    the browser is treated as unknown (and waits) until the right password is given there."""
    from tests.web_helpers import PASSWORD, sign_in

    app = make_app(tmp_path)
    limit = app.config["CONSENT_SETTINGS"].login_max_failures
    shared = client_as(app, "office")
    post(shared, "/logout")
    for _ in range(limit):
        assert sign_in(shared, "office", "wrong password!").status_code == 401  # no wait yet
    for _ in range(limit):
        sign_in(shared, "office", "wrong password!")
    assert sign_in(shared, "office", PASSWORD).status_code == 429


# --- file names longer than the file system holds ----------------------------------------------


def test_a_long_accented_file_name_still_gets_its_safe_copy_with_its_ending(app, tmp_path):
    """Issue 27: a 126-character accented name gave "cannot write the safe copy (File name too
    long)": in UTF-8 it is more than the 255 bytes a file system holds."""
    import io

    from tests.test_web_check import landscape_jpeg

    office = client_as(app, "office")
    names = {
        # Vietnamese and Welsh letters are 3 bytes each in UTF-8: 126 characters, 370 bytes
        "composed": ("Ẁỳ ẃếṫ ỡṅ ṡṗờṙṫṡ ḍặỳ " * 8)[:122] + ".jpg",
        # a photo's own name in Greek (2 bytes a letter) and a camera's ending in capitals
        "greek": ("Αθλητική ημέρα σχολείου " * 6)[:122] + ".JPG",
    }
    for kind, name in names.items():
        assert len(name) == 126, (kind, len(name))
        response = office.post("/check/upload", data={"photo": (io.BytesIO(landscape_jpeg()), name)},
                               headers={"X-CSRF-Token": csrf(office), "X-Requested-With": "fetch"})
        assert response.status_code == 200, (kind, response.get_data(as_text=True)[:300])
        assert "too long" not in response.get_data(as_text=True)
    db = connect(app.config["CONSENT_DB"])
    copies = [Path(r["safe_path"]) for r in db.query("select safe_path from web_checks where safe_path is not null")]
    long_ones = [p for p in copies if len(p.name.encode()) > 200]
    assert len(long_ones) == 2, copies  # both kept a long name, shortened only as far as needed
    for copy in long_ones:
        assert copy.is_file() and copy.suffix == ".jpg"  # the copy's real format, ending kept
        assert len(copy.name.encode("utf-8")) <= 255 - 14  # room for the temporary name
    db.conn.close()


def test_fit_keeps_the_ending_and_whole_letters():
    from consent.filenames import NAME_MAX, fit

    assert fit("short", ".jpg") == "short.jpg"
    long = "e\u0301" * 200  # 'é' written as two characters, 3 bytes
    out = fit(long, "-blurred.jpg")
    assert out.endswith("-blurred.jpg") and len(out.encode()) <= NAME_MAX - 14
    stem = out[: -len("-blurred.jpg")]
    assert stem.endswith("e\u0301") and stem.count("e") == stem.count("\u0301")  # no letter without its accent
    assert fit("字" * 300, ".png", spare=0).encode().__len__() <= NAME_MAX


def test_a_settings_file_that_still_sets_the_per_address_limit_keeps_working():
    from consent import settings as consent_settings

    with pytest.warns(consent_settings.RetiredSetting, match="per account and address"):
        loaded = consent_settings.from_mapping({"login_max_failures_per_ip": 20, "login_max_failures": 7})
    assert loaded.login_max_failures == 7
