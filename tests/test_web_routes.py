"""Every route at once: who may use it, sign-in, and CSRF on every form.

The table is built from the app's own URL map, so a new route is covered (or fails the
"every route declares its roles" test) without anyone remembering to add it here.
"""

from __future__ import annotations

import pytest

from tests.web_helpers import ROLES, client_as, csrf, make_app

#: routes anyone may reach (they check tokens or passwords themselves)
PUBLIC = {"auth.login", "auth.logout", "auth.setup", "home.index", "static", "api.check"}
DUMMY = {"check_id": "x", "job_id": "x", "person_id": 1, "token": "x", "user_id": 999, "token_id": 999,
         "kind": "safe", "fmt": "csv", "publication_id": 999, "number": 1}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("routes"))


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(DUMMY[name])).replace(f"<{name}>", str(DUMMY[name]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url, app.view_functions[rule.endpoint].roles


def call(client, method, url, token=None):
    if method == "GET":
        return client.get(url)
    data = {"csrf_token": token} if token else {}
    return client.post(url, data=data)


def test_every_route_declares_the_roles_it_serves(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in PUBLIC:
            assert getattr(app.view_functions[rule.endpoint], "roles", None), rule.endpoint


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_everywhere_it_does_not_belong(app, role):
    client = client_as(app, role)
    token = csrf(client)
    checked = 0
    for endpoint, method, url, roles in routes(app):
        allowed = role == "admin" or role in roles
        status = call(client, method, url, token).status_code
        if allowed:
            assert status != 403, (role, endpoint, method, url)
        else:
            assert status == 403, (role, endpoint, method, url, status)
            checked += 1
    assert role == "admin" or checked > 10


def test_signed_out_visitors_are_sent_to_sign_in_everywhere(app):
    client = app.test_client()
    token = csrf(client)
    for endpoint, method, url, _ in routes(app):
        response = call(client, method, url, token)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (endpoint, method)


def test_every_form_refuses_a_post_without_its_csrf_token(app):
    client = client_as(app, "admin")
    for endpoint, method, url, _ in routes(app):
        if method == "POST":
            assert client.post(url, data={}).status_code == 400, endpoint
    for url in ("/logout", "/login", "/setup/x"):
        assert client.post(url, data={}).status_code == 400, url


def test_signed_in_scripts_get_json_errors(app):
    client = client_as(app, "office")
    response = client.get("/register/", headers={"X-Requested-With": "fetch"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "http_403"
