"""The consent register: people, consent per channel, never-publish flags, face templates, audit.

One SQLite file (``data/consent.db`` by default; ``CONSENT_DB`` or an explicit path changes it)
in WAL mode, reached through sqlite-utils. :class:`Register` opens it, applies pending schema
migrations (:mod:`consent.register.schema`) and is cheap enough to open once per web request.

Rules the register keeps, whoever calls it:

- every change is written to the append-only audit log (who, what, when, before, after) in the
  same transaction, and every transaction that changes something bumps the register
  :meth:`~Register.version` (the check's result cache keys on it);
- writers take the write lock up front (``BEGIN IMMEDIATE``), so two writers queue instead of
  deadlocking; a writer that waits longer than ``settings.register_busy_timeout_s`` gets
  :class:`~consent.errors.RegisterBusy`, never a half-written register;
- missing consent means no consent; a withdrawal takes effect at once; the full history stays;
- a face template is only stored while biometric consent is granted, and refusing or
  withdrawing biometric consent deletes the person's templates in the same transaction;
- each template names the face model that made it; only the current model's are matched
  (:meth:`~Register.gallery`), and a person's old-model templates are deleted once they have
  one of the current model (:meth:`~Register.needs_new_photo` lists who has not yet);
- the never-publish reason is only returned to callers who ask as admins.

The records it returns (:class:`Person`, :class:`ConsentState`, ...) and the rules for cleaning
names, year groups and dates live in :mod:`consent.register.records` (re-exported here); the
schema in :mod:`consent.register.schema`. Leavers' purge, subject-access export and
backup/restore live in :mod:`consent.register.housekeeping`; the MIS CSV import in :mod:`consent.register.mis`;
enrolment from photos in :mod:`consent.register.enrolment`; matching in :mod:`consent.register.matching`.
"""

from __future__ import annotations

import contextlib
import errno
import datetime as dt
import getpass
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import (
    AmbiguousPerson,
    NoBiometricConsent,
    PersonNotFound,
    RegisterBusy,
    RegisterFull,
    RegisterError,
    UnknownChannel,
)
from .records import (
    BIOMETRIC,
    PERSON_FIELDS,
    RECORDED_STATUSES,
    STATUSES,
    AuditEntry,
    Channel,
    ConsentRecord,
    ConsentState,
    EnrolmentStrength,
    PHOTOS_AGREE,
    PHOTOS_DISAGREE,
    Person,
    Template,
    TemplateDue,
    as_date,
    channel_key,
    clean_person_fields,
    consent_record_from_row,
    from_iso,
    iso_date,
    name_key,
    normalise_year,
    today,
)
from ..settings import DEFAULTS, Settings, data_dir
from ..vision.faces import RECOGNISER
from .schema import migrations

BUSY_MESSAGE = "the register is busy (another import or check is writing); try again in a minute"

#: why a person's templates of an old face model were deleted (they had one of the current model)
REPLACED_BY_NEW_MODEL = "replaced by a template of the new face model"

_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

def default_path() -> Path:
    """Where the register lives unless told otherwise: ``$CONSENT_DB`` or ``data/consent.db``."""
    return Path(os.environ.get("CONSENT_DB") or data_dir() / "consent.db")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full", or the system's "no space left on device"."""
    return "is full" in str(exc).lower() or getattr(exc, "errno", None) == errno.ENOSPC


# --- the register --------------------------------------------------------------------------


class Register:
    """An open consent register. Use as a context manager, or call :meth:`close`.

    ``Register(path=None, settings=DEFAULTS, create=True, user=None)``: ``path`` defaults to
    :func:`default_path`; ``create=False`` raises :class:`RegisterError` when there is no
    register there yet; ``user`` is who changes are audited as (default: the OS user name),
    and every changing method also takes ``by=`` to override it.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        settings: Settings = DEFAULTS,
        create: bool = True,
        user: str | None = None,
        busy_timeout: float | None = None,
    ):
        from sqlite_utils import Database

        self.path = Path(path) if path else default_path()
        self.settings = settings
        self.user = user or _default_user()
        self.busy_timeout = settings.register_busy_timeout_s if busy_timeout is None else busy_timeout
        if not self.path.exists():
            if not create:
                raise RegisterError(
                    f"{self.path}: there is no consent register here yet; "
                    "create it with 'consent register init'"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise RegisterError(f"{self.path}: cannot open the register ({exc})") from None
        self.db = Database(conn, execute_plugins=False)
        self._changed = False
        self._stamp: str | None = None
        self._audit_rows: list[tuple] = []
        self._wipe = False
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # deleted rows are overwritten with zeros, not left readable in free pages
            conn.execute("PRAGMA secure_delete = ON")
            self._check_is_register()
            self.db.enable_wal()
            self.migrate()
        except sqlite3.OperationalError as exc:
            conn.close()
            if _is_busy(exc):
                raise RegisterBusy(BUSY_MESSAGE) from None
            raise RegisterError(f"{self.path}: cannot open the register ({exc})") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise RegisterError(
                f"{self.path}: is not a consent register or is damaged ({exc}); "
                "restore it from a backup"
            ) from None
        except BaseException:
            conn.close()
            raise

    def _check_is_register(self) -> None:
        names = {r[0] for r in self.db.conn.execute("SELECT name FROM sqlite_master")}
        if names and "people" not in names and "_sqlite_migrations" not in names:
            raise RegisterError(
                f"{self.path}: this SQLite file is not a consent register; choose another path"
            )

    # --- lifecycle ---------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending schema migrations under the write lock; returns their names."""
        pending = [m.name for m in migrations.pending(self.db)]
        if not pending:
            return []
        with self.transaction():
            pending = [m.name for m in migrations.pending(self.db)]  # another process may have won
            migrations.apply(self.db)
        return pending

    def schema(self) -> list[str]:
        """Names of the schema migrations applied to this register, oldest first."""
        return [m.name for m in migrations.applied(self.db)]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Register":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Register"]:
        """Write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``; nested calls join the outer one.

        Bumps the register version once if anything was audited inside it. A writer that waits
        longer than the busy timeout gets :class:`RegisterBusy`; nothing is half-written.
        """
        conn = self.db.conn
        if conn.in_transaction:
            pending = len(self._audit_rows)
            try:
                with self.db.atomic():
                    yield self
            except BaseException:
                del self._audit_rows[pending:]  # the savepoint's changes were rolled back
                raise
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise RegisterBusy(BUSY_MESSAGE) from None
            raise
        self._changed = False
        self._stamp = _now()
        self._audit_rows = []
        try:
            yield self
            self.flush_audit()
            if self._changed:
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")
            conn.execute("COMMIT")
            if self._wipe:
                self.checkpoint()
        except (sqlite3.OperationalError, OSError) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise RegisterBusy(BUSY_MESSAGE) from None
            if _is_full(exc):
                raise RegisterFull(
                    f"{self.path}: the disk is full, so nothing was changed (the register is as it "
                    "was); free some space and try again"
                ) from None
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._changed = False
            self._stamp = None
            self._audit_rows = []
            self._wipe = False

    def wipe_after_commit(self) -> None:
        """Ask for :meth:`checkpoint` once the open transaction commits: it deleted personal
        data (a purge, face templates) whose old copies must not stay in the write-ahead log."""
        self._wipe = True

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file and truncate it to nothing, so the
        deleted rows' old page copies are gone from disk (``secure_delete`` zeroed them in the
        file). Waits for readers like any writer; returns False when one kept it from finishing.
        """
        try:
            busy, _, _ = self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:  # the change is committed; the next checkpoint will do
            return False
        return not busy

    def _time(self) -> str:
        """Timestamp for records: one per transaction, so a change's rows all agree."""
        return self._stamp or _now()

    def version(self) -> int:
        """Register version: goes up with every committed change to people, consent, flags,
        templates or channels. Results computed against version N stay valid while it is N."""
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    # --- audit -------------------------------------------------------------------------

    def audit_change(self, action: str, person_id: int | None = None, before=None, after=None,
               by: str | None = None) -> None:
        """Queue one audit entry; it is written with the transaction (which must be open)."""
        assert self.db.conn.in_transaction, "audit entries are written inside transaction()"
        self._audit_rows.append(
            (self._time(), by or self.user, action, person_id, _dump(before), _dump(after))
        )
        self._changed = True

    def flush_audit(self) -> None:
        """Write the queued audit entries (one executemany) inside the open transaction."""
        if self._audit_rows:
            self.db.conn.executemany(
                "INSERT INTO audit (at, by_user, action, person_id, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._audit_rows,
            )
            self._audit_rows = []

    def audit(
        self,
        since: dt.date | str | None = None,
        person: int | str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, oldest first, optionally from a date on, about one person (id, MIS id
        or name), or of one action (prefix match: ``consent`` finds ``consent.set``)."""
        if self.db.conn.in_transaction:
            self.flush_audit()
        where, params = [], []
        if since:
            where.append("a.at >= ?")
            params.append(iso_date(as_date(since, "since date")))
        if person is not None:
            pid = person if isinstance(person, int) else self.find_person(person).id
            where.append("a.person_id = ?")
            params.append(pid)
        if action:
            where.append("(a.action = ? OR a.action LIKE ?)")
            params += [action, action + ".%"]
        sql = (
            "SELECT a.*, p.mis_id, p.legal_forename, p.legal_surname, p.preferred_forename, "
            "p.preferred_surname FROM audit a LEFT JOIN people p ON p.id = a.person_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY a.id DESC" if limit else " ORDER BY a.id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        entries = []
        for row in self.db.query(sql, params):
            label = None
            if row["person_id"] is not None:
                if row["mis_id"]:
                    first = row["preferred_forename"] or row["legal_forename"]
                    last = row["preferred_surname"] or row["legal_surname"]
                    label = f"{first} {last} ({row['mis_id']})"
                else:
                    label = f"person #{row['person_id']} (purged)"
            entries.append(AuditEntry(
                id=row["id"], at=row["at"], by=row["by_user"], action=row["action"],
                person_id=row["person_id"], person_label=label,
                before=_load(row["before"]), after=_load(row["after"]),
                redacted=bool(row["redacted"]),
            ))
        return entries[::-1] if limit else entries

    # --- channels ----------------------------------------------------------------------

    def channels(self, include_biometric: bool = False) -> list[Channel]:
        """Channels in register order (built-in ones first); publication channels only unless
        ``include_biometric``."""
        rows = self.db.conn.execute(
            "SELECT name, label, kind, builtin FROM channels ORDER BY builtin DESC, rowid"
        ).fetchall()
        return [
            Channel(name=r[0], label=r[1], kind=r[2], builtin=bool(r[3]))
            for r in rows
            if include_biometric or r[2] != BIOMETRIC
        ]

    def channel_names(self, include_biometric: bool = False) -> list[str]:
        return [c.name for c in self.channels(include_biometric)]

    def channel(self, name: str) -> Channel:
        """A channel by name or label (``Social Media`` finds ``social_media``)."""
        wanted = channel_key(name)
        for ch in self.channels(include_biometric=True):
            if wanted in (ch.name, channel_key(ch.label)):
                return ch
        known = ", ".join(self.channel_names(include_biometric=True))
        raise UnknownChannel(f"unknown channel {name!r}; the channels are: {known}")

    def add_channel(self, name: str, label: str | None = None, by: str | None = None) -> Channel:
        """Add a publication channel (e.g. ``prospectus``); its name is lower case a-z, 0-9, _."""
        key = channel_key(name)
        if not _CHANNEL_NAME.match(key):
            raise RegisterError(
                f"channel name {name!r} is not usable; use letters, digits and underscores, "
                "starting with a letter (e.g. 'prospectus')"
            )
        label = (label or key.replace("_", " ").capitalize()).strip()
        with self.transaction():
            if self.db.conn.execute("SELECT 1 FROM channels WHERE name = ?", [key]).fetchone():
                raise RegisterError(f"there is already a channel called {key!r}")
            self.db.conn.execute(
                "INSERT INTO channels (name, label, kind, builtin, created_at) "
                "VALUES (?, ?, 'publication', 0, ?)",
                [key, label, self._time()],
            )
            self.audit_change("channel.add", after={"name": key, "label": label}, by=by)
        return self.channel(key)

    # --- people ------------------------------------------------------------------------

    def person_from_row(self, row: dict, admin: bool = False) -> Person:
        return Person(
            id=row["id"], mis_id=row["mis_id"], role=row["role"],
            legal_forename=row["legal_forename"], legal_surname=row["legal_surname"],
            preferred_forename=row["preferred_forename"],
            preferred_surname=row["preferred_surname"],
            year_group=row["year_group"], form=row["form"], left_on=from_iso(row["left_on"]),
            never_publish=bool(row["never_publish"]),
            never_publish_since=from_iso(row["never_publish_since"]),
            never_publish_reason=row["never_publish_reason"] if admin else None,
            created_at=row["created_at"], updated_at=row["updated_at"],
        )

    def get_person(self, person_id: int, admin: bool = False) -> Person:
        """The person with this register id; :class:`PersonNotFound` if there is none."""
        rows = list(self.db.query("SELECT * FROM people WHERE id = ?", [person_id]))
        if not rows:
            raise PersonNotFound(f"there is no person #{person_id} in the register")
        return self.person_from_row(rows[0], admin)

    def people_by_id(self, person_ids: Iterable[int], admin: bool = False) -> dict[int, Person]:
        """Several people at once (ids not in the register are left out)."""
        ids = sorted(set(int(i) for i in person_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"SELECT * FROM people WHERE id IN ({marks})", ids)
        return {r["id"]: self.person_from_row(r, admin) for r in rows}

    def person_by_mis_id(self, mis_id: str, admin: bool = False) -> Person | None:
        """The person with this MIS id (any case), or None."""
        rows = list(self.db.query("SELECT * FROM people WHERE mis_id = ?", [str(mis_id).strip()]))
        return self.person_from_row(rows[0], admin) if rows else None

    def find_person(self, query: str, admin: bool = False) -> Person:
        """A person by MIS id (any case), ``#id``, or an unambiguous name.

        Names match whatever mix of legal and preferred names is given, ignoring case, accents
        and apostrophes (``zoe obrien`` finds Zoë O'Brien); a partial name (one word) is fine
        when only one person has it. Raises :class:`PersonNotFound` or
        :class:`AmbiguousPerson` (whose message lists the candidates).
        """
        text = str(query).strip()
        if not text:
            raise PersonNotFound("no person given; use their MIS id (UPN or admission number)")
        if re.fullmatch(r"#\d+", text):
            return self.get_person(int(text[1:]), admin)
        by_id = self.person_by_mis_id(text, admin)
        if by_id is not None:
            return by_id
        wanted = name_key(text)
        tokens = set(wanted.split())
        if not tokens:
            raise PersonNotFound(f"nobody in the register matches {text!r}")
        exact, partial = [], []
        for row in self.db.query("SELECT * FROM people"):
            firsts = {name_key(row["legal_forename"]), name_key(row["preferred_forename"] or "")}
            lasts = {name_key(row["legal_surname"]), name_key(row["preferred_surname"] or "")}
            fulls = {f"{f} {s}" for f in firsts if f for s in lasts if s}
            if wanted in fulls:
                exact.append(row)
                continue
            words = {w for name in firsts | lasts for w in name.split()}
            if tokens <= words:
                partial.append(row)
        found = exact or partial
        if len(found) == 1:
            return self.person_from_row(found[0], admin)
        if not found:
            raise PersonNotFound(
                f"nobody in the register matches {text!r}; check the spelling or use the MIS id"
            )
        people = [self.person_from_row(r) for r in found]
        listed = "; ".join(p.label for p in people[:6])
        more = f" and {len(people) - 6} more" if len(people) > 6 else ""
        raise AmbiguousPerson(
            f"{text!r} matches {len(people)} people: {listed}{more}; use the MIS id instead"
        )

    def resolve(self, person: "Person | int | str", admin: bool = False) -> Person:
        """A :class:`Person` from a Person, a register id, or a MIS id / name."""
        if isinstance(person, Person):
            return person if not admin else self.get_person(person.id, admin=True)
        if isinstance(person, int):
            return self.get_person(person, admin)
        return self.find_person(person, admin)

    def add_person(
        self,
        mis_id: str,
        legal_forename: str,
        legal_surname: str,
        *,
        role: str = "pupil",
        preferred_forename: str | None = None,
        preferred_surname: str | None = None,
        year_group: str | None = None,
        form: str | None = None,
        left_on: dt.date | str | None = None,
        by: str | None = None,
    ) -> Person:
        """Add one pupil or member of staff; :class:`RegisterError` if the MIS id is taken."""
        values = clean_person_fields(dict(
            mis_id=mis_id, role=role, legal_forename=legal_forename,
            legal_surname=legal_surname, preferred_forename=preferred_forename,
            preferred_surname=preferred_surname, year_group=year_group, form=form,
            left_on=left_on,
        ))
        with self.transaction():
            existing = self.db.conn.execute(
                "SELECT id FROM people WHERE mis_id = ?", [values["mis_id"]]
            ).fetchone()
            if existing:
                raise RegisterError(
                    f"MIS id {values['mis_id']} is already in the register (person "
                    f"#{existing[0]}); change them with an import or choose another id"
                )
            person_id = self.insert_person_row(values, by)
        return self.get_person(person_id)

    def insert_person_row(self, values: dict, by: str | None) -> int:
        """Insert a cleaned person row and audit it (caller holds the transaction).

        A person's id is never used again, even after a purge: stored checks and publication
        records keep person ids, and a new pupil must not inherit a purged pupil's photos. The
        audit log keeps every id it has seen (a purge redacts entries but keeps their ids), so
        the next id is above both the people table's and the audit log's highest.
        """
        stamp = self._time()
        cols = list(PERSON_FIELDS)
        next_id = self.db.conn.execute(
            "SELECT max(coalesce((SELECT max(id) FROM people), 0), "
            "coalesce((SELECT max(person_id) FROM audit), 0)) + 1"
        ).fetchone()[0]
        self.db.conn.execute(
            f"INSERT INTO people (id, {', '.join(cols)}, created_at, updated_at) "
            f"VALUES (?, {', '.join('?' * len(cols))}, ?, ?)",
            [next_id] + [values.get(c) for c in cols] + [stamp, stamp],
        )
        self.audit_change("person.add", next_id, after={c: values.get(c) for c in cols}, by=by)
        return next_id

    def update_person(self, person: "Person | int | str", by: str | None = None, **changes) -> Person:
        """Change some of a person's details (fields as :func:`add_person`); audited."""
        unknown = set(changes) - set(PERSON_FIELDS)
        if unknown:
            raise RegisterError(f"cannot change {', '.join(sorted(unknown))} of a person")
        with self.transaction():
            current = self.resolve(person)
            self.apply_person_changes(current, changes, by)
        return self.get_person(current.id)

    def apply_person_changes(self, current: Person, changes: dict, by: str | None) -> dict:
        """Apply changed fields (caller holds the transaction); returns {field: (old, new)}."""
        old = {c: getattr(current, c) for c in PERSON_FIELDS}
        old["left_on"] = iso_date(current.left_on)
        new = clean_person_fields({**old, **changes})
        diff = {k: (old[k], new[k]) for k in PERSON_FIELDS if old[k] != new[k]}
        if not diff:
            return {}
        if "mis_id" in diff:
            clash = self.db.conn.execute(
                "SELECT id FROM people WHERE mis_id = ? AND id <> ?", [new["mis_id"], current.id]
            ).fetchone()
            if clash:
                raise RegisterError(f"MIS id {new['mis_id']} already belongs to person #{clash[0]}")
        sets = ", ".join(f"{k} = ?" for k in diff)
        self.db.conn.execute(
            f"UPDATE people SET {sets}, updated_at = ? WHERE id = ?",
            [new[k] for k in diff] + [self._time(), current.id],
        )
        self.audit_change(
            "person.update", current.id,
            before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()},
            by=by,
        )
        return diff

    def people(
        self,
        *,
        year: str | None = None,
        form: str | None = None,
        role: str | None = None,
        on_roll: bool | None = None,
        channel: str | None = None,
        status: str | None = None,
        on: dt.date | None = None,
        admin: bool = False,
    ) -> list[Person]:
        """People sorted by surname, first name; filters combine (all must hold).

        ``year`` and ``form`` match exactly (``year="7"`` also matches "Year 7" typed by hand);
        ``on_roll`` True/False keeps people on roll / leavers on ``on`` (default today);
        ``channel`` with ``status`` keeps people whose consent state for that channel is
        ``status`` (``granted``, ``refused``, ``withdrawn``, ``expired``, ``missing``), or,
        with ``status="not_granted"``, anything but granted (``channel`` alone filters nothing).
        """
        where, params = [], []
        if year:
            where.append("year_group = ? COLLATE NOCASE")
            params.append(normalise_year(year))
        if form:
            where.append("form = ? COLLATE NOCASE")
            params.append(form.strip())
        if role:
            where.append("role = ?")
            params.append(role)
        day = on or today()
        if on_roll is True:
            where.append("(left_on IS NULL OR left_on > ?)")
            params.append(day.isoformat())
        elif on_roll is False:
            where.append("left_on IS NOT NULL AND left_on <= ?")
            params.append(day.isoformat())
        sql = "SELECT * FROM people"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(preferred_surname, legal_surname) COLLATE NOCASE, " \
               "coalesce(preferred_forename, legal_forename) COLLATE NOCASE, id"
        found = [self.person_from_row(r, admin) for r in self.db.query(sql, params)]
        if channel and status:
            name = self.channel(channel).name
            if status not in STATUSES + ("not_granted",):
                raise RegisterError(
                    f"unknown consent status {status!r}; use one of {', '.join(STATUSES)} "
                    "or not_granted"
                )
            states = self.consent_states_many([p.id for p in found], on=day, channels=[name])
            if status == "not_granted":
                found = [p for p in found if not states[p.id][name].granted]
            else:
                found = [p for p in found if states[p.id][name].status == status]
        return found

    # --- never publish -----------------------------------------------------------------

    def set_never_publish(self, person, reason: str, by: str | None = None) -> Person:
        """Flag a person never to be published on any channel; ``reason`` is admin-only."""
        reason = (reason or "").strip()
        if not reason:
            raise RegisterError(
                "give a reason for the never-publish flag (e.g. 'looked-after child'); "
                "only admins will see it"
            )
        with self.transaction():
            current = self.resolve(person, admin=True)
            if current.never_publish and current.never_publish_reason == reason:
                return current
            self.db.conn.execute(
                "UPDATE people SET never_publish = 1, never_publish_reason = ?, "
                "never_publish_since = coalesce(never_publish_since, ?), updated_at = ? "
                "WHERE id = ?",
                [reason, today().isoformat(), self._time(), current.id],
            )
            self.audit_change(
                "flag.never_publish", current.id,
                before={"never_publish": current.never_publish,
                        "reason": current.never_publish_reason},
                after={"never_publish": True, "reason": reason}, by=by,
            )
        return self.get_person(current.id, admin=True)

    def clear_never_publish(self, person, by: str | None = None) -> Person:
        """Remove the never-publish flag (consent per channel applies again)."""
        with self.transaction():
            current = self.resolve(person, admin=True)
            if not current.never_publish:
                return current
            self.db.conn.execute(
                "UPDATE people SET never_publish = 0, never_publish_reason = NULL, "
                "never_publish_since = NULL, updated_at = ? WHERE id = ?",
                [self._time(), current.id],
            )
            self.audit_change(
                "flag.never_publish_cleared", current.id,
                before={"never_publish": True, "reason": current.never_publish_reason},
                after={"never_publish": False}, by=by,
            )
        return self.get_person(current.id, admin=True)

    # --- consent -----------------------------------------------------------------------

    def record_consent(
        self,
        person,
        channel: str,
        status: str,
        *,
        until: dt.date | str | None = None,
        note: str | None = None,
        source: str = "admin",
        recorded_on: dt.date | str | None = None,
        by: str | None = None,
    ) -> ConsentState:
        """Record ``granted``, ``refused`` or ``withdrawn`` for one person and channel.

        Takes effect at once (``recorded_on`` defaults to today; give the form's date to
        backdate a paper form). ``until`` is the last day a grant is valid. Refusing or
        withdrawing ``biometric`` consent deletes the person's face templates in the same
        transaction. Returns the state now in force.
        """
        status = (status or "").strip().lower()
        if status not in RECORDED_STATUSES:
            raise RegisterError(
                f"consent status {status!r} is not one of: grant(ed), refuse(d), withdraw(n)"
            )
        until_d = as_date(until, "expiry date")
        on_d = as_date(recorded_on, "date") or today()
        if until_d and status != "granted":
            raise RegisterError("an expiry date (--until) only applies to granted consent")
        if until_d and until_d < on_d:
            raise RegisterError(f"the expiry date {until_d} is before the consent date {on_d}")
        if on_d > today():
            raise RegisterError(
                f"the consent date {on_d} is in the future; record consent on or after the day "
                "it is given"
            )
        with self.transaction():
            current = self.resolve(person)
            ch = self.channel(channel)
            before = self.consent_state(current.id, ch.name)
            self.insert_consent(current.id, ch.name, status, on_d, until_d, source, note, by,
                                 before=before)
        return self.consent_state(current.id, ch.name)

    def insert_consent(self, person_id: int, channel: str, status: str, recorded_on: dt.date,
                        until: dt.date | None, source: str, note: str | None, by: str | None,
                        before: ConsentState | None = None, audit: bool = True) -> None:
        """Insert one consent row (caller holds the transaction), deleting templates first when
        biometric consent is refused or withdrawn."""
        if channel == BIOMETRIC and status != "granted":
            self._delete_templates(person_id, f"biometric consent {status}", by)
            self.wipe_after_commit()
        self.db.conn.execute(
            "INSERT INTO consents (person_id, channel, status, recorded_on, until, source, note, "
            "recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [person_id, channel, status, recorded_on.isoformat(), iso_date(until), source,
             (note or None), by or self.user, self._time()],
        )
        if audit:
            self.audit_change(
                "consent.set", person_id,
                before=before.to_json() if before else None,
                after={"channel": channel, "status": status, "since": recorded_on.isoformat(),
                       "until": iso_date(until), "source": source, "note": note or None},
                by=by,
            )

    def latest_consent_id(self, person_id: int, channel: str) -> int | None:
        """The id of the newest consent record for one person and channel (None: none yet)."""
        row = self.db.conn.execute(
            "SELECT max(id) FROM consents WHERE person_id = ? AND channel = ?",
            [person_id, channel_key(channel)],
        ).fetchone()
        return row[0] if row else None

    def undo_consent(self, person, channel: str, record_id: int, within_s: float,
                     by: str | None = None) -> ConsentState:
        """Take back a consent record made by mistake, within ``within_s`` seconds of recording
        it and only while it is the newest for its channel; audited as ``consent.undo``. The
        consent in force before it applies again. A refused or withdrawn biometric consent
        cannot be undone (the face templates are already deleted). Returns the state now."""
        with self.transaction():
            current = self.resolve(person)
            ch = self.channel(channel)
            row = self.db.conn.execute(
                "SELECT id, status, recorded_at FROM consents WHERE id = ? AND person_id = ? AND channel = ?",
                [record_id, current.id, ch.name],
            ).fetchone()
            if row is None or row[0] != self.latest_consent_id(current.id, ch.name):
                raise RegisterError("that consent change cannot be undone: a newer one was recorded since")
            age = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(row[2])).total_seconds()
            if age > within_s:
                raise RegisterError(
                    f"that consent change is more than {int(within_s)} seconds old; record the "
                    "right consent instead")
            if ch.name == BIOMETRIC and row[1] != "granted":
                raise RegisterError("face templates were deleted when biometric consent was "
                                    "refused or withdrawn; record the consent again and re-enrol")
            before = self.consent_state(current.id, ch.name)
            self.db.conn.execute("DELETE FROM consents WHERE id = ?", [record_id])
            after = self.consent_state(current.id, ch.name)
            self.audit_change("consent.undo", current.id, before=before.to_json(),
                              after={**after.to_json(), "channel": ch.name}, by=by)
        return self.consent_state(current.id, ch.name)

    def consent_state(self, person_id: int, channel: str, on: dt.date | None = None) -> ConsentState:
        """The consent in force for one person and channel on ``on`` (default today).

        ``channel`` is a channel name (``social_media``; a label such as "Social media" is
        folded to it); an unknown channel has no consent: ``missing``.
        """
        name = channel_key(channel)
        return self.consent_states_many([person_id], on=on, channels=[name])[person_id][name]

    def consent_states(self, person_id: int, on: dt.date | None = None,
                       include_biometric: bool = False) -> dict[str, ConsentState]:
        """Every channel's consent state for one person: {channel: ConsentState}."""
        names = self.channel_names(include_biometric)
        return self.consent_states_many([person_id], on=on, channels=names)[person_id]

    def consent_states_many(
        self,
        person_ids: Iterable[int],
        on: dt.date | None = None,
        channels: Iterable[str] | None = None,
    ) -> dict[int, dict[str, ConsentState]]:
        """Consent states for many people at once (one query): {person_id: {channel: state}}.

        ``channels`` defaults to every publication channel (names as stored: ``social_media``). The state is the latest record
        made on or before ``on``; a grant whose ``until`` has passed is ``expired``; no record
        is ``missing``.
        """
        ids = sorted(set(int(i) for i in person_ids))
        names = list(channels) if channels is not None else self.channel_names()
        day = (on or today()).isoformat()
        missing = {ch: ConsentState(ch, "missing") for ch in names}  # immutable: shared
        result = {pid: dict(missing) for pid in ids}
        if not ids or not names:
            return result
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            cmarks = ",".join("?" * len(names))
            rows = self.db.conn.execute(
                f"""SELECT c.person_id, c.channel, c.status, c.recorded_on, c.until, c.source,
                           c.note
                    FROM consents c
                    JOIN (SELECT max(id) AS id FROM consents
                          WHERE person_id IN ({marks}) AND channel IN ({cmarks})
                            AND recorded_on <= ?
                          GROUP BY person_id, channel) latest ON latest.id = c.id""",
                [*chunk, *names, day],
            )
            for pid, ch, status, since, until, source, note in rows:
                if status == "granted" and until and until < day:
                    status = "expired"
                result[pid][ch] = ConsentState(
                    ch, status, from_iso(since), from_iso(until), source, note
                )
        return result

    def consent_history(self, person_id: int, channel: str | None = None) -> list[ConsentRecord]:
        """Every consent record for a person (optionally one channel), oldest first."""
        sql = "SELECT * FROM consents WHERE person_id = ?"
        params: list = [person_id]
        if channel:
            sql += " AND channel = ?"
            params.append(self.channel(channel).name)
        return [consent_record_from_row(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def withdrawals(self, since: dt.date | str, until: dt.date | str | None = None
                    ) -> list[tuple[Person, ConsentRecord]]:
        """Withdrawals recorded from ``since`` (a date) on, newest first, with the person."""
        params = [iso_date(as_date(since, "since date"))]
        sql = "SELECT * FROM consents WHERE status = 'withdrawn' AND recorded_on >= ?"
        if until:
            sql += " AND recorded_on <= ?"
            params.append(iso_date(as_date(until, "date")))
        records = [consent_record_from_row(r) for r in self.db.query(sql + " ORDER BY recorded_on DESC, id DESC", params)]
        people = self.people_by_id(r.person_id for r in records)
        return [(people[r.person_id], r) for r in records if r.person_id in people]

    # --- face templates ----------------------------------------------------------------

    def biometric_granted(self, person_id: int, on: dt.date | None = None) -> bool:
        return self.consent_state(person_id, BIOMETRIC, on).granted

    def add_template(
        self,
        person,
        encoding,
        photo_sha256: str,
        quality: float,
        *,
        enrolled_on: dt.date | None = None,
        model: str = RECOGNISER,
        by: str | None = None,
    ) -> int | None:
        """Store one 128-number face encoding for a person; returns the template id, or None
        when the same photo was already enrolled for them with the same face model.

        ``model`` names the face model that made the encoding (default the current one,
        :data:`~consent.vision.faces.RECOGNISER`). Once a person has a template of the current
        model, their templates of older models are deleted in the same transaction (audited,
        "replaced by a template of the new face model"): they are never used for matching, and
        face templates are biometric data, kept only while needed. For the same reason an
        old-model template is refused for someone who already has current-model ones.

        Raises :class:`NoBiometricConsent` unless the person's biometric consent is granted.
        """
        import numpy as np

        vector = np.asarray(encoding, dtype=np.float64)
        if vector.shape != (128,) or not np.all(np.isfinite(vector)):
            raise RegisterError("a face template must be 128 finite numbers")
        with self.transaction():
            current = self.resolve(person)
            if not self.biometric_granted(current.id):
                state = self.consent_state(current.id, BIOMETRIC)
                raise NoBiometricConsent(
                    f"{current.label}: biometric consent is {state.status}, so no face template "
                    f"may be stored; record written consent first "
                    f"('consent register consent {current.mis_id} biometric grant')"
                )
            if model != RECOGNISER and self._has_current_template(current.id):
                raise RegisterError(
                    f"{current.label}: a face template of the old face model ({model}) cannot "
                    f"be added: they are enrolled with the current one ({RECOGNISER})"
                )
            cur = self.db.conn.execute(
                "INSERT OR IGNORE INTO templates (person_id, encoding, photo_sha256, enrolled_on, "
                "quality, created_at, model) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [current.id, vector.tobytes(), photo_sha256,
                 (enrolled_on or today()).isoformat(), float(quality), self._time(), model],
            )
            if cur.rowcount == 0:
                return None
            self.audit_change(
                "template.add", current.id,
                after={"template_id": cur.lastrowid, "photo_sha256": photo_sha256,
                       "quality": round(float(quality), 3), "model": model},
                by=by,
            )
            if model == RECOGNISER:
                self._delete_templates(current.id, REPLACED_BY_NEW_MODEL, by, old_models_only=True)
            return cur.lastrowid

    def _has_current_template(self, person_id: int) -> bool:
        return self.db.conn.execute(
            "SELECT 1 FROM templates WHERE person_id = ? AND model = ? LIMIT 1",
            [person_id, RECOGNISER],
        ).fetchone() is not None

    def enrolled_count(self) -> int:
        """How many people have at least one face template of the current face model (whom a
        check can recognise)."""
        return self.db.conn.execute(
            "SELECT COUNT(DISTINCT person_id) FROM templates WHERE model = ?", [RECOGNISER]
        ).fetchone()[0]

    def templates(self, person_id: int, with_encodings: bool = False,
                  model: str | None = None) -> list[Template]:
        """A person's face templates, oldest first: of every face model, or only ``model``'s
        (``Register.templates(pid, model=RECOGNISER)``: the ones matching uses)."""
        import numpy as np

        sql = ("SELECT id, person_id, photo_sha256, enrolled_on, quality, model, encoding "
               "FROM templates WHERE person_id = ?")
        params: list = [person_id]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        rows = self.db.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            Template(r[0], r[1], r[2], from_iso(r[3]), r[4], r[5],
                     np.frombuffer(r[6], dtype=np.float64) if with_encodings else None)
            for r in rows
        ]

    def delete_templates(self, person, reason: str = "deleted by admin", by: str | None = None) -> int:
        """Delete all of a person's face templates (they become "not enrolled"); returns how
        many were deleted."""
        with self.transaction():
            current = self.resolve(person)
            return self._delete_templates(current.id, reason, by)

    def _delete_templates(self, person_id: int, reason: str, by: str | None,
                          old_models_only: bool = False) -> int:
        sql, params = "DELETE FROM templates WHERE person_id = ?", [person_id]
        if old_models_only:
            sql += " AND model <> ?"
            params.append(RECOGNISER)
        cur = self.db.conn.execute(sql, params)
        if cur.rowcount:
            self.wipe_after_commit()
            self.audit_change("template.delete", person_id,
                        after={"deleted": cur.rowcount, "reason": reason}, by=by)
        return cur.rowcount

    def enrolled(self, person_id: int) -> bool:
        """True when the person has a usable template (of the current face model, and
        biometric consent in force)."""
        return self._has_current_template(person_id) and self.biometric_granted(person_id)

    def needs_new_photo(self, on: dt.date | None = None) -> list[Person]:
        """People whose biometric consent is granted on ``on`` (default today) and who have face
        templates of an old face model but none of the current one, sorted by name.

        Their faces are unknown to every check (review, never cleared) until they are enrolled
        again: from the kept enrolment photos (:func:`consent.register.enrolment.reencode`) or
        from a new photo.
        """
        ids = [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT person_id FROM templates t WHERE model <> ? AND NOT EXISTS "
            "(SELECT 1 FROM templates u WHERE u.person_id = t.person_id AND u.model = ?)",
            [RECOGNISER, RECOGNISER])]
        states = self.consent_states_many(ids, on=on, channels=[BIOMETRIC])
        people = self.people_by_id(pid for pid in ids if states[pid][BIOMETRIC].granted)
        return sorted(people.values(), key=lambda p: (p.surname.casefold(), p.forename.casefold(), p.id))

    def enrolment_strength(self, person, on: dt.date | None = None) -> EnrolmentStrength:
        """How well a person is enrolled (an :class:`EnrolmentStrength`): how many reference
        photos of the current face model, whether they agree (the largest distance between two
        of their templates within ``settings.match_lookalike_threshold``: photos of one child
        are often further apart than the stricter match threshold), and a label in plain
        English."""
        import numpy as np

        pid = person if isinstance(person, int) else self.resolve(person).id
        every = self.templates(pid, with_encodings=True)
        current = [t for t in every if t.model == RECOGNISER]
        n, old = len(current), len(every) - len(current)
        in_use = bool(every) and self.biometric_granted(pid, on)
        spread = agree = agreement = None
        if n >= 2:
            m = np.stack([t.encoding for t in current])
            spread = round(float(np.linalg.norm(m[:, None, :] - m[None, :, :], axis=2).max()), 3)
            agree = spread <= self.settings.match_lookalike_threshold
            agreement = PHOTOS_AGREE if agree else PHOTOS_DISAGREE
        if not every:
            label = "not enrolled"
        elif not in_use:
            label = "not in use: biometric consent is not in force"
        elif not n:
            label = "needs a new photo (enrolled with the old face model)"
        elif n == 1:
            label = "1 photo: add a second (two or three recommended)"
        elif agree:
            label = f"{n} photos that agree"
        else:
            label = f"{n} photos that disagree: check they are all of this pupil"
        return EnrolmentStrength(photos=n, old_photos=old, spread=spread, agree=agree,
                                 agreement=agreement, in_use=in_use, label=label)

    def templates_due(self, max_age_days: int | None = None, on: dt.date | None = None
                      ) -> list[TemplateDue]:
        """People whose newest template of the current face model is older than
        ``max_age_days`` (default ``settings.template_max_age_days``): children's faces change,
        so re-enrol them. (People with old-model templates only: :meth:`needs_new_photo`.)"""
        age = self.settings.template_max_age_days if max_age_days is None else max_age_days
        day = on or today()
        cutoff = (day - dt.timedelta(days=age)).isoformat()
        rows = self.db.conn.execute(
            "SELECT person_id, max(enrolled_on) FROM templates WHERE model = ? GROUP BY person_id "
            "HAVING max(enrolled_on) < ? ORDER BY max(enrolled_on)", [RECOGNISER, cutoff],
        ).fetchall()
        people = self.people_by_id(r[0] for r in rows)
        due = []
        for pid, newest in rows:
            newest_d = from_iso(newest)
            due.append(TemplateDue(people[pid], newest_d, (day - newest_d).days))
        return due

    def lapsed_templates(self, on: dt.date | None = None) -> list[Person]:
        """People who still have face templates although their biometric consent is no longer
        granted on ``on`` (it expired): they are already left out of matching; delete the
        templates with :meth:`delete_lapsed_templates`."""
        day = on or today()
        ids = [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT person_id FROM templates ORDER BY person_id")]
        states = self.consent_states_many(ids, on=day, channels=[BIOMETRIC])
        lapsed = [pid for pid in ids if not states[pid][BIOMETRIC].granted]
        people = self.people_by_id(lapsed)
        return [people[pid] for pid in lapsed]

    def delete_lapsed_templates(self, on: dt.date | None = None, by: str | None = None) -> int:
        """Delete the templates of everyone in :meth:`lapsed_templates`; returns how many."""
        deleted = 0
        with self.transaction():
            for person in self.lapsed_templates(on):
                deleted += self._delete_templates(person.id, "biometric consent expired", by)
        return deleted

    def gallery(self, on: dt.date | None = None):
        """Every usable face template as a :class:`consent.register.matching.Gallery` (one matrix).

        Only templates of the current face model (:data:`~consent.vision.faces.RECOGNISER`;
        another model's numbers mean nothing to it) of people whose biometric consent is granted
        and unexpired on ``on`` are included, so a lapsed consent can never lead to a match.
        """
        from .matching import Gallery

        day = (on or today()).isoformat()
        rows = self.db.conn.execute(
            """SELECT t.person_id, t.encoding FROM templates t
               WHERE (SELECT c.status = 'granted' AND (c.until IS NULL OR c.until >= ?)
                      FROM consents c
                      WHERE c.person_id = t.person_id AND c.channel = 'biometric'
                        AND c.recorded_on <= ?
                      ORDER BY c.id DESC LIMIT 1)
                 AND t.model = ?
               ORDER BY t.person_id, t.id""",
            [day, day, RECOGNISER],
        ).fetchall()
        return Gallery.from_rows(rows, version=self.version())


# --- helpers -------------------------------------------------------------------------------


def _dump(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _load(value: str | None):
    return None if value is None else json.loads(value)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
