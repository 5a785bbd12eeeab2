"""Audit log (admin): every register change (from the register's own log) and the web app's
own events (sign-offs, downloads, batch jobs, account changes), newest first."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from . import audit_log
from .tables import get_db
from .request_register import get_register
from .security import roles_required

bp = Blueprint("audit", __name__, url_prefix="/audit")

LIMIT = 300
#: fields not worth a reader's time in the change column
QUIET = {"note", "source", "since", "photo_sha256", "template_id", "file"}


def describe_change(before, after) -> str:
    """A register audit entry's change in words: ``status: missing → granted`` (changed fields only)."""
    before = before if isinstance(before, dict) else {}
    if not isinstance(after, dict):
        return "" if after is None else str(after)[:200]
    parts = []
    if after.get("channel"):
        parts.append(str(after["channel"]).replace("_", " "))
    for key, new in after.items():
        if key == "channel" or key in QUIET or new in (None, "") or before.get(key) == new:
            continue
        old = before.get(key)
        label = key.replace("_", " ")
        parts.append(f"{label}: {old} → {new}" if old not in (None, "") else f"{label}: {new}")
    if after.get("note"):
        parts.append(f"note: {after['note']}")
    return "; ".join(parts)[:300]


@bp.app_context_processor
def _helpers():
    return {"describe_change": describe_change}


@bp.get("/")
@roles_required("admin")
def index():
    action = request.args.get("action", "").strip() or None
    who = request.args.get("person", "").strip() or None
    entries = get_register().audit(action=action, person=who, limit=LIMIT) if not request.args.get("web") else []
    events = audit_log.events(get_db(), LIMIT, action=action) if not who else []
    return render_template("audit.html", entries=sorted(entries, key=lambda e: e.id, reverse=True),
                           events=events, action=action or "", person=who or "")
