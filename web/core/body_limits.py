"""How large a request body each request may send, decided from its headers before any of the
body is read.

Every route accepts only a small form (``max_form_kb``) except the upload routes in
``UPLOADS``, and those take a large body only from someone allowed to upload there: a signed-in
user holding the view's role who presents the page's CSRF token in a header or in the form's
address (API: a valid bearer token of an office user). Everyone else's large body is refused
with 413 before it is read.

The same decision is made twice: by the WSGI server (``GatedParser`` for waitress, so a
refused body is never written to a temporary file) and by Flask for each request
(``web.create_app``), so the limits hold under any server and in tests.

The API (``/api/...``) is for scripts: a request there without a valid token (or with the token
of a user who may not use it) is answered 401 (403) in JSON from its headers, whatever its body's
size; the server reads none of it. A script never gets the web pages' "Sign in, reload the page".
"""

from __future__ import annotations

import copy
import hmac
import json

from waitress.parser import HTTPRequestParser
from waitress.utilities import Error, RequestEntityTooLarge

MB = 1024 * 1024

#: upload endpoints -> which limit applies ("photo": one photo's, "batch": a whole folder's)
UPLOADS = {
    "check.upload": "photo",
    "check.submit": "photo",
    "api.check": "photo",
    "register.enrol": "photo",
    "register.import_preview": "photo",
    "batch.create": "batch",
}


def form_limit(settings) -> int:
    """Bytes any ordinary form may send."""
    return settings.max_form_kb * 1024


def upload_limit(settings, endpoint: str) -> tuple[int, int]:
    """(bytes, form parts) an allowed upload to ``endpoint`` may send."""
    if UPLOADS.get(endpoint) == "batch":
        return settings.max_batch_upload_mb * MB, settings.max_batch_files + 20
    return settings.max_upload_mb * MB, 1000


def small_refusal(settings) -> str:
    return (
        f"This request is too large: only a photo upload from a signed-in account may send more "
        f"than {settings.max_form_kb} KB. Sign in, reload the page and try again."
    )


API_NO_TOKEN = "Send a valid API token: Authorization: Bearer <token>."
API_NOT_OFFICE = "This API token's user does not have the office role."


def api_refusal(user) -> tuple[int, str, str] | None:
    """(status, code, message) for an API request from ``user`` (None: no valid token), or None
    when the user may call the API. The view (``web.check.api``) and the server's gate both ask."""
    if user is None:
        return 401, "unauthorized", API_NO_TOKEN
    if not user.has("office"):
        return 403, "forbidden", API_NOT_OFFICE
    return None


def csrf_sent(headers_get, query_get) -> str:
    """The CSRF token a request carries outside its body (header, or the form's address)."""
    return headers_get("X-CSRF-Token") or query_get("csrf_token") or ""


def csrf_matches(expected: str | None, sent: str) -> bool:
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, sent)


def may_upload(user, endpoint: str, view) -> bool:
    """True when ``user`` holds a role the upload view at ``endpoint`` asks for."""
    if user is None:
        return False
    if endpoint == "api.check":
        return user.has("office")
    return user.has(*getattr(view, "roles", ()))


# --- the server side: waitress --------------------------------------------------------------


def make_gate(app):
    """A function (method, path, query, headers) -> (largest body in bytes, refusal: a message
    for the 413 page, or the :class:`JsonError` an API script gets), answering from the headers
    alone, as the server needs before it reads a body."""
    from urllib.parse import parse_qs

    from ..accounts import accounts
    from .db import connect

    settings = app.config["CONSENT_SETTINGS"]
    small = form_limit(settings)
    adapter = app.url_map.bind("localhost")
    serializer = app.session_interface.get_signing_serializer(app)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    max_age = app.permanent_session_lifetime.total_seconds()

    def gate(method: str, path: str, query: str, headers: dict) -> tuple[int, str | Error]:
        refusal = small_refusal(settings)
        try:
            endpoint, _ = adapter.match(path, method=method)
        except Exception:  # noqa: BLE001 - unknown page or method: a small body only
            return small, refusal
        if endpoint not in UPLOADS:
            return small, refusal
        db = connect(app.config["CONSENT_DB"], settings.register_busy_timeout_s)
        try:
            if endpoint == "api.check":
                scheme, _, token = headers.get("AUTHORIZATION", "").partition(" ")
                user = (accounts.user_for_token(db, token.strip())
                        if scheme.lower() == "bearer" and token.strip() else None)
                refused = api_refusal(user)
                if refused:  # no body at all: answered from the headers, in JSON
                    return 0, JsonError(*refused)
                return upload_limit(settings, endpoint)[0], JsonError(
                    413, "http_413", f"The photo is too large: the most you can send at once is "
                    f"{settings.max_upload_mb} MB.")
            else:
                session = _session(serializer, _cookie(headers.get("COOKIE", ""), cookie_name), max_age)
                token = session.get("_user_id")
                user = accounts.user_for_session(db, token, max_age) if token else None
                query_args = parse_qs(query)
                sent = csrf_sent(lambda k: headers.get("X_CSRF_TOKEN"), lambda k: (query_args.get(k) or [""])[0])
                allowed = (may_upload(user, endpoint, app.view_functions[endpoint])
                           and csrf_matches(session.get("csrf"), sent))
        finally:
            db.conn.close()
        return (upload_limit(settings, endpoint)[0], refusal) if allowed else (small, refusal)

    return gate


def _cookie(header: str, name: str) -> str | None:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header: no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _session(serializer, value: str | None, max_age: float) -> dict:
    if not value or serializer is None:
        return {}
    try:
        return dict(serializer.loads(value, max_age=int(max_age)))
    except Exception:  # noqa: BLE001 - forged, expired or damaged: no session
        return {}


class GatedParser(HTTPRequestParser):
    """waitress's request parser, asking ``gate`` how large this request's body may be once the
    headers are in, and refusing a larger one (413, with the gate's message) before reading it."""

    gate = None

    def parse_header(self, header_plus):
        super().parse_header(header_plus)
        self.refusal = None
        if self.gate is None or not (self.content_length or self.chunked):
            return
        limit, self.refusal = self.gate(self.command, self.path, self.query, self.headers)
        if limit < self.adj.max_request_body_size:
            self.adj = copy.copy(self.adj)  # this request's own limit; the server's stays
            self.adj.max_request_body_size = limit + 1

    def received(self, data):
        consumed = super().received(data)
        refusal = getattr(self, "refusal", None)
        if isinstance(self.error, RequestEntityTooLarge) and refusal:
            self.error = refusal if isinstance(refusal, Error) else RequestEntityTooLarge(refusal)
        return consumed


class JsonError(Error):
    """A refusal the server sends itself, in the API's JSON error shape (``web.core.errors``)."""

    REASONS = {401: "Unauthorized", 403: "Forbidden", 413: "Request Entity Too Large"}

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.error_code = status, self.REASONS[status], code

    def to_response(self, ident=None):
        body = json.dumps({"error": {"code": self.error_code, "message": self.body}}).encode()
        headers = [("Content-Type", "application/json")]
        if self.code == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="consent"'))
        return f"{self.code} {self.reason}", headers, body


def create_server(app, **options):
    """A waitress server for ``app`` whose every connection parses requests with the gate."""
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer
    from waitress.server import create_server as waitress_server

    parser = type("AppGatedParser", (GatedParser,), {"gate": staticmethod(make_gate(app))})
    channel = type("GatedChannel", (HTTPChannel,), {"parser_class": parser})
    sockets: dict = {}
    server = waitress_server(app, map=sockets, **options)
    for listener in list(sockets.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = channel
    return server
