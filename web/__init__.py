"""The consent web app: ``create_app()`` builds it (Flask application factory)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` overrides configuration (tests pass their own)."""
    app = Flask(__name__, instance_relative_config=False)
    data = Path(os.environ.get("CONSENT_DATA") or "data").resolve()
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("CONSENT_SECRET_KEY") or os.urandom(32).hex(),
        CONSENT_DATA=str(data),
        CONSENT_DB=os.environ.get("CONSENT_DB") or str(data / "consent.db"),
    )
    if test_config:
        app.config.update(test_config)

    from . import home

    app.register_blueprint(home.bp)
    return app
