"""Register housekeeping: leavers' purge, subject-access export, backup and restore.

- :func:`purge_leavers` deletes leavers' personal data and face templates for good; the audit
  log keeps an anonymised trace ("person #12 purged", with counts, no name and no MIS id) and
  the before/after detail of their earlier audit entries is redacted.
- :func:`export_person` gathers everything the register holds about one person as JSON (for a
  subject access request).
- :func:`backup` copies the register with SQLite's online backup (safe while the web app and
  imports are running) to a temporary file beside the target, then renames it into place.
- :func:`restore` checks a backup, keeps a copy of the current register beside it, and copies
  the backup in; the register version always goes up so no cached check result survives.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RegisterError
from . import identities
from .records import BIOMETRIC, Person, as_date, iso_date, today
from .schema import MIGRATION_SET
from .store import Register

#: what a register export is, for whoever reads the JSON later
EXPORT_FORMAT = "consent-register-export/1"


@dataclass
class PurgeResult:
    """What a purge removed (or, with ``dry_run``, would remove)."""

    left_before: dt.date
    #: the people purged, as they were named before the purge (for the confirmation screen)
    people: list[str] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)
    templates: int = 0
    consents: int = 0
    dry_run: bool = False


def leavers(register: Register, left_before: dt.date | str) -> list[Person]:
    """People whose leaving date is before ``left_before``."""
    cutoff = as_date(left_before, "leaving date")
    rows = register.db.query(
        "SELECT * FROM people WHERE left_on IS NOT NULL AND left_on < ? ORDER BY left_on, id",
        [cutoff.isoformat()],
    )
    return [register.person_from_row(r) for r in rows]


def purge_leavers(register: Register, left_before: dt.date | str, *, dry_run: bool = False,
                  by: str | None = None) -> PurgeResult:
    """Delete everything held about people who left before ``left_before`` (a date).

    Their person record, consent history and face templates are deleted in one transaction;
    their audit entries keep who/what/when but lose their before/after detail; one
    ``person.purge`` entry per person records counts only. A date in the future is refused
    (it would purge pupils who are still on roll). Deleted rows are zeroed in the file
    (``secure_delete``) and the write-ahead log is checkpointed and truncated afterwards, so no
    readable copy of their names, reasons or templates stays on disk (backups excepted).
    """
    cutoff = as_date(left_before, "leaving date")
    if cutoff > today():
        raise RegisterError(
            f"{cutoff} is in the future; purge only people who have already left"
        )
    result = PurgeResult(left_before=cutoff, dry_run=dry_run)
    with register.transaction():
        for person in leavers(register, cutoff):
            conn = register.db.conn
            n_templates = conn.execute(
                "SELECT count(*) FROM templates WHERE person_id = ?", [person.id]).fetchone()[0]
            n_consents = conn.execute(
                "SELECT count(*) FROM consents WHERE person_id = ?", [person.id]).fetchone()[0]
            result.people.append(person.label)
            result.person_ids.append(person.id)
            result.templates += n_templates
            result.consents += n_consents
            if dry_run:
                continue
            register.flush_audit()  # earlier entries of this transaction get redacted too
            register.wipe_after_commit()  # no old copy of their rows stays in the WAL
            conn.execute("DELETE FROM templates WHERE person_id = ?", [person.id])
            conn.execute("DELETE FROM consents WHERE person_id = ?", [person.id])
            conn.execute("DELETE FROM people WHERE id = ?", [person.id])
            identities.forget_person(conn, person.id)  # "this face in that photo is them"
            conn.execute(
                "UPDATE audit SET before = NULL, after = NULL, redacted = 1 "
                "WHERE person_id = ? AND redacted = 0", [person.id],
            )
            register.audit_change(
                "person.purge", person.id,
                after={"summary": f"person #{person.id} purged",
                       "left_on": iso_date(person.left_on), "role": person.role,
                       "templates_deleted": n_templates, "consent_records_deleted": n_consents},
                by=by,
            )
        if not dry_run and result.person_ids:
            register.audit_change(
                "register.purge", None,
                after={"left_before": cutoff.isoformat(), "people": len(result.person_ids),
                       "templates_deleted": result.templates,
                       "consent_records_deleted": result.consents},
                by=by,
            )
    return result


def export_person(register: Register, person) -> dict:
    """Everything the register holds about one person, as a JSON-ready dict.

    Includes the person record (with the never-publish reason: this is an admin export),
    current consent per channel, the full consent history, face templates (metadata and the
    128 numbers) and the audit entries about them.
    """
    p = register.resolve(person, admin=True)
    states = register.consent_states(p.id, include_biometric=True)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "person": p.to_json(admin=True),
        "enrolled": register.enrolled(p.id),
        "consent_now": {ch: s.to_json() for ch, s in states.items()},
        "consent_history": [r.to_json() for r in register.consent_history(p.id)],
        "face_templates": [
            {
                "id": t.id, "enrolled_on": iso_date(t.enrolled_on), "photo_sha256": t.photo_sha256,
                "quality": t.quality, "model": t.model,
                "encoding": [round(float(x), 8) for x in t.encoding],
            }
            for t in register.templates(p.id, with_encodings=True)
        ],
        "audit": [
            {"at": e.at, "by": e.by, "action": e.action, "before": e.before, "after": e.after}
            for e in register.audit(person=p.id)
        ],
        "notes": [
            f"Face templates are stored only while {BIOMETRIC} consent is granted.",
            "The photos used for enrolment are not kept; only their SHA-256 fingerprint is.",
        ],
    }


def write_json_atomic(data, path: str | os.PathLike) -> Path:
    """Write JSON to ``path`` through a temporary file in the same folder (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    return path


def backup(register: Register, dest: str | os.PathLike) -> Path:
    """Copy the whole register to ``dest`` (SQLite online backup; safe while others write).

    The copy is made in a temporary file beside ``dest`` and renamed into place, so ``dest``
    is either the old file or a complete backup. Returns ``dest``.
    """
    dest = Path(dest)
    if dest.exists() and dest.resolve() == register.path.resolve():
        raise RegisterError(f"{dest}: that is the register itself; choose another backup file")
    if dest.is_dir():
        dest = dest / f"consent-{dt.datetime.now():%Y%m%d-%H%M%S}.db"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        target = sqlite3.connect(tmp)
        try:
            register.db.conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # a backup is one self-contained file
        finally:
            target.close()
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        _unlink(tmp)
        raise RegisterError(f"{dest}: the backup could not be written ({exc})") from None
    except BaseException:
        _unlink(tmp)
        raise
    return dest


@dataclass
class RestoreResult:
    source: Path
    #: the register as it was just before the restore (so a mistaken restore can be undone)
    previous_copy: Path
    version: int
    people: int


def check_backup(source: str | os.PathLike) -> int:
    """Check that ``source`` is a readable, intact consent register; returns its people count."""
    source = Path(source)
    if not source.is_file():
        raise RegisterError(f"{source}: backup file not found")
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RegisterError(f"{source}: cannot be opened ({exc})") from None
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise RegisterError(f"{source}: the backup is damaged ({ok}); use an older backup")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"people", "consents", "audit", "_sqlite_migrations"} <= names or not conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]
        ).fetchone():
            raise RegisterError(f"{source}: this is not a consent register backup")
        return conn.execute("SELECT count(*) FROM people").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise RegisterError(f"{source}: not a consent register backup ({exc})") from None
    finally:
        conn.close()


def restore(register: Register, source: str | os.PathLike, by: str | None = None) -> RestoreResult:
    """Replace the register's contents with the backup ``source``.

    The backup is checked first; the current register is kept beside it as
    ``<name>.before-restore-<time>.db``; after copying, pending migrations are applied (an
    older backup is brought up to date), the version is set above both the old and the
    restored version, and the restore is audited.
    """
    source = Path(source)
    if source.resolve() == register.path.resolve():
        raise RegisterError(f"{source}: that is the register itself; choose a backup file")
    check_backup(source)
    old_version = register.version()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    previous = backup(register, register.path.with_name(
        f"{register.path.stem}.before-restore-{stamp}{register.path.suffix or '.db'}"))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        src.backup(register.db.conn)
    except sqlite3.OperationalError as exc:
        raise RegisterError(
            f"the register could not be restored ({exc}); it is unchanged — try again when "
            "nothing else is using it"
        ) from None
    finally:
        src.close()
    register.migrate()
    with register.transaction():
        restored_version = register.version()
        register.db.conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'version'",
            [max(old_version, restored_version)],
        )
        register.audit_change("register.restore", None, after={
            "source": source.name, "previous_copy": previous.name,
            "version_before": old_version, "version_in_backup": restored_version,
        }, by=by)
    people = register.db.conn.execute("SELECT count(*) FROM people").fetchone()[0]
    return RestoreResult(source, previous, register.version(), people)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
