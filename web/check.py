"""Check photos (office): drop one or many photos, see each verdict, download the safe copy.

With scripts on, ``static/check.js`` sends each dropped photo on its own to ``POST
/check/upload`` and shows the returned result card as it arrives; without scripts the form posts
every photo to ``POST /check/`` and the page comes back with the results.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, send_file,
    url_for,
)

from . import result_cards, checked_photos
from .audit_log import log_event
from .tables import get_db
from .errors import error_response, wants_json
from .request_register import channel_choices
from .security import roles_required

bp = Blueprint("check", __name__, url_prefix="/check")

RECENT = 12


def _options() -> tuple[list[str] | None, str]:
    """The channels asked for (None: every channel) and the caption, from the form."""
    channel = request.form.get("channel", "all")
    return (None if channel in ("", "all") else [channel]), request.form.get("caption", "").strip()[:2000]


def _check_file(file_storage) -> str:
    channels, caption = _options()
    return checked_photos.check_upload(
        get_db(), checked_photos.Place.from_app(current_app), g.user.id, file_storage.save,
        file_storage.filename, channels, caption,
    )


def _own_checks() -> list[dict]:
    rows = get_db().query(
        "select id from web_checks where user_id = ? and job_id is null order by created_at desc limit ?",
        [g.user.id, RECENT],
    )
    return [checked_photos.get(get_db(), r["id"]) for r in rows]


@bp.get("/")
@roles_required("office")
def index():
    return render_template("check.html", channels=channel_choices(), recent=_own_checks(), results=[])


@bp.post("/upload")
@roles_required("office")
def upload():
    """One photo from the drop zone: the result card (HTML), or a JSON error with a 4xx status."""
    file_storage = request.files.get("photo")
    if file_storage is None or not file_storage.filename:
        return error_response(400, "No photo was sent. Choose a photo and try again.", "no_file")
    try:
        check_id = _check_file(file_storage)
    except checked_photos.UploadRefused as exc:
        return error_response(exc.status, str(exc), exc.code)
    row = checked_photos.get(get_db(), check_id)
    return render_template("_result.html", c=result_cards.card(row, g.user))


@bp.post("/")
@roles_required("office")
def submit():
    """The form without scripts: every photo at once; the page comes back with all the results."""
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    if not files:
        flash("Choose at least one photo to check.", "error")
        return render_template("check.html", channels=channel_choices(), recent=_own_checks(), results=[]), 400
    results, refused, status = [], [], 200
    for f in files:
        try:
            results.append(result_cards.card(checked_photos.get(get_db(), _check_file(f)), g.user))
        except checked_photos.UploadRefused as exc:
            refused.append(str(exc))
            status = exc.status
    for message in refused:
        flash(message, "error")
    return (
        render_template("check.html", channels=channel_choices(), recent=_own_checks(), results=results),
        200 if results else status,
    )


def _row_for_viewer(check_id: str) -> dict:
    row = checked_photos.get(get_db(), check_id)
    if row is None:
        abort(404)
    if not checked_photos.can_view(g.user, row):
        abort(403)
    return row


@bp.get("/<check_id>")
@roles_required("office", "comms", "senior")
def show(check_id: str):
    row = _row_for_viewer(check_id)
    return render_template("check_result.html", c=result_cards.card(row, g.user))


@bp.get("/<check_id>/preview.jpg")
@roles_required("office", "comms", "senior")
def preview_image(check_id: str):
    row = _row_for_viewer(check_id)
    if not row.get("preview_path"):
        abort(404)
    return send_file(row["preview_path"], mimetype="image/jpeg", max_age=0)


@bp.get("/<check_id>/download/<kind>")
@roles_required("office", "comms", "senior")
def download(check_id: str, kind: str):
    if kind not in ("safe", "blurred"):
        abort(404)
    row = _row_for_viewer(check_id)
    path = checked_photos.available(row, kind)
    if path is None:
        return error_response(
            404 if row.get("safe_path") is None else 403,
            "This copy cannot be downloaded: it has expired, or the photo is not cleared for any "
            "channel. Send it for sign-off or check the photo again.",
            "not_available",
        )
    stem = row["name"].rsplit(".", 1)[0]
    suffix = path.suffix
    name = f"{stem}-{'blurred' if kind == 'blurred' else 'safe'}{suffix}"
    log_event(get_db(), g.user.username, f"download.{kind}", check_id, {"photo": row["name"]})
    return send_file(path, as_attachment=True, download_name=name, max_age=0)


@bp.post("/<check_id>/review")
@roles_required("office", "comms")
def send_for_review(check_id: str):
    row = _row_for_viewer(check_id)
    if not checked_photos.reviewable(row) or row.get("review_state"):
        message = "This photo cannot be sent for sign-off: it was already sent, or it is blocked."
        if wants_json():
            return jsonify({"error": {"code": "not_reviewable", "message": message}}), 409
        flash(message, "error")
        return redirect(url_for("check.show", check_id=check_id))
    note = request.form.get("note", "").strip()[:1000]
    get_db()["web_checks"].update(check_id, {
        "review_state": "pending", "review_requested_by": g.user.id,
        "review_requested_at": time.time(), "review_request_note": note,
    })
    log_event(get_db(), g.user.username, "review.requested", check_id, {"photo": row["name"], "note": note})
    flash("Sent to a senior colleague for sign-off. You can download the safe copy once they approve it.", "info")
    return redirect(url_for("check.show", check_id=check_id))
