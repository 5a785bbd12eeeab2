"""The web app's own audit trail: sign-off decisions, downloads, account changes.

Register changes (consent, people, templates) are audited by the register itself; this table
holds what only the web app knows. The audit page shows both, newest first.
"""

from __future__ import annotations

import json
import time

import sqlite_utils


def log_event(db: sqlite_utils.Database, by: str, action: str, check_id: str | None = None,
              detail: dict | None = None) -> None:
    """Append one entry: who (user name), what (``review.approved``), about which check."""
    db["web_audit"].insert({
        "at": time.time(), "by_user": by, "action": action, "check_id": check_id,
        "detail": json.dumps(detail or {}, ensure_ascii=False),
    })


def events(db: sqlite_utils.Database, limit: int = 200, action: str | None = None) -> list[dict]:
    """Newest entries first, optionally of one action family (``review`` finds ``review.*``)."""
    sql, params = "select * from web_audit", []
    if action:
        sql += " where action = ? or action like ?"
        params = [action, action + ".%"]
    sql += " order by id desc limit ?"
    rows = list(db.query(sql, params + [limit]))
    for row in rows:
        row["detail"] = json.loads(row["detail"] or "{}")
    return rows
