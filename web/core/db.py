"""The per-request database connection (as in Flask's tutorial).

``get_db()`` opens the database once per request on ``g`` (closed by ``close_db`` at teardown)
with :func:`consent.jobs.tables.connect`, which owns the tables and their migrations.
"""

from __future__ import annotations

import sqlite_utils
from flask import current_app, g

from consent.jobs.tables import connect

__all__ = ["connect", "get_db", "close_db"]


def get_db() -> sqlite_utils.Database:
    """The request's database connection (opened on first use, closed at teardown)."""
    if "web_db" not in g:
        g.web_db = connect(current_app.config["CONSENT_DB"],
                           current_app.config["CONSENT_SETTINGS"].register_busy_timeout_s)
    return g.web_db


def close_db(exc=None) -> None:
    db = g.pop("web_db", None)
    if db is not None:
        db.conn.close()
