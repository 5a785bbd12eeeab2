"""The consent web app: ``create_app()`` builds it (Flask application factory).

Configuration (``test_config`` overrides any of it):

- ``CONSENT_DATA``: the data folder (``$CONSENT_DATA`` or ``./data``); uploads, safe copies and
  the session key live under it.
- ``CONSENT_DB``: the register database (``$CONSENT_DB`` or ``<data>/consent.db``); the web app
  keeps its own tables in the same file.
- ``CONSENT_SETTINGS``: a :class:`consent.settings.Settings`; by default ``settings.toml`` in
  the data folder over the defaults.
- ``SECRET_KEY``: read from ``<data>/secret_key`` (made on first start, mode 0600), so
  sessions survive restarts and every server thread and process agrees.
- ``MAX_CONTENT_LENGTH``: ``max_form_kb`` from the settings; the upload routes get
  ``max_upload_mb`` (a batch ``max_batch_upload_mb``), only for someone allowed to upload there
  (see ``web.core.body_limits``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, abort, g, request

from consent import settings as consent_settings


def _secret_key(data: Path) -> str:
    """The data folder's session key, made (atomically, owner-only) on first use."""
    path = data / "secret_key"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        tmp = data / f".secret_key.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # first writer wins; a second process reads the winner's key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def _sweep_now_and_then(app: Flask) -> None:
    """Delete expired safe copies at most every ``checked_photos.SWEEP_EVERY`` seconds, on a request's way in."""
    import time

    from .check import checked_photos

    last = app.extensions.get("consent_last_sweep", 0.0)
    if time.time() - last < checked_photos.SWEEP_EVERY:
        return
    app.extensions["consent_last_sweep"] = time.time()
    from .core.db import get_db

    checked_photos.sweep(get_db(), checked_photos.Place.from_app(app))


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` overrides configuration (tests pass their own)."""
    app = Flask(__name__, instance_relative_config=False)
    from .core.numbers import IdConverter

    # every <int:...> in a route: an id SQLite can hold, else 404 (never an OverflowError)
    app.url_map.converters["int"] = IdConverter
    test_config = dict(test_config or {})
    data = Path(
        test_config.get("CONSENT_DATA") or os.environ.get("CONSENT_DATA") or "data"
    ).resolve()
    settings = test_config.get("CONSENT_SETTINGS") or consent_settings.load(data / "settings.toml")
    app.config.from_mapping(
        CONSENT_DATA=str(data),
        CONSENT_DB=os.environ.get("CONSENT_DB") or str(data / "consent.db"),
        CONSENT_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_form_kb * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # set per request when served over https (see security)
        SESSION_COOKIE_NAME="consent_session",
        PERMANENT_SESSION_LIFETIME=settings.session_hours * 3600,
    )
    app.config.update(test_config)
    # settings given by the caller (tests) are not replaced by a settings.toml found later
    app.config.setdefault("CONSENT_SETTINGS_FIXED", "CONSENT_SETTINGS" in test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(data)

    from .core import body_limits, security
    from .core.db import close_db
    from .core.request_register import close_register

    app.session_interface = security.SessionInterface()
    security.init_app(app)
    app.teardown_appcontext(close_db)
    app.teardown_appcontext(close_register)
    app.jinja_env.globals["csrf_token"] = security.csrf_token
    from .core.words import for_reader, uk_date, uk_when

    app.jinja_env.filters["when"] = uk_when
    app.jinja_env.filters["date"] = uk_date
    app.jinja_env.filters["for_reader"] = for_reader
    from .check.result_cards import verdict_words

    app.jinja_env.filters["verdict_words"] = verdict_words

    @app.before_request
    def _before():
        g.user = None
        if request.endpoint == "static":
            return
        from .settings.views import reload_if_changed

        reload_if_changed(app)
        security.load_user()
        if (request.endpoint in body_limits.UPLOADS and request.method == "POST"
                and security.allow_upload(request.endpoint)):
            # who may send a large body is settled before any of it is read
            request.max_content_length, request.max_form_parts = body_limits.upload_limit(
                app.config["CONSENT_SETTINGS"], request.endpoint)
        if request.blueprint != "api" and (request.content_length or 0) > (request.max_content_length or float("inf")):
            abort(413)  # refused from the header, before anything is read (the API answers a
            # missing token with its own 401 first, and never reads a body before that)
        security.check_csrf()
        _sweep_now_and_then(app)

    app.after_request(security.set_security_headers)

    from .accounts.auth import bp as auth
    from .accounts.users import bp as users
    from .audit.views import bp as audit
    from .batch.views import bp as batch
    from .check.api import bp as api
    from .check.views import bp as check
    from .core import errors
    from .home.views import bp as home
    from .register.views import bp as register
    from .settings.views import bp as settings_page  # (``settings`` above is the Settings)
    from .signoff.views import bp as signoff
    from .takedowns.views import bp as takedowns

    errors.register(app)
    # each area is a package with its blueprint (and its templates, under <area>/templates/<area>/)
    for bp in (home, auth, users, check, batch, signoff, register, takedowns, audit, settings_page, api):
        app.register_blueprint(bp)
    return app
