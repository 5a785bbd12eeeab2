"""Helpers for the web tests: an app on a temporary data folder, accounts per role, signing in."""

from __future__ import annotations

import re

from web import accounts, create_app
from web.db import connect

PASSWORD = "correct horse battery"
ROLES = ("office", "comms", "senior", "admin")


def make_app(tmp_path, **config):
    """A real app over a fresh data folder in ``tmp_path`` with one user per role."""
    data = tmp_path / "data"
    app = create_app({"TESTING": True, "CONSENT_DATA": str(data), "CONSENT_DB": str(data / "consent.db"), **config})
    db = connect(app.config["CONSENT_DB"])
    for role in ROLES:
        accounts.create_user(db, role, PASSWORD, [role], display_name=f"{role.title()} User")
    db.conn.close()
    return app


def csrf(client) -> str:
    """The session's CSRF token, as every page carries it (made by fetching a page first)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if token:
        return token
    html = client.get("/login", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    token = csrf(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def client_as(app, role: str):
    """A test client signed in as the user holding only ``role``."""
    client = app.test_client()
    response = sign_in(client, role)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def post(client, url: str, data=None, **kwargs):
    """POST with the session's CSRF token added, as the page's form would."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf(client))
    return client.post(url, data=data, **kwargs)
