"""Batch jobs: a whole folder or zip of photos, checked by background worker processes.

A job is a ``web_jobs`` row; each photo in it is a ``web_checks`` row (``job_id``, ``seq``)
that goes ``queued`` -> ``running`` -> ``done`` or ``error``. Worker processes, started by
``python -m web`` (:func:`start_workers`), claim one queued photo at a time in a single SQLite
``UPDATE ... RETURNING``, so several workers never take the same photo. A server restart puts
photos left ``running`` back in the queue, so an interrupted job carries on where it stopped
(and the library's analysis cache makes already-analysed photos quick).

Uploads are unpacked under ``<data>/web/jobs/<job id>/in/``: folder uploads keep their relative
paths (each part made safe), zips are read member by member, refusing absolute paths, ``..``
and anything that would unpack past the size limit (zip-slip and zip-bomb safe).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlite_utils
from werkzeug.utils import secure_filename

from consent.images import IMAGE_SUFFIXES

from . import checked_photos
from .tables import connect

MB = 1024 * 1024
#: seconds an idle worker waits before looking for work again
IDLE_POLL = 0.5


class JobRefused(checked_photos.UploadRefused):
    """The folder or zip cannot become a job (too large, too many photos, not a zip, empty)."""


@dataclass
class Progress:
    state: str
    total: int
    done: int
    failed: int
    counts: dict

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else int(100 * self.done / self.total)

    def to_json(self) -> dict:
        return {"state": self.state, "total": self.total, "done": self.done, "failed": self.failed,
                "percent": self.percent, "counts": self.counts}


def job_dir(place: checked_photos.Place, job_id: str) -> Path:
    return place.data / "web" / "jobs" / job_id


def safe_relpath(name: str) -> PurePosixPath | None:
    """A relative path made safe for the disk, or None for names to skip (hidden, odd endings).

    Every part goes through werkzeug's ``secure_filename``; ``..``, absolute paths and drive
    letters cannot survive that, so nothing can be written outside the job's folder.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    safe = [secure_filename(p) for p in parts]
    if not all(safe) or PurePosixPath(safe[-1]).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return PurePosixPath(*safe)


def create(db: sqlite_utils.Database, user_id: int, channels: list[str] | None, caption: str,
           title: str) -> str:
    job_id = checked_photos.new_id()
    db["web_jobs"].insert({
        "id": job_id, "user_id": user_id, "created_at": time.time(), "state": "uploading",
        "channels": json.dumps(channels or []), "caption": caption, "title": title[:200],
        "total": 0, "done": 0, "failed": 0,
    })
    return job_id


def _limits(place: checked_photos.Place) -> tuple[int, int, int]:
    s = place.settings
    return s.max_batch_upload_mb * MB, s.max_batch_files, s.max_upload_mb * MB


def add_files(place: checked_photos.Place, job_id: str, files) -> list[PurePosixPath]:
    """Save uploaded files (werkzeug ``FileStorage``; names may carry folder paths) into the job.

    Returns the relative paths kept; files that are not photos by their ending are skipped.
    Raises :class:`JobRefused` when there are too many photos or one is larger than the limit.
    """
    total_limit, max_files, file_limit = _limits(place)
    root = job_dir(place, job_id) / "in"
    kept: list[PurePosixPath] = []
    for f in files:
        rel = safe_relpath(f.filename or "")
        if rel is None:
            continue
        if len(kept) >= max_files:
            raise JobRefused(413, f"There are more than {max_files} photos; split them into smaller batches.", "too_many_files")
        dest = _unique(root / rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        f.save(str(dest))
        if dest.stat().st_size > file_limit:
            raise JobRefused(413, f"{rel}: larger than {file_limit // MB} MB; send a smaller copy.", "file_too_large")
        kept.append(dest.relative_to(root).as_posix())
    return [PurePosixPath(k) for k in kept]


def add_zip(place: checked_photos.Place, job_id: str, stream) -> list[PurePosixPath]:
    """Unpack the photos of a zip (a file object) into the job, safely; returns their paths."""
    total_limit, max_files, file_limit = _limits(place)
    root = job_dir(place, job_id) / "in"
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError):
        raise JobRefused(400, "The file is not a zip archive that can be opened; zip the folder again.", "bad_zip") from None
    kept: list[PurePosixPath] = []
    written = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            rel = safe_relpath(info.filename)
            if rel is None:
                continue
            if len(kept) >= max_files:
                raise JobRefused(413, f"The zip holds more than {max_files} photos; split it into smaller batches.", "too_many_files")
            dest = _unique(root / rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            try:
                with archive.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(MB):
                        size += len(chunk)
                        written += len(chunk)
                        if size > file_limit:
                            raise JobRefused(413, f"{rel}: larger than {file_limit // MB} MB once unzipped; send a smaller copy.", "file_too_large")
                        if written > total_limit:
                            raise JobRefused(413, f"The zip unpacks to more than {total_limit // MB} MB; split it into smaller batches.", "zip_too_large")
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
                raise JobRefused(400, f"{info.filename}: cannot be unzipped ({exc}); zip the folder again.", "bad_zip") from None
            kept.append(dest.relative_to(root).as_posix())
    return [PurePosixPath(k) for k in kept]


def _unique(path: Path) -> Path:
    """``path``, or ``name-2.jpg`` etc. when two uploads made safe end up with the same name."""
    if not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def queue(db: sqlite_utils.Database, place: checked_photos.Place, job_id: str, rels: list[PurePosixPath]) -> int:
    """Queue the job's saved photos for the workers; returns how many."""
    if not rels:
        raise JobRefused(400, "No photos were found (JPEG, PNG, WebP, TIFF or HEIC). Choose the folder or zip again.", "no_photos")
    root = job_dir(place, job_id) / "in"
    now = time.time()
    job = db["web_jobs"].get(job_id)
    rows = [
        {"id": checked_photos.new_id(), "user_id": job["user_id"], "job_id": job_id, "seq": i, "created_at": now,
         "state": "queued", "name": str(rel), "upload_path": str(root / rel), "channels": job["channels"],
         "caption": job["caption"]}
        for i, rel in enumerate(sorted(rels, key=str))
    ]
    with db.conn:
        db["web_checks"].insert_all(rows)
        db["web_jobs"].update(job_id, {"state": "queued", "total": len(rows)})
    return len(rows)


def discard(db: sqlite_utils.Database, place: checked_photos.Place, job_id: str) -> None:
    """Forget a job that never got queued (its upload was refused)."""
    shutil.rmtree(job_dir(place, job_id), ignore_errors=True)
    with db.conn:
        db.execute("delete from web_checks where job_id = ?", [job_id])
        db.execute("delete from web_jobs where id = ?", [job_id])


def progress(db: sqlite_utils.Database, job_id: str) -> Progress | None:
    job = db["web_jobs"].get(job_id) if db["web_jobs"].count_where("id = ?", [job_id]) else None
    if job is None:
        return None
    states = dict(db.execute(
        "select state, count(*) from web_checks where job_id = ? group by state", [job_id]).fetchall())
    verdicts = dict(db.execute(
        "select verdict, count(*) from web_checks where job_id = ? and state in ('done', 'error') "
        "group by verdict", [job_id]).fetchall())
    done = states.get("done", 0) + states.get("error", 0)
    counts = {k: verdicts.get(k, 0) for k in ("ok", "review", "block", "error")}
    return Progress(job["state"], job["total"], done, states.get("error", 0), counts)


# --- the workers ------------------------------------------------------------------------


def claim(db: sqlite_utils.Database, worker: str) -> dict | None:
    """Take the oldest queued photo for ``worker`` (atomic across processes), or None."""
    with db.conn:
        row = db.execute(
            "update web_checks set state = 'running', worker = ? where id = ("
            " select id from web_checks where state = 'queued' order by created_at, seq limit 1"
            ") and state = 'queued' returning id, job_id", [worker]).fetchone()
        if row is None:
            return None
        db.execute(
            "update web_jobs set state = 'running', started_at = coalesce(started_at, ?) where id = ?",
            [time.time(), row[1]])
    return checked_photos.get(db, row[0])


def process(db: sqlite_utils.Database, place: checked_photos.Place, row: dict) -> None:
    """Check one claimed photo and record the outcome; a bad photo becomes an ``error`` row."""
    original = Path(row["upload_path"])
    rel = PurePosixPath(row["name"])
    channels = json.loads(row["channels"] or "[]") or None
    try:
        checked_photos.check_file(
            db, place, row["id"], row["user_id"], original, row["name"], channels, row["caption"] or "",
            blurred=False, folder_context=str(rel.parent) if str(rel.parent) != "." else "",
            extra={"job_id": row["job_id"], "seq": row["seq"], "state": "done", "worker": row["worker"]},
        )
    except checked_photos.UploadRefused as exc:
        _fail(db, place, row, str(exc), original)
    except Exception as exc:  # a bug on one photo must not stop the job; the message says so
        _fail(db, place, row, f"{row['name']}: internal error while checking ({type(exc).__name__}); please report it", original)
    _finish_job_if_done(db, row["job_id"])


def _fail(db, place: checked_photos.Place, row: dict, message: str, original: Path) -> None:
    original.unlink(missing_ok=True)
    shutil.rmtree(place.check_dir(row["id"]), ignore_errors=True)
    db["web_checks"].update(row["id"], {
        "state": "error", "verdict": "error", "summary": message, "upload_path": None,
        "expires_at": time.time(),
    })


def _finish_job_if_done(db, job_id: str) -> None:
    with db.conn:
        left = db.execute(
            "select count(*) from web_checks where job_id = ? and state in ('queued', 'running')", [job_id]
        ).fetchone()[0]
        counts = dict(db.execute(
            "select state, count(*) from web_checks where job_id = ? group by state", [job_id]).fetchall())
        changes = {"done": counts.get("done", 0) + counts.get("error", 0), "failed": counts.get("error", 0)}
        if left == 0:
            changes.update({"state": "done", "finished_at": time.time()})
        db["web_jobs"].update(job_id, changes)


def requeue_interrupted(db: sqlite_utils.Database) -> int:
    """Put photos a stopped server left half-done back in the queue; returns how many."""
    with db.conn:
        cur = db.execute("update web_checks set state = 'queued', worker = null where state = 'running'")
    return cur.rowcount


def run_pending(place: checked_photos.Place, worker: str = "inline", limit: int | None = None) -> int:
    """Check queued photos in this process until none are left (or ``limit``); returns how many."""
    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    n = 0
    try:
        while limit is None or n < limit:
            row = claim(db, worker)
            if row is None:
                break
            process(db, place, row)
            n += 1
    finally:
        db.conn.close()
    return n


def worker_main(data: str, db_path: str, settings, index: int) -> None:
    """A worker process: claim and check photos until the server stops it."""
    os.environ.setdefault("CONSENT_DATA", data)
    place = checked_photos.Place(Path(data), db_path, settings)
    db = connect(db_path, settings.register_busy_timeout_s)
    name = f"worker-{index}-{os.getpid()}"
    parent = os.getppid()
    last_sweep = 0.0
    while os.getppid() == parent:  # the server went away: stop too
        row = claim(db, name)
        if row is not None:
            process(db, place, row)
            continue
        if index == 0 and time.time() - last_sweep > checked_photos.SWEEP_EVERY:
            checked_photos.sweep(db, place)
            last_sweep = time.time()
        time.sleep(IDLE_POLL)


class WorkerPool:
    """Worker processes started with the server; :meth:`stop` ends them."""

    def __init__(self, processes):
        self.processes = processes

    def stop(self) -> None:
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        for p in self.processes:
            p.join(timeout=5)


def start_workers(app, count: int) -> WorkerPool:
    """Requeue interrupted photos, then start ``count`` worker processes (spawned, not forked)."""
    place = checked_photos.Place.from_app(app)
    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    try:
        requeue_interrupted(db)
        checked_photos.sweep(db, place)
    finally:
        db.conn.close()
    ctx = multiprocessing.get_context("spawn")
    processes = []
    for i in range(count):
        p = ctx.Process(target=worker_main, args=(str(place.data), place.db_path, place.settings, i),
                        name=f"consent-batch-{i}", daemon=True)
        p.start()
        processes.append(p)
    return WorkerPool(processes)
