"""Who is signed in, what they may do, CSRF tokens and security headers.

Sessions: Flask-Login keeps only a random session token in the (signed) cookie; the session
itself is a row on the server (``web_sessions``, see ``web.accounts.accounts``), so signing out, a
password change and turning an account off end it everywhere, at once. The cookie holds no
user id, name or role.

CSRF: every form carries a per-session token (``csrf_token()`` in templates, a hidden field
named ``csrf_token``; scripts send it in the ``X-CSRF-Token`` header, read from the page's
``<meta name="csrf-token">``; upload forms carry it in their address, so it is checked before
the upload is read). Every POST, PUT, PATCH and DELETE outside the bearer-token API
must present it, compared in constant time; a missing or wrong token is refused with 400 before
the view runs. The API takes no cookies, so cross-site requests cannot ride on a session there.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets

import flask_login
from flask import abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface

from ..accounts import accounts
from . import body_limits
from .db import get_db

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

#: no inline scripts or styles; pictures may come from blob: (local previews before upload)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class CsrfError(Exception):
    """The form's CSRF token is missing or wrong (an old page, or a forged request)."""


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse an unsafe request whose CSRF token does not match the session's."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.blueprint == "api":
        return  # bearer tokens only, no cookies: see web.check.api
    sent = body_limits.csrf_sent(request.headers.get, request.args.get)
    if not sent:
        # in the form: read within the request's limit (an upload's only for someone allowed)
        sent = request.form.get("csrf_token", "")
    if not body_limits.csrf_matches(session.get("csrf"), sent):
        raise CsrfError()


def bearer_user():
    """The active user of the request's ``Authorization: Bearer`` API token, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return accounts.user_for_token(get_db(), token.strip())


def allow_upload(endpoint: str) -> bool:
    """True when this request may send an upload's large body; a page upload from someone not
    allowed to make it is refused (401/403) before its body is read. An API request without a
    valid token gets False (its small limit stays; web.check.api answers it with its own 401/403)."""
    if endpoint == "api.check":
        user = bearer_user()
        return body_limits.may_upload(user, endpoint, None)
    user = g.user
    if user is None:
        abort(401)
    if not body_limits.may_upload(user, endpoint, current_app.view_functions[endpoint]):
        abort(403)
    return True


#: the cookie that marks a browser as having signed in to an account before (see accounts)
KNOWN_BROWSER_COOKIE = "consent_browser"


def init_app(app) -> None:
    """Flask-Login over server-side sessions."""
    manager = flask_login.LoginManager()
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(session_token: str):
        max_age = current_app.permanent_session_lifetime.total_seconds()
        return accounts.user_for_session(get_db(), session_token, max_age)

    manager.init_app(app)


def load_user() -> None:
    """Put the signed-in, still active user on ``g.user`` (None when signed out)."""
    user = flask_login.current_user._get_current_object()
    g.user = user if user.is_authenticated else None
    if g.user is None and session.get("_user_id"):
        session.pop("_user_id", None)  # an ended session: forget its token


def sign_in(user: accounts.User) -> None:
    """Start a new server-side session for ``user`` in this browser (a fresh cookie and CSRF
    token: no session fixation) and mark the browser as known to the account."""
    db = get_db()
    end_this_session()
    session.clear()
    token = accounts.start_session(db, user.id)
    flask_login.login_user(dataclasses.replace(user, session_id=token))
    session.permanent = True
    g.user = flask_login.current_user._get_current_object()
    g.browser_mark = accounts.remember_browser(db, user.id, request.cookies.get(KNOWN_BROWSER_COOKIE))


def end_this_session() -> None:
    """Sign this browser out: its server-side session ends, the cookie is emptied."""
    token = session.get("_user_id")
    if token:
        accounts.end_session(get_db(), token)
    flask_login.logout_user()
    session.clear()
    g.user = None


def known_browser(username: str) -> bool:
    return accounts.is_known_browser(get_db(), username, request.cookies.get(KNOWN_BROWSER_COOKIE))


def _set_browser_mark(response) -> None:
    mark = g.get("browser_mark")
    if mark:
        response.set_cookie(
            KNOWN_BROWSER_COOKIE, mark, max_age=365 * 86400, httponly=True, samesite="Lax",
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure),
        )


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            abort(401)
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str):
    """Allow the view to users holding any of ``roles`` (admins always); others get 403."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None:
                abort(401)
            if not g.user.has(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorate


def set_security_headers(response):
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # pages and photos are about children: never keep them in any cache (send_file's own
        # "no-cache" is replaced: that still lets a browser store the file)
        h["Cache-Control"] = "no-store"
        h.pop("ETag", None)
        h.pop("Last-Modified", None)
    _set_browser_mark(response)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag whenever the request came over https."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)
