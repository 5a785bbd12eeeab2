"""Helpers for the web tests: an app on a temporary data folder, accounts per role, signing in."""

from __future__ import annotations

import re

from web.accounts import accounts
from web import create_app
from web.core.db import connect

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


# --- a real server ----------------------------------------------------------------------------


class LiveServer:
    """``python -m web`` on a free loopback port over a fresh data folder, with one account per
    role (user name = role, password ``PASSWORD``). Use as a context manager; ``url`` is its
    address. The server's batch worker process runs too."""

    def __init__(self, data, workers: int = 1, extra_env: dict | None = None):
        self.data = data
        self.workers = workers
        self.extra_env = extra_env or {}
        self.process = None
        self.url = None

    def __enter__(self) -> "LiveServer":
        import os
        import socket
        import subprocess
        import sys
        import time
        import urllib.request
        from pathlib import Path

        self.data.mkdir(parents=True, exist_ok=True)
        db = connect(self.data / "consent.db")
        for role in ROLES:
            if accounts.find_user(db, role) is None:
                accounts.create_user(db, role, PASSWORD, [role], display_name=f"{role.title()} User")
        db.conn.close()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CONSENT_DATA": str(self.data), **self.extra_env}
        env.pop("CONSENT_DB", None)
        root = Path(__file__).resolve().parent.parent
        self.log = open(self.data / "server.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(self.workers)],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {(self.data / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/login", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("the server did not start within 60 s")

    def __exit__(self, *exc) -> None:
        import os
        import signal
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright):
    """The system's Chromium, headless (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)


def browser_sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")


def metadata_tags(path) -> dict:
    """What exiftool finds in ``path`` (EXIF, GPS, XMP, IPTC), without the file name."""
    import json
    import subprocess

    out = subprocess.run(["exiftool", "-j", "-G", "-EXIF:all", "-GPS:all", "-XMP:all", "-IPTC:all", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return {k: v for k, v in json.loads(out)[0].items() if k != "SourceFile"}
