"""Issue 27's rough edges: what hostile but ordinary input does to the web app.

Each test drives the real app (a fresh data folder, one account per role) with the input an
attacker sent, and asserts the answer a person or script gets.
"""

from __future__ import annotations

import pytest

from consent.register.store import Register

from tests.web_helpers import client_as, csrf, make_app, post

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
