"""Batch jobs (comms): send a whole folder or a zip, watch the progress, browse and download.

The upload is unpacked and queued (``consent.jobs.batch_jobs``); background workers check the photos while
``static/batch.js`` polls ``/batch/<id>/progress`` and fills the progress bar. When the job is
done the page shows the results gallery (filter by verdict), a zip of every downloadable safe
copy and the CSV and HTML reports (``consent.reports``).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, send_file,
    url_for,
)

from consent.jobs import batch_jobs
from consent.results import VERDICT_LABELS

from ..check import checked_photos, result_cards
from ..signoff import email_notice
from ..audit.audit_log import log_event
from ..core.db import get_db
from ..core.errors import error_response
from ..core.words import for_reader
from ..core.request_register import channel_choices, enrolment_context, get_register
from ..core.security import roles_required

bp = Blueprint("batch", __name__, url_prefix="/batch", template_folder="templates")
bp.context_processor(enrolment_context)

FILTERS = {"all": "All", **VERDICT_LABELS}


def upload_limits(app) -> tuple[int, int]:
    """(bytes, form parts) a batch upload may use: larger than a single photo's limit."""
    s = app.config["CONSENT_SETTINGS"]
    return s.max_batch_upload_mb * batch_jobs.MB, s.max_batch_files + 20


def _jobs_for_user() -> list[dict]:
    db = get_db()
    where = "" if g.user.is_admin else "where user_id = ?"
    params = [] if g.user.is_admin else [g.user.id]
    jobs = list(db.query(f"select * from web_jobs {where} order by created_at desc limit 30", params))
    for job in jobs:  # state and counts from the photos themselves
        p = batch_jobs.progress(db, job["id"])
        job.update(state=p.state, total=p.total, done=p.done, failed=p.failed)
    return jobs


@bp.get("/")
@roles_required("comms")
def index():
    s = current_app.config["CONSENT_SETTINGS"]
    return render_template("batch/batch.html", channels=channel_choices(), jobs=_jobs_for_user(),
                           limit_mb=s.max_batch_upload_mb, max_files=s.max_batch_files)


@bp.post("/")
@roles_required("comms")
def create():
    """A folder (many files with relative paths) or a zip becomes a queued job."""
    db = get_db()
    place = checked_photos.Place.from_app(current_app)
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    archive = request.files.get("zip")
    if not files and (archive is None or not archive.filename):
        return _refuse(400, "Choose a folder of photos or a zip file first.")
    channel = request.form.get("channel", "all")
    channels = None if channel in ("", "all") else [channel]
    known = {name for name, _ in channel_choices()}
    if channels and channels[0] not in known:
        return _refuse(400, f"Unknown channel {channel!r}; choose one from the list.")
    caption = request.form.get("caption", "").strip()[:2000]
    title = request.form.get("title", "").strip() or _guess_title(files, archive)
    blur = request.form.get("blur") == "1"
    from consent.errors import UnknownGroup
    from consent.register.groups import restrict
    from consent.register.view import current_view

    from ..core.forms import groups_asked

    groups = groups_asked()
    try:  # a year group or class nobody has: refused before anything is uploaded
        restrict(current_view(get_register(), place.settings), groups)
    except UnknownGroup as exc:
        return _refuse(400, str(exc)[:1].upper() + str(exc)[1:] + ".")
    upload = batch_jobs.Upload(place)
    try:
        if files:
            upload.add_files(files)
        if archive is not None and archive.filename:
            upload.add_zip(archive.stream, archive.filename)
        check_ids = batch_jobs.create(db, upload, g.user.id, channels, caption, title, blur=blur,
                                      groups=groups)
    except batch_jobs.JobRefused as exc:
        upload.discard()
        return _refuse(exc.status, str(exc))
    except BaseException:
        upload.discard()  # a failed upload leaves no job and no files
        raise
    job_id = upload.job_id
    log_event(db, g.user.username, "batch.created", None,
              {"job": job_id, "photos": len(check_ids), "title": title, "blurred copies": blur})
    if current_app.config.get("BATCH_INLINE"):
        batch_jobs.run_inline(place, check_ids)  # tests of the pages, without worker processes
    else:
        from consent.jobs import batch_queue

        try:
            batch_queue.enqueue(place, check_ids)
        except Exception:  # e.g. Redis down: the photos stay queued in the database
            current_app.logger.exception("batch %s: the queue cannot be reached; its photos are queued "
                                         "again when a worker starts", job_id)
    return redirect(url_for("batch.show", job_id=job_id))


def _guess_title(files, archive) -> str:
    if files:
        first = (files[0].filename or "").replace("\\", "/")
        return first.split("/")[0] if "/" in first else "Photos"
    return Path(archive.filename).stem if archive is not None else "Photos"


def _refuse(status: int, message: str):
    if request.headers.get("X-Requested-With") == "fetch":
        return error_response(status, message, "batch_refused")
    flash(message, "error")
    s = current_app.config["CONSENT_SETTINGS"]
    return render_template("batch/batch.html", channels=channel_choices(), jobs=_jobs_for_user(),
                           limit_mb=s.max_batch_upload_mb, max_files=s.max_batch_files), status


def _job_for_viewer(job_id: str) -> dict:
    db = get_db()
    if not db["web_jobs"].count_where("id = ?", [job_id]):
        abort(404)
    job = db["web_jobs"].get(job_id)
    if job["user_id"] != g.user.id and not g.user.is_admin:
        abort(403)
    return job


def _items(job_id: str, verdict: str | None = None) -> list[dict]:
    """The job's photos in order, each judged against today's register (so the filter by
    ``verdict`` is today's verdict, not the one stored when the batch ran)."""
    db = get_db()
    items = [checked_photos.get(db, r["id"]) for r in db.query(
        "select id from web_checks where job_id = ? order by seq", [job_id])]
    if verdict and verdict != "all":
        items = [i for i in items if i["verdict"] == verdict]
    return items


@bp.get("/<job_id>")
@roles_required("comms")
def show(job_id: str):
    job = _job_for_viewer(job_id)
    progress = batch_jobs.progress(get_db(), job_id)
    show = request.args.get("show", "all")
    if show not in FILTERS:
        show = "all"
    done = progress.state == "done"  # from the photos themselves, never a stale job row
    items = _items(job_id, show) if done else []
    for item in items:
        item["sendable"] = checked_photos.reviewable(item)
    channels = json.loads(job["channels"] or "[]")
    in_zip = _zip_files(_items(job_id), job["title"]) if done else []
    return render_template(
        "batch/batch_job.html", job=job, progress=progress, items=items, show=show, filters=FILTERS,
        channels=", ".join(c.replace("_", " ") for c in channels) or "all channels",
        safe_count=len(in_zip), blurred_count=sum(1 for _, kind, _, _ in in_zip if kind == "blurred"),
    )


@bp.post("/<job_id>/review")
@roles_required("comms")
def send_for_review(job_id: str):
    """Send the ticked photos of a batch for sign-off at once, with one note."""
    _job_for_viewer(job_id)
    db = get_db()
    ids = request.form.getlist("check")
    if not ids:
        flash("Tick the photos to send for sign-off first.", "error")
        return redirect(url_for("batch.show", job_id=job_id, show=request.form.get("show", "all")))
    note = request.form.get("note", "").strip()[:1000]
    sent, skipped, names = 0, 0, []
    for check_id in ids[:5000]:
        row = checked_photos.get(db, check_id)
        if row is None or row.get("job_id") != job_id or not checked_photos.reviewable(row):
            skipped += 1
            continue
        checked_photos.request_review(db, row, g.user.id, note)
        log_event(db, g.user.username, "review.requested", check_id, {"photo": row["name"], "note": note, "batch": job_id})
        names.append(row["name"])
        sent += 1
    if names:
        email_notice.photos_waiting(current_app.config["CONSENT_SETTINGS"], names, g.user.display_name, note,
                                    email_notice.link("review.index"))
    message = f"Sent {sent} photo{'' if sent == 1 else 's'} to a senior for sign-off."
    if skipped:
        message += f" {skipped} could not be sent (already sent, or OK to publish)."
    flash(message, "info")
    return redirect(url_for("batch.show", job_id=job_id, show=request.form.get("show", "all")))


@bp.get("/<job_id>/progress")
@roles_required("comms")
def progress(job_id: str):
    _job_for_viewer(job_id)
    return jsonify(batch_jobs.progress(get_db(), job_id).to_json())


@bp.get("/<job_id>/safe-copies.zip")
@roles_required("comms")
def safe_zip(job_id: str):
    job = _job_for_viewer(job_id)
    files = _zip_files(_items(job_id), job["title"])
    if not files:
        return error_response(404, "No safe copies can be downloaded from this batch (none is cleared, or they have expired).", "none_available")
    out = tempfile.TemporaryFile()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
        for _, _, name, path in files:
            zf.write(path, name)
    out.seek(0)
    for item, kind, _, _ in files:  # a copy left for the channels it is cleared for (not published)
        channels = (checked_photos.cleared_channels(item) if kind == "safe"
                    else checked_photos.blurred_channels(item))
        checked_photos.record_publication(
            get_register(), item, kind, channels, how="batch_zip",
            by=g.user.username, settings=current_app.config["CONSENT_SETTINGS"])
    log_event(get_db(), g.user.username, "download.batch_zip", None,
              {"job": job_id, "photos": len({item["id"] for item, _, _, _ in files}),
               "blurred copies": sum(1 for _, kind, _, _ in files if kind == "blurred")})
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"{_slug(job['title'])}-safe-copies.zip", max_age=0)


def _zip_files(items: list[dict], title: str) -> list[tuple[dict, str, str, Path]]:
    """What the zip of safe copies holds, as ``(photo, kind, name in the zip, file)``: each
    photo's plain safe copy when it is cleared for some channel, and its blurred copy when that
    was re-checked ok for a channel the plain copy is not cleared for (never for a photo with a
    never-publish pupil: see ``checked_photos.blurred_channels``)."""
    files = []
    for item in items:
        safe = checked_photos.available(item, "safe")
        if safe is not None:
            files.append((item, "safe", _arcname(item, safe, title), safe))
        blurred = checked_photos.available(item, "blurred")
        if blurred is not None and set(checked_photos.blurred_channels(item)) - set(checked_photos.cleared_channels(item)):
            files.append((item, "blurred", _arcname(item, blurred, title, "blurred"), blurred))
    return files


def _arcname(row: dict, path: Path, title: str, kind: str = "safe") -> str:
    """A copy's name in the zip: its path in the folder (a blurred copy's ending ``-blurred``),
    or a neutral name (event and number) in the same folder when the file name names someone
    on roll."""
    parent = Path(row["name"]).parent
    if checked_photos.file_name_names_someone(row):
        return str(parent / checked_photos.download_name(row, kind, path.suffix, title))
    stem = Path(row["name"]).stem + ("-blurred" if kind == "blurred" else "")
    return str(parent / (stem + path.suffix))


def _results(job_id: str, for_html: bool, title: str = ""):
    """The job's checks as :class:`PhotoCheck` objects for ``consent.reports``; the HTML report
    reads each photo from its safe copy (same size as the original, no metadata)."""
    from consent.results import PhotoCheck

    results = []
    for row in _items(job_id):
        if row["state"] == "error" or not row["data"]:
            results.append(PhotoCheck(path=row["name"], name=row["name"], error=for_reader(row["summary"]),
                                      error_code="error"))
            continue
        # as this user may see it: for roles without names a name in the caption or a file
        # name is one reason saying where, not whether the pupil is pictured or on roll
        result = PhotoCheck.from_json(result_cards.viewer_data(row, g.user))
        safe = row["safe_path"] if row["safe_path"] and Path(row["safe_path"]).is_file() else None
        result.path = safe if (for_html and safe) else row["name"]
        result.name = row["name"]
        # the safe_copy and blurred_copy columns: the copies' names in the zip, when downloadable
        in_zip = {kind: name for _, kind, name, _ in _zip_files([row], title)}
        result.safe_copy = in_zip.get("safe")
        result.blurred_copy = in_zip.get("blurred")
        if result.blurred_copy:  # what the blurred copy may be used for, judged today by rule
            result.blurred = row["data"]["blurred"]
        results.append(result)
    return results


@bp.get("/<job_id>/report.<fmt>")
@roles_required("comms")
def report(job_id: str, fmt: str):
    from consent import reports

    job = _job_for_viewer(job_id)
    if fmt not in ("csv", "html"):
        abort(404)
    if fmt == "csv":
        data = reports.csv_bytes(_results(job_id, False, job["title"]), current_app.config["CONSENT_SETTINGS"])
    else:
        data = reports.render_html(_results(job_id, True, job["title"]), title=f"Photo check: {job['title']}",
                                   settings=current_app.config["CONSENT_SETTINGS"]).encode()
    mimetype = "text/csv" if fmt == "csv" else "text/html"
    response = current_app.response_class(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{_slug(job["title"])}-report.{fmt}"'
    if fmt == "html":
        # the report is self-contained with its own inline style; downloaded, not shown here
        response.headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return response


def _slug(text: str) -> str:
    from werkzeug.utils import secure_filename

    return secure_filename(text)[:60] or "batch"
