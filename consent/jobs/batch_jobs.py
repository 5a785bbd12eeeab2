"""Batch jobs: a whole folder or zip of photos, checked photo by photo through the task queue.

A job is a ``web_jobs`` row; each photo in it is a ``web_checks`` row (``job_id``, ``seq``)
that goes ``queued`` -> ``running`` -> ``done`` or ``error``. The queue (``consent.jobs.batch_queue``,
Huey) carries one task per photo; the task calls :func:`process`, which

1. claims the photo in one atomic ``UPDATE`` (so two workers, or a task queued twice, never
   check it into two results),
2. checks it with ``consent.batch.check_photo`` (the same function as ``consent check``),
3. stores the result only while it still holds the claim, and only then deletes the original.

A passing failure (register busy) is retried a bounded number of times; anything else that
goes wrong with one photo records it as "could not be checked" with the reason, and the job
goes on. What the user sees is derived from the photos' rows (:func:`progress`), so it cannot
drift from them: a job whose photos are all done is done, whatever happened to the workers.
:func:`recover` puts photos whose worker died back in the queue, and deletes files a worker
killed between step 3's two halves left behind (run when the server and every worker start,
and every minute by the workers).

Uploads are saved under ``<data>/web/jobs/<job id>/in/`` as numbered files (``00001.jpg``):
the names people gave them are kept only as text (:func:`clean_name`: Unicode NFC, no control
characters, no ``..``, at most ``NAME_BYTES`` bytes a part, unique ignoring case), so no name
can be too long for the disk, clash with another or point outside the job. The job's rows are
written only once every file is saved; an upload that fails leaves no job and no files.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import time
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import sqlite_utils

from consent.batch import BatchOptions, Job
from consent.images import CHECKED_VIDEO_SUFFIXES, IMAGE_SUFFIXES, NOT_CHECKED_SUFFIXES, not_checked_reason

from . import check_thread, photos
from .tables import connect

MB = 1024 * 1024
#: endings of the files a job checks: photos, and the videos ``consent.video`` checks (MP4, MOV,
#: M4V, WebM); other videos are listed as "could not check" (:meth:`Upload._not_photo`)
CHECKED_SUFFIXES = IMAGE_SUFFIXES | CHECKED_VIDEO_SUFFIXES
#: most bytes of one part (folder or file name) of a photo's name as pages show it
NAME_BYTES = 150
#: characters that some systems refuse in file names (a zip of results must unpack anywhere)
_FORBIDDEN = set('<>:"|?*')
#: the most a photo in a zip may be compressed (unpacked size / packed size): JPEG, HEIC and
#: WebP hardly compress at all, PNG barely, an uncompressed TIFF of a photo a few times; a zip
#: bomb's entries reach 1,000
ZIP_MAX_RATIO = 100
#: photos smaller than this (unpacked) are not held to ZIP_MAX_RATIO (a tiny file can compress well)
ZIP_RATIO_FROM = MB
#: entries a zip may hold beyond twice max_batch_files (a photo and its macOS "._" twin) for
#: its folders, before it is refused unread
ZIP_SPARE_ENTRIES = 1000
#: the most bytes one central directory record may take on average (46 fixed, the rest name,
#: extra fields and comment)
_CD_RECORD_BYTES = 2048


class JobRefused(photos.UploadRefused):
    """The folder or zip cannot become a job (too large, too many photos, not a zip, empty)."""


class TryAgain(Exception):
    """A passing failure (the register was busy): the photo goes back in the queue for a retry."""


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


def job_dir(place: photos.Place, job_id: str) -> Path:
    return place.jobs / job_id


# --- names ------------------------------------------------------------------------------------


def _clean_part(part: str) -> str:
    """One folder or file name without control characters or characters some systems refuse."""
    kept = "".join("_" if ch in _FORBIDDEN else ch for ch in part if unicodedata.category(ch)[0] != "C")
    return kept.strip()


def _cut(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` UTF-8 bytes, never inside a character."""
    return text.encode()[:max(budget, 1)].decode("utf-8", "ignore").rstrip() or "photo"


def _file_name(stem: str, suffix: str, tag: str = "") -> str:
    """``stem + tag + suffix`` in at most ``NAME_BYTES`` bytes: the stem is cut, never the rest."""
    return _cut(stem, NAME_BYTES - len(tag.encode()) - len(suffix.encode())) + tag + suffix


def clean_name(raw: str, endings=IMAGE_SUFFIXES) -> PurePosixPath | None:
    """The name a photo of a folder or zip is shown by, or None for entries that are not photos
    (whose ending is not in ``endings``).

    Unicode is normalised (NFC, so the two ways of writing "é" are one name), control
    characters go, ``\\`` counts as a folder separator, ``.``/``..``/empty parts and leading
    slashes or drive letters' colons are dropped, each part is cut to ``NAME_BYTES`` bytes and a
    file name left with no stem is called ``photo``. Hidden entries (``.DS_Store``, ``._x.jpg``,
    ``__MACOSX/``) and files whose ending is not a photo's are skipped. The result is only ever
    shown and used in reports: files are saved under numbers (:class:`Upload`).
    """
    text = unicodedata.normalize("NFC", raw or "").replace("\\", "/")
    raw_parts = [p for p in text.split("/") if p.strip() not in ("", ".", "..")]
    if not raw_parts or any(p.startswith(".") or p == "__MACOSX" for p in raw_parts):
        return None
    parts = [_clean_part(p) for p in raw_parts]
    stem, dot, ending = parts[-1].rpartition(".")
    suffix = dot + ending
    if not dot or suffix.lower() not in endings:
        return None
    folders = [_cut(p, NAME_BYTES) for p in parts[:-1] if p.strip(". ")]
    return PurePosixPath(*folders, _file_name(stem.strip() or "photo", suffix))


def zip_contents(stream, zip_name: str, max_files: int) -> int:
    """How many entries the zip in ``stream`` holds, read from its end records and counted in its
    central directory without building anything per entry (a zip of a million tiny entries
    costs its central directory's bytes, not a million objects); :class:`JobRefused` when it
    holds more than twice ``max_files`` and :data:`ZIP_SPARE_ENTRIES` (folders, macOS "._"
    twins), or is not a zip. ``stream`` is left where it was found."""
    most = 2 * max_files + ZIP_SPARE_ENTRIES

    def refuse_count(n):
        return JobRefused(413, f"{zip_name} holds {n:,} files or more, and a batch may have at most {max_files:,} "
                               "photos; split it into smaller zips of photos.", "too_many_files")

    bad = JobRefused(400, f"{zip_name} is not a zip archive that can be opened; zip the folder again.", "bad_zip")
    start = stream.tell()
    try:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        tail_at = max(0, size - (22 + 65535))
        stream.seek(tail_at)
        tail = stream.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise bad
        eocd = tail_at + at
        entries, cd_size = struct.unpack("<10xHI6x", tail[at:at + 22])[0:2]
        cd_end = eocd
        if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # zip64: the counts are in the zip64 end record
            locator = tail[at - 20:at] if at >= 20 else b""
            if not locator.startswith(b"PK\x06\x07"):
                raise bad
            (record_at,) = struct.unpack("<8xQ4x", locator)
            stream.seek(record_at)
            record = stream.read(56)
            if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
                raise bad
            entries, cd_size = struct.unpack("<32xQQ8x", record)
            cd_end = record_at
        if entries > most or cd_size > most * _CD_RECORD_BYTES:
            raise refuse_count(max(entries, most + 1))
        if cd_size > cd_end:
            raise bad
        stream.seek(cd_end - cd_size)
        directory = stream.read(cd_size)
        count, pos = 0, 0
        while pos + 46 <= len(directory) and directory[pos:pos + 4] == b"PK\x01\x02":
            name_len, extra_len, comment_len = struct.unpack("<HHH", directory[pos + 28:pos + 34])
            pos += 46 + name_len + extra_len + comment_len
            count += 1
            if count > most:
                raise refuse_count(count)
        return max(count, entries)
    except (OSError, struct.error):
        raise bad from None
    finally:
        stream.seek(start)


@dataclass
class Upload:
    """The photos of one folder or zip upload, saved under ``<job>/in/`` as numbered files.

    ``items`` pairs each photo's shown name (unique ignoring case) with its file; ``unchecked``
    each video or picture this tool cannot read (``consent.images.NOT_CHECKED_SUFFIXES``) with
    what to do about it: not saved, but listed in the job as "could not check", never passed
    over. Until :func:`create` records the job, nothing refers to the folder; :meth:`discard`
    removes it.
    """

    place: photos.Place
    job_id: str = field(default_factory=photos.new_id)
    items: list[tuple[str, Path]] = field(default_factory=list)
    unchecked: list[tuple[str, str]] = field(default_factory=list)
    written: int = 0
    _names: set[str] = field(default_factory=set)

    @property
    def root(self) -> Path:
        return job_dir(self.place, self.job_id) / "in"

    def _limits(self) -> tuple[int, int, int]:
        s = self.place.settings
        return s.max_batch_upload_mb * MB, s.max_batch_files, s.max_upload_mb * MB

    def _most_bytes(self, name: PurePosixPath, file_limit: int) -> int:
        """The most bytes one file may have: a photo ``max_upload_mb``; a video only the batch's
        own limit (it is decoded a frame at a time, so its size costs disk, not memory; its
        length and frame size are held to ``video_max_seconds`` / ``video_max_pixels`` when checked)."""
        if name.suffix.lower() in CHECKED_VIDEO_SUFFIXES:
            return self.place.settings.max_batch_upload_mb * MB
        return file_limit

    def _claim_name(self, name: PurePosixPath) -> str:
        """``name``, or ``name (2).jpg`` etc. when an earlier photo has it (ignoring case)."""
        candidate, n = str(name), 2
        while candidate.casefold() in self._names:
            candidate = str(name.with_name(_file_name(name.stem, name.suffix, f" ({n})")))
            n += 1
        self._names.add(candidate.casefold())
        return candidate

    def _count(self, what: str) -> None:
        _, max_files, _ = self._limits()
        if len(self.items) + len(self.unchecked) >= max_files:
            raise JobRefused(413, f"The {what} holds more than {max_files} photos; split it into smaller batches.",
                             "too_many_files")

    def _next(self, name: PurePosixPath, what: str) -> Path:
        self._count(what)
        self.root.mkdir(parents=True, exist_ok=True)
        dest = self.root / f"{len(self.items) + 1:05d}{name.suffix.lower()}"
        self.items.append((self._claim_name(name), dest))
        return dest

    def _not_photo(self, raw: str, what: str) -> None:
        """Note a file that is not a photo: a video or unreadable picture is listed; the rest
        (documents, hidden files) is passed over."""
        name = clean_name(raw, NOT_CHECKED_SUFFIXES)
        if name is not None:
            self._count(what)
            shown = self._claim_name(name)
            self.unchecked.append((shown, not_checked_reason(shown)))

    def add_files(self, files) -> None:
        """Save uploaded files (werkzeug ``FileStorage``; names may carry folder paths).

        Files that are not photos by their ending are skipped. Raises :class:`JobRefused` when
        there are too many photos or one is larger than the limit.
        """
        _, _, file_limit = self._limits()
        for f in files:
            name = clean_name(f.filename or "", CHECKED_SUFFIXES)
            if name is None:
                self._not_photo(f.filename or "", "folder")
                continue
            dest = self._next(name, "folder")
            f.save(str(dest))
            most = self._most_bytes(name, file_limit)
            if dest.stat().st_size > most:
                raise JobRefused(413, f"{name}: larger than {most // MB} MB; send a smaller copy.", "file_too_large")

    def add_zip(self, stream, zip_name: str = "The zip") -> None:
        """Unpack the photos of a zip (a seekable file object) safely; ``zip_name``: the name
        the messages give it (the uploaded file's name).

        Zip-slip safe (files are saved under numbers) and zip-bomb safe in two steps: first the
        zip's own table of contents (its central directory) is read, without unpacking anything
        or even listing it when it holds too many entries (:func:`zip_contents`), and the zip is
        refused when it has more photos than ``max_batch_files``, declares more bytes than
        ``max_batch_upload_mb`` (or a photo over ``max_upload_mb``), or compresses a photo more
        than :data:`ZIP_MAX_RATIO` times (no photo format compresses that well; a zip bomb
        does). Then each photo is unpacked with a counter, and the zip is refused the moment a
        photo gives more bytes than the zip declared for it. A refused zip leaves nothing
        (:meth:`discard`)."""
        total_limit, max_files, file_limit = self._limits()
        zip_name = _clean_part(zip_name or "") or "The zip"
        entries = zip_contents(stream, zip_name, max_files)
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError):
            raise JobRefused(400, f"{zip_name} is not a zip archive that can be opened; zip the folder again.",
                             "bad_zip") from None
        with archive:
            members = [(info, clean_name(info.filename, CHECKED_SUFFIXES) if info.filename and not info.is_dir() else None)
                       for info in archive.infolist()]
            if len(members) > entries:  # the central directory holds more than its end record says
                raise JobRefused(400, f"{zip_name} is damaged (its table of contents does not add up); zip the "
                                      "folder again.", "bad_zip")
            photos_in = [(info, name) for info, name in members if name is not None]
            others = sum(1 for info, name in members if name is None and info.filename and not info.is_dir()
                         and clean_name(info.filename, NOT_CHECKED_SUFFIXES) is not None)
            if len(photos_in) + others + len(self.items) + len(self.unchecked) > max_files:
                raise JobRefused(413, f"{zip_name} holds {len(photos_in) + others} photos and videos, more than the "
                                      f"{max_files} a batch may have; split it into smaller zips.", "too_many_files")
            for info, name in photos_in:
                if info.file_size > self._most_bytes(name, file_limit):
                    raise JobRefused(413, f"{name}: larger than {self._most_bytes(name, file_limit) // MB} MB once "
                                          "unzipped; send a smaller copy.", "file_too_large")
            declared = sum(info.file_size for info, _ in photos_in)
            if self.written + declared > total_limit:
                raise JobRefused(413, f"{zip_name} unpacks to more than {total_limit // MB} MB ({declared / MB:,.0f} MB "
                                      "of photos); split it into smaller batches.", "zip_too_large")
            for info, name in photos_in:
                if info.file_size > ZIP_RATIO_FROM and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                    raise JobRefused(413, f"{zip_name}: {name} would unpack to {info.file_size / max(info.compress_size, 1):,.0f} "
                                          f"times its packed size, which no photo does (a 'zip bomb'); zip the photos "
                                          "again from their folder.", "zip_bomb")
            for info, name in members:
                if name is None:
                    if info.filename and not info.is_dir():
                        self._not_photo(info.filename, "zip")
                    continue
                self._unpack(archive, info, name, zip_name, total_limit, self._most_bytes(name, file_limit))

    def _unpack(self, archive, info, name, zip_name: str, total_limit: int, file_limit: int) -> None:
        """Unpack one photo, counting its bytes: refused the moment they pass what the zip declared."""
        dest = self._next(name, "zip")
        size = 0
        try:
            with archive.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(MB):
                    size += len(chunk)
                    self.written += len(chunk)
                    if size > info.file_size:
                        raise JobRefused(400, f"{zip_name}: {name} unpacks to more bytes than the zip says it holds "
                                              "(a damaged or forged zip); zip the photos again from their folder.",
                                         "zip_lies")
                    if size > file_limit:
                        raise JobRefused(413, f"{name}: larger than {file_limit // MB} MB once unzipped; send a smaller copy.", "file_too_large")
                    if self.written > total_limit:
                        raise JobRefused(413, f"{zip_name} unpacks to more than {total_limit // MB} MB; split it into smaller batches.", "zip_too_large")
                    out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError,
                zlib.error) as exc:
            raise JobRefused(400, f"{zip_name}: {name} cannot be unzipped ({exc}); zip the folder again.", "bad_zip") from None

    def discard(self) -> None:
        shutil.rmtree(job_dir(self.place, self.job_id), ignore_errors=True)


# --- jobs -------------------------------------------------------------------------------------


def create(db: sqlite_utils.Database, upload: Upload, user_id: int, channels: list[str] | None,
           caption: str, title: str, *, blur: bool = False, groups: list[str] | None = None) -> list[str]:
    """Record the job and its photos in one transaction; returns the photos' check ids (to queue).

    With ``blur``, a photo with faces not cleared (or a pupil's name in the picture) also gets a
    copy with those blurred, re-checked (as a single check's "Download with faces blurred").
    ``groups``: the year groups or classes who can be in the photos (faces compared with them
    and staff only), kept on each photo.

    Videos and pictures this tool cannot read (``upload.unchecked``) are recorded at once as
    "could not check", with what to do. Raises :class:`JobRefused` when the upload holds
    neither a photo nor such a file.
    """
    if not upload.items and not upload.unchecked:
        raise JobRefused(400, "No photos were found (JPEG, PNG, WebP, TIFF or HEIC) and no videos (MP4, MOV, M4V or WebM). Choose the folder or zip again.", "no_photos")
    now = time.time()
    chans = json.dumps(channels or [])
    who = json.dumps(groups) if groups else None
    entries = [(name, str(path), None) for name, path in upload.items] + [
        (name, None, why) for name, why in upload.unchecked]
    rows = [
        {"id": photos.new_id(), "user_id": user_id, "job_id": upload.job_id, "seq": i, "created_at": now,
         "state": "queued", "name": name, "upload_path": path, "channels": chans, "caption": caption,
         "attempts": 0, "blur": int(blur), "groups": who}
        | (_could_not_check(why, now) if why else {})
        for i, (name, path, why) in enumerate(sorted(entries, key=lambda entry: entry[0].casefold()))
    ]
    with db.atomic():
        db["web_jobs"].insert({
            "id": upload.job_id, "user_id": user_id, "created_at": now, "state": "queued", "channels": chans,
            "caption": caption, "title": title[:200], "total": len(rows), "done": 0, "failed": 0,
            "blur": int(blur), "groups": who,
        })
        db["web_checks"].insert_all(rows)
        refresh_job(db, upload.job_id)
    return [r["id"] for r in rows if r["state"] == "queued"]


def progress(db: sqlite_utils.Database, job_id: str) -> Progress | None:
    """Where a job stands, counted from its photos' rows (the only record of it)."""
    if not db["web_jobs"].count_where("id = ?", [job_id]):
        return None
    states = dict(db.execute(
        "select state, count(*) from web_checks where job_id = ? group by state", [job_id]).fetchall())
    verdicts = dict(db.execute(
        "select verdict, count(*) from web_checks where job_id = ? and state in ('done', 'error') "
        "group by verdict", [job_id]).fetchall())
    total = sum(states.values())
    done = states.get("done", 0) + states.get("error", 0)
    if done == total:
        state = "done"
    elif done or states.get("running"):
        state = "running"
    else:
        state = "queued"
    counts = {k: verdicts.get(k, 0) for k in ("ok", "review", "block", "error")}
    return Progress(state, total, done, states.get("error", 0), counts)


def refresh_job(db: sqlite_utils.Database, job_id: str) -> Progress | None:
    """Copy a job's progress onto its ``web_jobs`` row (for lists of jobs); returns it."""
    p = progress(db, job_id)
    if p is None:
        return None
    changes = {"state": p.state, "total": p.total, "done": p.done, "failed": p.failed}
    job = db["web_jobs"].get(job_id)
    if p.state != "queued" and not job.get("started_at"):
        changes["started_at"] = time.time()
    if p.state == "done" and not job.get("finished_at"):
        changes["finished_at"] = time.time()
    db["web_jobs"].update(job_id, changes)
    return p


# --- one photo --------------------------------------------------------------------------------


def worker_name() -> str:
    """This process as claims name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(db: sqlite_utils.Database, check_id: str, worker: str) -> dict | None:
    """Take a queued photo for ``worker`` (atomic across processes and machines), or None when
    it is done, failed or held by another worker."""
    with db.atomic():
        row = db.execute(
            "update web_checks set state = 'running', worker = ?, claimed_at = ?, "
            "attempts = coalesce(attempts, 0) + 1 where id = ? and state = 'queued' returning id",
            [worker, time.time(), check_id]).fetchone()
    return photos.read(db, check_id) if row else None


def release(db: sqlite_utils.Database, check_id: str, worker: str) -> None:
    """Put a photo this worker holds back in the queue (to be tried again)."""
    with db.atomic():
        db.execute("update web_checks set state = 'queued', worker = null where id = ? and worker = ? "
                   "and state = 'running'", [check_id, worker])


def _test_hook(name: str) -> None:
    """Faults for the fault tests, set in the environment of a worker: ``CONSENT_TEST_SLOW_S``
    (seconds each photo takes longer), ``CONSENT_TEST_RAISE_ON`` / ``CONSENT_TEST_EXIT_ON`` (a
    photo whose name holds that text raises / ends the worker process)."""
    delay = float(os.environ.get("CONSENT_TEST_SLOW_S") or 0)
    if delay:
        time.sleep(delay)
    raise_on, exit_on = os.environ.get("CONSENT_TEST_RAISE_ON"), os.environ.get("CONSENT_TEST_EXIT_ON")
    if raise_on and raise_on in name:
        raise RuntimeError(f"test hook: {name}")
    if exit_on and exit_on in name:
        os._exit(70)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def process(db: sqlite_utils.Database, place: photos.Place, check_id: str, worker: str, *,
            last_try: bool = True, analysed: dict | None = None) -> str:
    """Check one queued photo and store its result; returns ``done``, ``failed`` or ``skipped``.
    ``analysed``: its analysis from another machine (``consent.jobs.remote_queue``), used when it fits.

    Skipped: another worker has it, or it is finished already. A passing failure raises
    :class:`TryAgain` with the photo back in the queue, unless ``last_try``: then, like any
    other failure, the photo is recorded as "could not be checked" with the reason.
    """
    try:
        row = claim(db, check_id, worker)
    except sqlite3.OperationalError as exc:
        if _is_transient(exc):  # nothing taken, nothing to record: the task is tried again later
            raise TryAgain(f"{check_id}: the register is busy ({exc})") from None
        raise
    if row is None:
        return "skipped"
    limit = place.settings.batch_retries + 1
    if row["attempts"] > limit:
        _fail(db, place, row, worker, f"{row['name']}: the checker stopped {limit} times while checking this photo; it was skipped")
        return "failed"
    try:
        _test_hook(row["name"])
        (result, stored), blurred = _check(place, row, analysed)
        if result.error_code == "register_busy":
            raise TryAgain(result.error)
        if result.error:
            _fail(db, place, row, worker, photos.plain(result.error, Path(row["upload_path"]), row["name"]))
            return "failed"
        _store(db, place, row, worker, result, stored, blurred)
        return "done"
    except Exception as exc:
        transient = isinstance(exc, TryAgain) or _is_transient(exc)
        if transient and not last_try:
            release(db, check_id, worker)
            raise TryAgain(str(exc)) from None
        if transient:
            reason = f"{row['name']}: the register stayed busy after {limit} tries; check this photo again later"
        else:  # a bug on one photo must not stop the job; the message says so
            reason = f"{row['name']}: internal error while checking ({type(exc).__name__}); please report it"
        _fail(db, place, row, worker, reason)
        return "failed"


def _check(place: photos.Place, row: dict, analysed: dict | None = None):
    """The library's check of one batch photo (safe copy under the photo's own folder) and its
    stored form, and when the job asked for blurred copies and there is something to blur, the
    same for the blurred copy (under ``blurred/``, re-checked):
    ``((PhotoCheck, StoredCheck or None), (blurred PhotoCheck, StoredCheck) or (None, None))``."""
    channels = json.loads(row["channels"] or "[]") or None
    job = Job(row["upload_path"], row["name"])
    folder = place.check_dir(row["id"])
    groups = json.loads(row["groups"]) if row.get("groups") else None
    options = BatchOptions(channels, row["caption"] or "", str(folder / "safe"), groups=groups)
    result, stored = check_thread.run_batch_photo(place.db_path, place.settings, job, options, analysed)
    blurred = (None, None)
    if row.get("blur") and photos.something_to_blur(result):
        # the original's analysis is in the checker's cache now; only the blurred copy is analysed
        options = BatchOptions(channels, row["caption"] or "", str(folder / "blurred"), blur_unconsented=True,
                               groups=groups)
        blurred = photos.usable_blurred(
            check_thread.run_batch_photo(place.db_path, place.settings, job, options))
    return (result, stored), blurred


def _store(db, place: photos.Place, row: dict, worker: str, result, stored, blurred=(None, None)) -> None:
    """Record the result (and the blurred copy's, if any) while this worker still holds the
    photo; then delete the original."""
    original = Path(row["upload_path"])
    record = photos.result_record(place, row["id"], row["user_id"], original, row["name"],
                                          row["caption"] or "", result, stored, *blurred)
    keep = place.settings.upload_retention_days > 0
    record.update(state="done", upload_path=str(original) if keep else None)
    record.pop("id"), record.pop("created_at")
    if _finish(db, row, worker, record) and not keep:
        original.unlink(missing_ok=True)


def _finish(db, row: dict, worker: str, changes: dict) -> bool:
    """Write a photo's outcome if ``worker`` still holds it; refresh the job. True if written."""
    sets = ", ".join(f"[{k}] = ?" for k in changes)
    with db.atomic():
        written = db.execute(
            f"update web_checks set {sets} where id = ? and worker = ? and state = 'running'",
            [*changes.values(), row["id"], worker]).rowcount
        refresh_job(db, row["job_id"])
    return bool(written)


def _could_not_check(message: str, now: float) -> dict:
    """A photo's columns once it is recorded as "could not check" with ``message``."""
    return {"state": "error", "verdict": "error", "summary": message, "upload_path": None, "expires_at": now}


def _fail(db, place: photos.Place, row: dict, worker: str, message: str) -> None:
    """Record a photo as "could not be checked" with the reason; its files go."""
    if _finish(db, row, worker, _could_not_check(message, time.time())):
        Path(row["upload_path"]).unlink(missing_ok=True)
        shutil.rmtree(place.check_dir(row["id"]), ignore_errors=True)


# --- recovery ---------------------------------------------------------------------------------


def _alive_here(worker: str | None) -> bool | None:
    """Whether a worker of this machine is running (None: it is another machine's)."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # killed, but not yet reaped (its parent was killed too, and no init has reaped it): dead
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def recover(db: sqlite_utils.Database, place: photos.Place, queued_ids: set[str], enqueue) -> int:
    """Put back in the queue every unfinished photo that no task will reach; returns how many.

    A photo held by a worker that has died (a process of this machine that is gone, or a claim
    older than ``batch_claim_timeout_s``) becomes queued again; every queued photo whose id is
    not in ``queued_ids`` (the tasks waiting in the queue) is passed to ``enqueue``. A photo
    queued twice is harmless: :func:`claim` lets only one task check it.
    """
    stale_before = time.time() - place.settings.batch_claim_timeout_s
    for row in list(db.query("select id, worker, claimed_at from web_checks where state = 'running'")):
        if _alive_here(row["worker"]) is False or (row["claimed_at"] or 0) < stale_before:
            release(db, row["id"], row["worker"])
    lost = [r["id"] for r in db.query(
        "select id from web_checks where state = 'queued' and job_id is not null order by created_at, seq")
        if r["id"] not in queued_ids]
    if lost:
        enqueue(lost)
    for (job_id,) in db.execute("select id from web_jobs where state != 'done'").fetchall():
        refresh_job(db, job_id)
    photos.remove_leftovers(db, place)  # files a worker stopped before deleting
    from consent.remote import remove_temp_leftovers

    remove_temp_leftovers()  # photo bytes an analysis process killed mid-photo left in the temporary folder
    return len(lost)


def run_inline(place: photos.Place, check_ids: list[str]) -> None:
    """Check photos in this process, one after another (tests of the pages, no queue)."""
    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    try:
        for check_id in check_ids:
            process(db, place, check_id, worker_name())
    finally:
        db.conn.close()
