"""The tables of the jobs and of the web app, in the register's SQLite file: :func:`connect`.

The web app opens one connection per request with it (``web.core.db.get_db``); the batch
workers open one per process (``consent.jobs.batch_queue``). These tables (accounts, API
tokens, sign-in failures, checks, batch jobs) are created by their own migration set,
``consent-web``, so they never collide with the register's migrations.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from consent.settings import DEFAULTS

MIGRATIONS = Migrations("consent-web")



@MIGRATIONS()
def m001_accounts(db: sqlite_utils.Database) -> None:
    db["web_users"].create(
        {
            "id": int,
            "username": str,
            "display_name": str,
            "password_hash": str,
            "roles": str,  # comma-separated: office,comms,senior,admin
            "active": int,
            "created_at": float,
        },
        pk="id",
        not_null={"username", "password_hash", "roles", "active"},
    )
    db["web_users"].create_index(["username"], unique=True)
    db["web_api_tokens"].create(
        {
            "id": int,
            "user_id": int,
            "label": str,
            "token_hash": str,
            "created_at": float,
            "last_used_at": float,
            "revoked_at": float,
        },
        pk="id",
        foreign_keys=[("user_id", "web_users", "id")],
    )
    db["web_api_tokens"].create_index(["token_hash"], unique=True)
    db["web_setup_tokens"].create(
        {"token_hash": str, "created_at": float, "used_at": float}, pk="token_hash"
    )
    db["web_login_failures"].create({"key": str, "at": float})
    db["web_login_failures"].create_index(["key", "at"])


@MIGRATIONS()
def m002_checks_and_jobs(db: sqlite_utils.Database) -> None:
    db["web_jobs"].create(
        {
            "id": str,
            "user_id": int,
            "created_at": float,
            "started_at": float,
            "finished_at": float,
            "state": str,  # uploading, queued, running, done
            "channels": str,  # JSON list, empty list for every channel
            "caption": str,
            "title": str,
            "total": int,
            "done": int,
            "failed": int,
        },
        pk="id",
    )
    db["web_checks"].create(
        {
            "id": str,
            "user_id": int,
            "job_id": str,
            "seq": int,
            "created_at": float,
            "state": str,  # queued, running, done, error (batch items); done/error for single
            "name": str,  # the file name the user knows (relative path for batch items)
            "upload_path": str,
            "channels": str,  # JSON list
            "caption": str,
            "verdict": str,
            "summary": str,
            "result": str,  # PhotoCheck JSON, full (names, admin detail); filtered when shown
            "safe_path": str,
            "blurred_path": str,
            "preview_path": str,
            "expires_at": float,
            "review_state": str,  # None, pending, approved, rejected
            "review_requested_by": int,
            "review_requested_at": float,
            "review_request_note": str,
            "reviewed_by": int,
            "reviewed_at": float,
            "review_note": str,
            "worker": str,
        },
        pk="id",
    )
    db["web_checks"].create_index(["job_id", "seq"])
    db["web_checks"].create_index(["state"])
    db["web_checks"].create_index(["review_state"])
    db["web_checks"].create_index(["user_id", "created_at"])


def connect(path: str | Path, busy_timeout_s: float = DEFAULTS.register_busy_timeout_s) -> sqlite_utils.Database:
    """Open the database at ``path`` (WAL, busy timeout) and apply pending web migrations.

    ``busy_timeout_s``: how long a writer waits for another process (batch worker, CLI import)
    to finish its transaction; the register's own setting, since it is the same file.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=busy_timeout_s, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    db.execute("PRAGMA secure_delete = ON")  # as the register: deleted rows are zeroed on disk
    try:
        db.enable_wal()
    except sqlite3.OperationalError:
        pass  # another connection holds a transaction; it is WAL already or will be next time
    if MIGRATIONS.pending(db):
        _apply_with_retry(db)
    return db


def _apply_with_retry(db: sqlite_utils.Database) -> None:
    for attempt in range(5):
        try:
            MIGRATIONS.apply(db)
            return
        except sqlite3.OperationalError:
            # two processes starting at once: the other one may have applied them already
            if attempt == 4:
                raise
            time.sleep(0.2)
            if not MIGRATIONS.pending(db):
                return


@MIGRATIONS()
def m003_web_audit(db: sqlite_utils.Database) -> None:
    db["web_audit"].create(
        {"id": int, "at": float, "by_user": str, "action": str, "check_id": str, "detail": str},
        pk="id",
    )
    db["web_audit"].create_index(["at"])


@MIGRATIONS()
def m010_signoff_channels_and_seen(db: sqlite_utils.Database) -> None:
    """Sign-off: which channels a senior released (JSON list) and when the sender saw the decision."""
    db["web_checks"].add_column("approved_channels", str)
    db["web_checks"].add_column("decision_seen_at", float)


@MIGRATIONS()
def m011_stored_checks(db: sqlite_utils.Database) -> None:
    """Checks kept as judgeable stored checks (person ids, no names); the verdicts a sign-off
    was given on. Checks stored before keep their result, minus names and admin-only detail."""
    db["web_checks"].add_column("stored", str)  # consent.rejudge.StoredCheck JSON (+ blurred)
    db["web_checks"].add_column("review_basis", str)  # JSON {channel: verdict} when approved
    for row in list(db.query("select id, result from web_checks where result is not null")):
        data = json.loads(row["result"])
        for face in data.get("faces", []):
            face["person_name"] = None
        for reason in data.get("reasons", []):
            reason.pop("admin_detail", None)
        db["web_checks"].update(row["id"], {"result": json.dumps(data)})


@MIGRATIONS()
def m012_batch_queue_claims(db: sqlite_utils.Database) -> None:
    """Batch photos on the task queue: when a worker took one, and how many times it was taken."""
    db["web_checks"].add_column("claimed_at", float)
    db["web_checks"].add_column("attempts", int)
    db["web_checks"].create_index(["job_id", "state"])


@MIGRATIONS()
def m013_sessions_browsers_token_expiry(db: sqlite_utils.Database) -> None:
    """Server-side sign-in sessions, browsers known to an account, API token expiry."""
    db["web_sessions"].create(
        {"id": str, "user_id": int, "created_at": float, "seen_at": float},
        pk="id", foreign_keys=[("user_id", "web_users", "id")],
    )
    db["web_sessions"].create_index(["user_id"])
    db["web_known_browsers"].create(
        {"id": str, "user_id": int, "seen_at": float}, pk="id", foreign_keys=[("user_id", "web_users", "id")],
    )
    db["web_api_tokens"].add_column("expires_at", float)
    db.execute("update web_api_tokens set expires_at = created_at + 365 * 86400")


@MIGRATIONS()
def m014_batch_blurred_copies(db: sqlite_utils.Database) -> None:
    """Batch jobs that also make blurred copies (a job's choice, kept on each of its photos)."""
    db["web_jobs"].add_column("blur", int)
    db["web_checks"].add_column("blur", int)


@MIGRATIONS()
def m015_batch_year_groups(db: sqlite_utils.Database) -> None:
    """Batch jobs restricted to the year groups or classes who can be in the photos (JSON list)."""
    db["web_jobs"].add_column("groups", str)
    db["web_checks"].add_column("groups", str)


@MIGRATIONS()
def m016_safeguarding_lead(db: sqlite_utils.Database) -> None:
    """Users marked as designated safeguarding lead (0/1, beside their roles): only they decide
    sign-offs of photos holding a never-publish pupil."""
    db["web_users"].add_column("safeguarding_lead", int, not_null_default=0)


@MIGRATIONS()
def m017_clip_blurred_copies(db: sqlite_utils.Database) -> None:
    """A blurred copy of a clip asked for on the check page, made by a worker
    (``consent.jobs.clip_blur``): one row per check, its state and how far it has got."""
    db["web_clip_blurs"].create(
        {"check_id": str, "state": str, "asked_by": str, "asked_at": float, "worker": str,
         "claimed_at": float, "updated_at": float, "frame": int, "frames": int, "phase": str,
         "message": str},
        pk="check_id",
    )
