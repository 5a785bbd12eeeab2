"""Check photos (office): drop one or many photos, see each verdict, download the safe copy.

With scripts on, ``static/check.js`` sends each dropped photo on its own to ``POST
/check/upload`` and shows the returned result card as it arrives; without scripts the form posts
every photo to ``POST /check/`` and the page comes back with the results.
"""

from __future__ import annotations

from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, send_file,
    url_for,
)

from consent.errors import ConsentError
from consent.jobs import clip_blur
from consent.register import publications

from . import caption_probes, checked_photos, result_cards
from ..signoff import email_notice
from ..audit.audit_log import log_event
from ..core.forms import groups_asked
from ..core.db import get_db
from ..core.errors import error_response, wants_json
from ..core.request_register import channel_choices, enrolment_context, get_register
from ..core.security import roles_required
from ..core.words import for_reader

bp = Blueprint("check", __name__, url_prefix="/check", template_folder="templates")
bp.context_processor(enrolment_context)

RECENT = 12


def _options() -> tuple[list[str] | None, str]:
    """The channels asked for (None: every channel) and the caption, from the form."""
    channel = request.form.get("channel", "all")
    return (None if channel in ("", "all") else [channel]), request.form.get("caption", "").strip()[:2000]


def _check_file(file_storage) -> str:
    channels, caption = _options()
    place = checked_photos.Place.from_app(current_app)
    return checked_photos.check_upload(
        get_db(), place, g.user.id, file_storage.save, file_storage.filename, channels, caption,
        before_check=lambda path: caption_probes.guard(get_db(), g.user, caption,
                                                       checked_photos.display_name(file_storage.filename),
                                                       place.settings),
        groups=groups_asked(),
    )


def _own_checks() -> list[dict]:
    """The signed-in user's recent checks, each as ``result_cards.listing`` (the photo page's words)."""
    rows = get_db().query(
        "select id from web_checks where user_id = ? and job_id is null order by created_at desc limit ?",
        [g.user.id, RECENT],
    )
    return [result_cards.listing(checked_photos.get(get_db(), r["id"]), g.user) for r in rows]


@bp.get("/")
@roles_required("office")
def index():
    recent = _own_checks()
    decided = [r["id"] for r in recent if r.get("review_state") in ("approved", "rejected")]
    if decided:
        checked_photos.mark_decisions_seen(get_db(), g.user.id, decided)
    return render_template("check/check.html", channels=channel_choices(), recent=recent, results=[])


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
        return render_template("check/check.html", channels=channel_choices(), recent=_own_checks(), results=[]), 400
    results, refused, status = [], [], 200
    for f in files:
        try:
            results.append(result_cards.card(checked_photos.get(get_db(), _check_file(f)), g.user))
        except checked_photos.UploadRefused as exc:
            refused.append(for_reader(str(exc)))
            status = exc.status
    for message in refused:
        flash(message, "error")
    return (
        render_template("check/check.html", channels=channel_choices(), recent=_own_checks(), results=results),
        200 if results else status,
    )


def _row_for_viewer(check_id: str) -> dict:
    row = checked_photos.get(get_db(), check_id)
    if row is None:
        abort(404)
    if not checked_photos.can_view(g.user, row):
        abort(403)
    return row


def _event_title(row: dict) -> str | None:
    """The batch a photo came from (its title names the event), if any."""
    if not row.get("job_id"):
        return None
    jobs = list(get_db()["web_jobs"].rows_where("id = ?", [row["job_id"]], limit=1))
    return jobs[0]["title"] if jobs else None


def _back_link(row: dict) -> tuple[str, str]:
    """Where "back" goes for this viewer: their batch, the check page, or the sign-off queue."""
    if row.get("job_id") and (row["user_id"] == g.user.id or g.user.is_admin) and g.user.has("comms"):
        return url_for("batch.show", job_id=row["job_id"]), f"Back to the batch “{_event_title(row) or 'photos'}”"
    if row["user_id"] == g.user.id and g.user.has("office"):
        return url_for("check.index"), "Check more photos"
    if g.user.has("senior"):
        return url_for("review.index"), "Back to sign-off"
    return url_for("home.index"), "Back to the start page"


@bp.get("/<check_id>")
@roles_required("office", "comms", "senior")
def show(check_id: str):
    row = _row_for_viewer(check_id)
    if row["user_id"] == g.user.id and row.get("review_state") in ("approved", "rejected"):
        checked_photos.mark_decisions_seen(get_db(), g.user.id, [check_id])
    back_url, back_label = _back_link(row)
    published = publications.publications(get_register(), ref=check_id)
    return render_template("check/check_result.html", c=result_cards.card(row, g.user),
                           back_url=back_url, back_label=back_label, published=published,
                           can_mark=checked_photos.cleared_channels(row) if row.get("safe_path") else [])


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
    """A copy "just to look": recorded as a copy that left the system (for the takedown list),
    never as published."""
    return _download(check_id, kind, request.args.get("channel") or None, publishing=False)


@bp.post("/<check_id>/download")
@roles_required("office", "comms")
def download_to_publish(check_id: str):
    """A copy downloaded by someone who says "I am publishing this on <channel>" (``copy`` is
    ``safe:<channel>`` or ``blurred:<channel>``): recorded as published on that channel."""
    kind, _, channel = request.form.get("copy", "").partition(":")
    if not channel:
        return error_response(400, "Choose the channel you are publishing the photo on.", "no_channel")
    return _download(check_id, kind, channel, publishing=True)


def _download(check_id: str, kind: str, channel: str | None, publishing: bool):
    if kind not in ("safe", "blurred"):
        abort(404)
    row = _row_for_viewer(check_id)
    path = checked_photos.available(row, kind, channel)
    why = checked_photos.refusal(row, channel)
    if path is None and why:
        # consent changed since the check or sign-off: say so, in the words the page uses
        return error_response(403, why[0].upper() + why[1:], "consent_changed")
    if path is None:
        return error_response(
            404 if row.get("safe_path") is None else 403,
            "This copy cannot be downloaded: it has expired, or the photo is not cleared for any "
            "channel. Send it for sign-off or check the photo again.",
            "not_available",
        )
    suffix, mimetype = _real_type(path)
    name = checked_photos.download_name(row, kind, suffix, _event_title(row))
    channels = [channel] if channel else (
        checked_photos.cleared_channels(row) if kind == "safe" else checked_photos.blurred_channels(row))
    record_publication(row, kind, channels, "download", published=publishing)
    detail = {"photo": row["name"], "channels": channels}
    if publishing:
        detail["publishing"] = channel
    log_event(get_db(), g.user.username, f"download.{kind}", check_id, detail)
    return send_file(path, as_attachment=True, download_name=name, mimetype=mimetype, max_age=0)


#: safe copies are only ever these formats; the type comes from the bytes, never a name
_TYPES = {"JPEG": (".jpg", "image/jpeg"), "PNG": (".png", "image/png"), "WEBP": (".webp", "image/webp")}


#: a clip's safe copy: the containers ``consent.video.copy`` writes (the ending it gave the copy)
_VIDEO_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}


def _real_type(path) -> tuple[str, str]:
    """The ending and Content-Type of a safe copy's real format (read from its bytes; a clip's
    from the ending the safe copy was written with, once its container opens)."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    suffix = Path(path).suffix.lower()
    if suffix in _VIDEO_TYPES:
        import av

        try:
            with av.open(str(path)) as clip:
                if not clip.streams.video:
                    abort(404)
        except av.FFmpegError:
            abort(404)
        return suffix, _VIDEO_TYPES[suffix]
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        abort(404)
    with img:
        fmt = "JPEG" if img.format == "MPO" else img.format
    if fmt not in _TYPES:
        abort(404)
    return _TYPES[fmt]


@bp.post("/<check_id>/review")
@roles_required("office", "comms")
def send_for_review(check_id: str):
    """Hand a photo that is not ok to the sign-off queue with a note. From the check page's
    script the answer is the updated result card, so the other cards stay on the page."""
    row = _row_for_viewer(check_id)
    if not checked_photos.reviewable(row):
        message = "This photo cannot be sent for sign-off: it was already sent, or it is OK to publish."
        if wants_json():
            return jsonify({"error": {"code": "not_reviewable", "message": message}}), 409
        flash(message, "error")
        return redirect(url_for("check.show", check_id=check_id))
    note = request.form.get("note", "").strip()[:1000]
    checked_photos.request_review(get_db(), row, g.user.id, note)
    log_event(get_db(), g.user.username, "review.requested", check_id, {"photo": row["name"], "note": note})
    email_notice.photos_waiting(current_app.config["CONSENT_SETTINGS"], [row["name"]], g.user.display_name,
                                note, email_notice.link("review.index"))
    if request.headers.get("X-Requested-With") == "fetch":
        return render_template("_result.html", c=result_cards.card(checked_photos.get(get_db(), check_id), g.user))
    flash("Sent to a senior colleague for sign-off. You will see their decision here and under "
          "“Sent for sign-off”.", "info")
    return redirect(url_for("check.show", check_id=check_id))


@bp.post("/<check_id>/blur")
@roles_required("office", "comms")
def make_blurred(check_id: str):
    """Make a blurred copy of a checked clip in the background (``consent.jobs.clip_blur``, on
    the batch queue): its page then shows how far it has got. Pressing again while it is being
    made does nothing new."""
    row = _row_for_viewer(check_id)
    if checked_photos.may_make_blurred_clip(row):
        settings = current_app.config["CONSENT_SETTINGS"]
        if clip_blur.start(get_db(), check_id, g.user.username, settings):
            log_event(get_db(), g.user.username, "blur.requested", check_id,
                      {"photo": row["name"], "channels": checked_photos.blur_would_clear(row)})
            place = checked_photos.Place.from_app(current_app)
            if current_app.config.get("BATCH_INLINE"):
                clip_blur.run_inline(place, check_id)  # tests of the pages, without worker processes
            else:
                from consent.jobs import batch_queue

                try:
                    batch_queue.enqueue_blur(place, check_id)
                except Exception:  # e.g. Redis down: said on the page, to be tried again
                    current_app.logger.exception("check %s: the queue cannot be reached", check_id)
                    clip_blur.not_queued(get_db(), check_id, "The blurred copy could not be started: the "
                                         "background workers cannot be reached. Try again in a minute.")
        flash("Making the blurred copy: it takes a few minutes. This page shows how far it has got; "
              "you can leave it and come back.", "info")
    elif (row.get("clip_blur") or {}).get("state") not in (clip_blur.QUEUED, clip_blur.RUNNING, clip_blur.DONE):
        flash("A blurred copy of this clip cannot be made: blurring its faces would not clear it for any "
              "channel, or its copies have expired.", "error")
    return redirect(url_for("check.show", check_id=check_id))


@bp.get("/<check_id>/blur")
@roles_required("office", "comms", "senior")
def blur_progress(check_id: str):
    """How far the blurred copy of a clip has got (JSON, polled by the check page's script)."""
    row = _row_for_viewer(check_id)
    asked = row.get("clip_blur")
    if asked is None:
        return jsonify({"state": "none", "percent": 0, "words": "", "running": False})
    running = asked["state"] in (clip_blur.QUEUED, clip_blur.RUNNING) and not asked["stopped"]
    return jsonify({"state": "stopped" if asked["stopped"] else asked["state"], "percent": asked["percent"],
                    "frame": asked["frame"] or 0, "frames": asked["frames"] or 0, "words": asked["words"],
                    "running": running})


def record_publication(row: dict, kind: str, channels: list[str], how: str, link: str | None = None,
                       published: bool | None = None) -> None:
    """Record that ``row``'s photo went out on ``channels`` (published, or a copy downloaded)
    by the signed-in user."""
    checked_photos.record_publication(get_register(), row, kind, channels, how=how, by=g.user.username,
                                      settings=current_app.config["CONSENT_SETTINGS"], link=link,
                                      published=published)


@bp.post("/<check_id>/published")
@roles_required("office", "comms")
def mark_published(check_id: str):
    """Someone put the photo out: record where (and a link), so a withdrawal finds it."""
    row = _row_for_viewer(check_id)
    channel = request.form.get("channel", "")
    link = request.form.get("link", "").strip() or None
    if channel not in checked_photos.cleared_channels(row):
        why = checked_photos.refusal(row, channel)
        flash(why or "That channel is not cleared for this photo; only cleared channels can be marked published.",
              "error")
        return redirect(url_for("check.show", check_id=check_id))
    try:
        record_publication(row, "safe", [channel], "marked", link)
    except ConsentError as exc:
        flash(str(exc), "error")
        return redirect(url_for("check.show", check_id=check_id))
    log_event(get_db(), g.user.username, "publication.marked", check_id,
              {"photo": row["name"], "channel": channel, "link": link})
    flash(f"Recorded: published on {channel.replace('_', ' ')}. If consent changes, it will appear on the takedown list.", "info")
    return redirect(url_for("check.show", check_id=check_id))
