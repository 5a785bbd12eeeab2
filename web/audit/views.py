"""Audit log (admin): every register change (from the register's own log) and the web app's
own events (sign-offs, downloads, batch jobs, account changes), newest first."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from . import audit_log
from ..core import words
from ..core.db import get_db
from ..core.request_register import get_register
from ..core.security import roles_required

bp = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates")

LIMIT = 300


@bp.app_context_processor
def _helpers():
    return {"describe_change": words.describe_change, "event_sentence": words.event_sentence,
            "action_words": words.action_words, "consent_words": words.CONSENT_WORDS}


@bp.get("/")
@roles_required("admin")
def index():
    action = request.args.get("action", "").strip() or None
    who = request.args.get("person", "").strip() or None
    entries = get_register().audit(action=action, person=who, limit=LIMIT) if not request.args.get("web") else []
    events = audit_log.events(get_db(), LIMIT, action=action) if not who else []
    return render_template("audit/audit.html", entries=sorted(entries, key=lambda e: e.id, reverse=True),
                           events=events, action=action or "", person=who or "")
