"""Sign-off queue (senior): photos sent for a senior's decision, approved or rejected with a note.

Each decision is written to the web audit log; an approved photo's safe copy becomes
downloadable (for the channels that were not blocked) for another ``safe_copy_expiry_hours``.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from . import accounts, result_cards, checked_photos
from .audit_log import log_event
from .tables import get_db
from .security import roles_required

bp = Blueprint("review", __name__, url_prefix="/review")


def _cards(where: str, params: list, limit: int = 100) -> list[dict]:
    db = get_db()
    rows = db.query(f"select id from web_checks where {where} order by review_requested_at desc limit ?", params + [limit])
    cards = []
    for r in list(rows):
        row = checked_photos.get(db, r["id"])
        c = result_cards.card(row, g.user)
        requester = accounts.get_user(db, row["review_requested_by"]) if row["review_requested_by"] else None
        reviewer = accounts.get_user(db, row["reviewed_by"]) if row["reviewed_by"] else None
        c.update({
            "requested_by": requester.display_name if requester else "someone",
            "requested_at": row["review_requested_at"],
            "request_note": row["review_request_note"],
            "reviewed_by": reviewer.display_name if reviewer else None,
            "reviewed_at": row["reviewed_at"],
        })
        cards.append(c)
    return cards


@bp.get("/")
@roles_required("senior")
def index():
    pending = _cards("review_state = 'pending'", [])
    decided = _cards("review_state in ('approved', 'rejected')", [], limit=20)
    return render_template("review.html", pending=pending, decided=decided)


def _decide(check_id: str, decision: str):
    db = get_db()
    row = checked_photos.get(db, check_id)
    if row is None:
        abort(404)
    if row["review_state"] != "pending":
        flash("This photo is not waiting for sign-off (someone may have decided already).", "error")
        return redirect(url_for("review.index"))
    note = request.form.get("note", "").strip()[:1000]
    if decision == "rejected" and not note:
        flash("Say why the photo is not approved, so the person who sent it knows what to do.", "error")
        return redirect(url_for("review.index"))
    changes = {"review_state": decision, "reviewed_by": g.user.id, "reviewed_at": time.time(), "review_note": note}
    if decision == "approved":
        hours = current_app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours
        changes["expires_at"] = time.time() + hours * 3600
    db["web_checks"].update(check_id, changes)
    log_event(db, g.user.username, f"review.{decision}", check_id,
              {"photo": row["name"], "note": note, "verdict": row["verdict"]})
    flash(f"{row['name']}: {'approved' if decision == 'approved' else 'not approved'}.", "info")
    return redirect(url_for("review.index"))


@bp.post("/<check_id>/approve")
@roles_required("senior")
def approve(check_id: str):
    return _decide(check_id, "approved")


@bp.post("/<check_id>/reject")
@roles_required("senior")
def reject(check_id: str):
    return _decide(check_id, "rejected")
