"""A blurred copy of a clip checked on the check page, made in the background with progress.

A clip's blurred copy takes minutes (its faces found again, every frame decoded, blurred and
encoded, the copy checked again), so the check page does not make it in the request: pressing
"Make a blurred copy" calls :func:`start`, which records the wish in ``web_clip_blurs`` (one row
per check), and the web app puts one task on the batch queue (``consent.jobs.batch_queue``,
run by ``consent worker``), which calls :func:`process`. That is the batch jobs' way of making a
clip's blurred copy, the same function (``check_thread.run_stored_video`` with
``blur_unconsented``: :func:`consent.video.check.check_video` writes the copy, checks it again
and records what it may be published for by the photos' rule, ``consent.blurring``); the copy
is made from the clip's safe copy (the same frames, remuxed without metadata), or from the
original while ``upload_retention_days`` keeps it.

1. :func:`start` queues it unless it is queued or running already (pressing again does
   nothing new), or done; a copy that failed or was stopped may be asked for again.
2. :func:`process` claims it in one ``UPDATE`` (one worker, ever), writes its progress
   (``frame`` of ``frames`` while the copy is written; the phase before and after) at most once a
   second, and stores the copy (``blurred_path``, and the stored blurred check beside the
   clip's own) only while it still holds the claim. Anything that goes wrong is one sentence in
   ``message``; the clip's own check is never touched.
3. A worker killed half-way leaves no copy: the copy is written to a temporary file renamed
   into place (``consent.video.blur``), and the next try empties the ``blurred/`` folder first.
   :func:`status` shows a running copy whose worker is gone as stopped, to be tried again.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import sqlite_utils

from consent.errors import without_paths

from . import check_thread, photos

#: states of a blurred copy asked for
QUEUED, RUNNING, DONE, ERROR = "queued", "running", "done", "error"
#: seconds between two progress writes (the page polls every second or two)
WRITE_EVERY_S = 1.0
#: the phases as the page says them
PHASES = {
    "queued": "Waiting for the worker",
    "finding": "Finding the faces in the clip (step 1 of 3)",
    "blurring": "Blurring",
    "rechecking": "Checking the blurred copy again (step 3 of 3)",
}


def status(db: sqlite_utils.Database, check_id: str, settings=None) -> dict | None:
    """The blurred copy asked for on check ``check_id`` (its ``web_clip_blurs`` row), or None.
    ``row["stopped"]``: it was running but its worker process is gone (killed, the server
    restarted), or it was queued (or running on another machine) with no word for longer than
    ``batch_claim_timeout_s``: it may be asked for again.
    ``row["percent"]`` and ``row["words"]`` say how far it has got as the page shows it."""
    rows = list(db["web_clip_blurs"].rows_where("check_id = ?", [check_id], limit=1)) \
        if db["web_clip_blurs"].exists() else []
    if not rows:
        return None
    row = rows[0]
    row["stopped"] = _stopped(row, settings)
    row["percent"] = percent(row)
    row["words"] = words(row)
    return row


def _stopped(row: dict, settings) -> bool:
    from consent.settings import DEFAULTS

    from .batch_jobs import _alive_here

    if row["state"] not in (QUEUED, RUNNING):
        return False
    if row["state"] == RUNNING:  # a worker of this machine: stopped exactly when its process is gone
        alive = _alive_here(row["worker"])
        if alive is not None:
            return not alive
    timeout = (settings or DEFAULTS).batch_claim_timeout_s  # another machine's, or still queued
    return (row["updated_at"] or row["asked_at"] or 0) < time.time() - timeout


def percent(row: dict) -> int:
    """How far the copy has got, 0-100 (the frames written; 100 once done)."""
    if row["state"] == DONE:
        return 100
    if row["phase"] == "rechecking":
        return 99
    frames = row.get("frames") or 0
    return min(99, int(100 * (row.get("frame") or 0) / frames)) if frames else 0


def words(row: dict) -> str:
    """The progress line: "Blurring: 40% (frame 360 of 900)", or the phase."""
    if row["state"] == DONE:
        return "The blurred copy is ready."
    if row["state"] == ERROR:
        return row["message"] or "The blurred copy could not be made."
    if row.get("stopped"):
        return "The blurred copy was stopped before it was finished (the server or its worker stopped). Try again."
    phase = row["phase"] or "queued"
    if phase == "blurring":
        return f"Blurring: {percent(row)}% (frame {row['frame']} of {row['frames']})"
    return PHASES.get(phase, PHASES["queued"])


def start(db: sqlite_utils.Database, check_id: str, asked_by: str, settings=None) -> bool:
    """Ask for the blurred copy of check ``check_id``: True when it is now queued (the caller
    then queues its task), False when it is queued, running or done already."""
    now = time.time()
    current = status(db, check_id, settings)
    if current is not None and current["state"] in (QUEUED, RUNNING, DONE) and not current["stopped"]:
        return False
    with db.atomic():
        changed = db.execute(
            "insert into web_clip_blurs (check_id, state, asked_by, asked_at, updated_at, frame, frames, phase, "
            "message, worker, claimed_at) values (?, 'queued', ?, ?, ?, 0, 0, 'queued', null, null, null) "
            "on conflict (check_id) do update set state = 'queued', asked_by = excluded.asked_by, "
            "asked_at = excluded.asked_at, updated_at = excluded.updated_at, frame = 0, frames = 0, "
            "phase = 'queued', message = null, worker = null, claimed_at = null "
            "where web_clip_blurs.state = ? or web_clip_blurs.state = ? and web_clip_blurs.updated_at = ?",
            [check_id, asked_by, now, now, ERROR,
             current["state"] if current else "", current["updated_at"] if current else -1]).rowcount
    return bool(changed)


def not_queued(db: sqlite_utils.Database, check_id: str, message: str) -> None:
    """A copy asked for whose task could not be queued: an error saying so (it may be asked again)."""
    with db.atomic():
        db.execute("update web_clip_blurs set state = 'error', message = ?, phase = null, updated_at = ? "
                   "where check_id = ? and state = 'queued'", [message, time.time(), check_id])


def _claim(db: sqlite_utils.Database, check_id: str, worker: str) -> bool:
    now = time.time()
    with db.atomic():
        row = db.execute(
            "update web_clip_blurs set state = 'running', worker = ?, claimed_at = ?, updated_at = ?, "
            "phase = 'finding' where check_id = ? and state = 'queued' returning check_id",
            [worker, now, now, check_id]).fetchone()
    return row is not None


def _update(db: sqlite_utils.Database, check_id: str, worker: str, changes: dict) -> bool:
    """Write ``changes`` if ``worker`` still holds the copy; True if written."""
    changes = {**changes, "updated_at": time.time()}
    sets = ", ".join(f"[{k}] = ?" for k in changes)
    with db.atomic():
        return bool(db.execute(f"update web_clip_blurs set {sets} where check_id = ? and worker = ? and "
                               "state = 'running'", [*changes.values(), check_id, worker]).rowcount)


class _Reporter:
    """The progress callback: frames written, to the row at most every ``WRITE_EVERY_S``."""

    def __init__(self, db, check_id: str, worker: str):
        self.db, self.check_id, self.worker = db, check_id, worker
        self.written_at = 0.0
        self.calls: list[tuple[int, int]] = []

    def __call__(self, frame: int, frames: int) -> None:
        self.calls.append((frame, frames))
        done = frame >= frames
        if not done and time.monotonic() - self.written_at < WRITE_EVERY_S:
            return
        self.written_at = time.monotonic()
        _update(self.db, self.check_id, self.worker,
                {"frame": frame, "frames": frames, "phase": "rechecking" if done else "blurring"})


def _groups(stored: dict) -> list[str] | None:
    """The year groups and classes the clip was checked against (its analysis says), or None."""
    compared = (stored.get("analysis") or {}).get("compared_with") or {}
    values = [str(v) for v in (compared.get("years") or []) + (compared.get("forms") or [])]
    return values or None


def process(db: sqlite_utils.Database, place: photos.Place, check_id: str, worker: str) -> str:
    """Make the blurred copy asked for on check ``check_id`` (:func:`start`) and store it;
    returns ``done``, ``failed`` or ``skipped`` (not queued: another worker has it, or it is
    finished). Never raises for a clip that cannot be blurred: the row says why."""
    if not _claim(db, check_id, worker):
        return "skipped"
    row = photos.read(db, check_id)
    try:
        source = _source(row)
        if source is None:
            return _fail(db, check_id, worker, "The copies of this clip have expired, so no blurred copy can be "
                                               "made: check the clip again.")
        stored = json.loads(row["stored"])["check"]
        folder = place.check_dir(check_id) / "blurred"
        shutil.rmtree(folder, ignore_errors=True)  # what a stopped try left (a temporary file)
        reporter = _Reporter(db, check_id, worker)
        result, blurred_stored = check_thread.run_stored_video(
            place.db_path, place.settings, source, progress=reporter, channels=list(stored["channels"]) or None,
            caption=stored.get("caption", ""), alt_text=stored.get("alt_text", ""), display_name=row["name"],
            folder=stored.get("folder", ""), groups=_groups(stored), safe_dir=folder, blur_unconsented=True)
        if result.error or blurred_stored is None or not result.safe_copy:
            why = photos.plain(result.error, Path(source), row["name"]) if result.error else \
                "its blurred copy could not be checked again"
            shutil.rmtree(folder, ignore_errors=True)
            return _fail(db, check_id, worker, f"The blurred copy could not be made: {_sentence(why)} "
                                               "The clip's own check is unchanged; you can try again.")
        if not _store(db, check_id, worker, result.safe_copy, blurred_stored):
            return "skipped"  # another try holds it now (this one was thought stopped)
        return "done"
    except Exception as exc:  # a bug must not leave it "running": the row says so, in one sentence
        shutil.rmtree(place.check_dir(check_id) / "blurred", ignore_errors=True)
        return _fail(db, check_id, worker, f"The blurred copy could not be made: internal error "
                                           f"({type(exc).__name__}); please report it. The clip's own check is unchanged.")


def _source(row: dict | None) -> str | None:
    """The file to blur: the original while it is kept, else the safe copy (the same frames,
    remuxed without metadata); None when neither is there any more (expired)."""
    if row is None or not row.get("stored"):
        return None
    for key in ("upload_path", "safe_path"):
        if row.get(key) and Path(row[key]).is_file():
            return row[key]
    return None


def _sentence(text: str) -> str:
    text = without_paths(" ".join(str(text).split()))
    return text if text.endswith(".") else text + "."


def _fail(db, check_id: str, worker: str, message: str) -> str:
    _update(db, check_id, worker, {"state": ERROR, "message": message, "phase": None})
    return "failed"


def _store(db, check_id: str, worker: str, copy: str, blurred_stored) -> bool:
    """Record the copy on the check (``blurred_path``, the stored blurred check) and the row as
    done, in one transaction, only while ``worker`` holds it."""
    with db.atomic():
        held = db.execute("select 1 from web_clip_blurs where check_id = ? and worker = ? and state = 'running'",
                          [check_id, worker]).fetchone()
        if held is None:
            return False
        stored = json.loads(db.execute("select stored from web_checks where id = ?", [check_id]).fetchone()[0])
        stored["blurred"] = blurred_stored.to_json()
        db.execute("update web_checks set blurred_path = ?, stored = ? where id = ?",
                   [copy, json.dumps(stored), check_id])
        db.execute("update web_clip_blurs set state = 'done', phase = null, frame = frames, updated_at = ? "
                   "where check_id = ?", [time.time(), check_id])
    return True


def run_inline(place: photos.Place, check_id: str) -> str:
    """Make the copy in this process now (tests of the pages, no queue)."""
    from .batch_jobs import worker_name
    from .tables import connect

    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    try:
        return process(db, place, check_id, worker_name())
    finally:
        db.conn.close()
