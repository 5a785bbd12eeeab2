"""Checked photos as the engine stores them: a ``web_checks`` row and a private folder each.

The web app's single checks (``web.check.checked_photos``) and the batch jobs' photos
(:mod:`consent.jobs.batch_jobs`) are stored alike: :class:`Place` says where (the data folder,
the register, the settings), :func:`result_record` makes a finished check's row and writes its
annotated preview (:mod:`consent.jobs.preview`), :func:`read` reads a row back as stored.
:func:`sweep` deletes safe copies past ``safe_copy_expiry_hours`` and originals past their
retention, and :func:`remove_leftovers` the files no row needs (run by the web server and by the
batch workers' recovery).

Folder layout under ``<data>/web/checks/<id>/``: ``original/`` (the upload, short-lived),
``safe/`` (the metadata-free copy), ``blurred/`` (unconsented faces obscured), ``preview.jpg``;
batch uploads wait under ``<data>/web/jobs/<job id>/in/``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from consent.errors import without_paths
from consent.results import PhotoCheck

from . import check_thread, preview


class UploadRefused(Exception):
    """An upload that cannot be checked; ``status`` is the HTTP status, ``str()`` the message."""

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Place:
    """Where the web app keeps things: the data folder, the register and the settings."""

    data: Path
    db_path: str
    settings: object

    @classmethod
    def from_app(cls, app) -> "Place":
        return cls(Path(app.config["CONSENT_DATA"]), app.config["CONSENT_DB"], app.config["CONSENT_SETTINGS"])

    @property
    def checks(self) -> Path:
        """The folder of every check's files, one folder each (:meth:`check_dir`)."""
        return self.data / "web" / "checks"

    @property
    def jobs(self) -> Path:
        """The folder of the batch jobs' uploads, one folder each (``<job id>/in/``)."""
        return self.data / "web" / "jobs"

    def check_dir(self, check_id: str) -> Path:
        return self.checks / check_id


def new_id() -> str:
    return secrets.token_urlsafe(12)


def plain(message: str, path: Path, name: str) -> str:
    """A library message with our private folder path replaced by the name the user knows, and
    any other server path (a safe copy's, say) cut to its file name."""
    return without_paths(message.replace(str(path), name))


def face_states(result: PhotoCheck) -> dict[int, str]:
    """Each face's colour state over the channels checked (``cleared``/``no_consent``/``review``)."""
    from consent.reports import face_state

    return {face.index: face_state(result, face) for face in result.faces}


def result_record(place: Place, check_id: str, user_id: int, original: Path, label: str, caption: str,
                  result: PhotoCheck, stored, blurred_result: PhotoCheck | None = None,
                  blurred_stored=None) -> dict:
    """The ``web_checks`` columns of a finished check of ``original`` (``stored``: its
    ``consent.rejudge.StoredCheck``); writes its annotated preview."""
    preview_path = place.check_dir(check_id) / "preview.jpg"
    check_thread.run(preview.write, original, result, face_states(result), preview_path, place.settings)
    record = _record(check_id, user_id, label, None, caption, result, blurred_result, place.settings)
    record["stored"] = json.dumps({"check": stored.to_json(),
                                   "blurred": blurred_stored.to_json() if blurred_stored else None})
    record["preview_path"] = str(preview_path)
    return record


def something_to_blur(result: PhotoCheck) -> bool:
    """A blurred copy could help: some face is not cleared for every channel checked, or a
    pupil's name is written in the picture (single checks and batch photos alike)."""
    return not result.error and (any(s != "cleared" for s in face_states(result).values()) or any(
        r.code == "name_in_picture" for r in result.reasons))


def usable_blurred(pair):
    """``(blurred result, blurred stored)`` of a blurred check, or ``(None, None)`` when the
    blurred copy could not be made or re-checked: the plain safe copy still stands."""
    result, stored = pair
    if result.error or stored is None:
        return None, None
    return result, stored


def _record(check_id, user_id, name, channels, caption, result: PhotoCheck, blurred_result, settings) -> dict:
    """The row for a check; ``result`` is not kept (it names people): :func:`get` judges the
    stored check again instead."""
    now = time.time()
    return {
        "id": check_id,
        "user_id": user_id,
        "created_at": now,
        "state": "done",
        "name": name,
        "channels": json.dumps(list(result.channels)),
        "caption": caption,
        "verdict": result.verdict,
        "summary": result.summary(),
        "result": None,
        "safe_path": result.safe_copy,
        "blurred_path": blurred_result.safe_copy if blurred_result is not None else None,
        "expires_at": now + settings.safe_copy_expiry_hours * 3600,
    }


def read(db: sqlite_utils.Database, check_id: str) -> dict | None:
    """The ``web_checks`` row of a check as stored (not judged again: ``web.check.checked_photos.get``
    does that), with ``row["data"]`` (its JSON, if any), ``row["channel_list"]`` and
    ``row["changes"] = []``; None when there is no such check."""
    rows = list(db["web_checks"].rows_where("id = ?", [check_id], limit=1))
    if not rows:
        return None
    row = rows[0]
    row["data"] = json.loads(row["result"]) if row["result"] else None
    row["channel_list"] = json.loads(row["channels"]) if row["channels"] else []
    row["changes"] = []
    return row


# --- housekeeping -------------------------------------------------------------------------


#: seconds between sweeps of expired safe copies (by the server, and by batch worker 0)
SWEEP_EVERY = 600


#: SQL: the ``web_checks`` row is a single check, or its batch job has no photo left to check
#: (the sweep never touches a job that is not finished)
FINISHED = ("(job_id is null or job_id not in "
            "(select job_id from web_checks where job_id is not null and state in ('queued', 'running')))")
#: seconds after which a batch upload folder with no job (a server stopped mid-upload) is removed
ORPHAN_UPLOAD_AGE = 86400


def sweep(db: sqlite_utils.Database, place: Place, now: float | None = None) -> int:
    """Delete expired safe copies and previews, and originals past retention; returns how many
    checks were cleared. Photos waiting for sign-off keep their files until decided; photos of
    a batch job that is not finished are never touched. Files no record needs go too
    (:func:`remove_leftovers`)."""
    now = now or time.time()
    cleared = 0
    rows = db.query(
        "select id, upload_path, created_at from web_checks where expires_at < ? and "
        f"(review_state is null or review_state != 'pending') and safe_path is not null and {FINISHED}",
        [now],
    )
    for row in list(rows):
        shutil.rmtree(place.check_dir(row["id"]), ignore_errors=True)
        db["web_checks"].update(
            row["id"], {"safe_path": None, "blurred_path": None, "preview_path": None, "upload_path": None}
        )
        cleared += 1
    keep = place.settings.upload_retention_days * 86400
    for row in list(db.query(
            "select id, upload_path from web_checks where upload_path is not null and created_at < ? "
            f"and state in ('done', 'error') and {FINISHED}", [now - keep])):
        Path(row["upload_path"]).unlink(missing_ok=True)
        db["web_checks"].update(row["id"], {"upload_path": None})
    remove_leftovers(db, place, now)
    return cleared


def remove_leftovers(db: sqlite_utils.Database, place: Place, now: float | None = None) -> None:
    """Delete the files no record needs, which a server or worker stopped (kill, power cut)
    between recording an outcome and deleting its files leaves behind:

    - a batch original that no row names any more (its photo is finished), and a batch folder
      left empty;
    - the files of a photo recorded as "could not check", and the original of a finished single
      check whose row no longer names it;
    - an upload that never got its record (a single check or a batch job stopped before it was
      recorded), once older than ``ORPHAN_UPLOAD_AGE``: one still being saved is left alone.

    Run by the sweep, and by the batch recovery (``consent.jobs.batch_jobs.recover``: at each worker's
    start and every minute), so a stopped worker's leftovers go without waiting for a page view.
    """
    now = now or time.time()
    for folder in _folders(place.jobs):
        if not db["web_jobs"].count_where("id = ?", [folder.name]):
            _remove_if_old(folder, now)
            continue
        named = {Path(r["upload_path"]).name for r in db.query(
            "select upload_path from web_checks where job_id = ? and upload_path is not null", [folder.name])}
        for path in (folder / "in").glob("*"):
            if path.is_file() and path.name not in named:
                path.unlink(missing_ok=True)
        for sub in (folder / "in", folder):
            try:
                sub.rmdir()  # only when empty: every original is gone
            except OSError:
                break
    for folder in _folders(place.checks):
        row = next(db.query("select state, upload_path from web_checks where id = ?", [folder.name]), None)
        if row is None:
            _remove_if_old(folder, now)
        elif row["state"] == "error":
            shutil.rmtree(folder, ignore_errors=True)
        elif row["upload_path"] is None and (folder / "original").is_dir():
            shutil.rmtree(folder / "original", ignore_errors=True)


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _remove_if_old(folder: Path, now: float) -> None:
    """An upload folder with no record: removed once older than ``ORPHAN_UPLOAD_AGE``."""
    if now - folder.stat().st_mtime > ORPHAN_UPLOAD_AGE:
        shutil.rmtree(folder, ignore_errors=True)
