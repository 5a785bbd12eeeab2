"""Who is signed in, what they may do, CSRF tokens and security headers.

CSRF: every form carries a per-session token (``csrf_token()`` in templates, a hidden field
named ``csrf_token``; scripts send it in the ``X-CSRF-Token`` header, read from the page's
``<meta name="csrf-token">``). Every POST, PUT, PATCH and DELETE outside the bearer-token API
must present it, compared in constant time; a missing or wrong token is refused with 400 before
the view runs. The API takes no cookies, so cross-site requests cannot ride on a session there.
"""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import abort, g, request, session
from flask.sessions import SecureCookieSessionInterface

from . import accounts
from .tables import get_db

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
        return  # bearer tokens only, no cookies: see web.api
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError()


def load_user() -> None:
    """Put the signed-in, still active user on ``g.user`` (None when signed out)."""
    g.user = None
    user_id = session.get("uid")
    if user_id is None:
        return
    user = accounts.get_user(get_db(), user_id)
    if user is None or not user.active or session.get("pwv") != _password_version(user_id):
        session.clear()
        return
    g.user = user


def _password_version(user_id: int) -> str:
    """Changes when the password changes, so a password reset signs out every other session."""
    row = get_db()["web_users"].get(user_id)
    return row["password_hash"][-12:]


def sign_in(user: accounts.User) -> None:
    session.clear()  # a fresh session (and CSRF token) at sign-in: no session fixation
    session["uid"] = user.id
    session["pwv"] = _password_version(user.id)
    session.permanent = True


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
        # pages and photos are about children: never keep them in shared caches
        h.setdefault("Cache-Control", "no-store")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag whenever the request came over https."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)
