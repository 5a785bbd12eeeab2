"""Seniors' answers about faces that only *look like* a pupil, kept per photo.

A face beyond ``match_threshold`` but within ``match_lookalike_threshold`` of one person is
``looks_like`` (:mod:`consent.register.matching`): a suggestion, never a match. Someone allowed
to see names answers it for one photo: "yes, this is <name>" or "no, not them". The answer is

1. kept in the register file, keyed by the photo's content (sha256) and the face's box, with
   the person it is about, who answered and when;
2. written to the register's audit log in the same transaction (``identity.confirmed`` or
   ``identity.rejected``), which also bumps the register version, so every cached view of the
   register is read again and the answer shows on the next page or check;
3. applied when the photo is judged (:func:`consent.check.judge`), on top of any analysis,
   cached or not: a confirmed face becomes ``matched`` to that person, and the consent rules
   then judge it as any matched face; a rejected face becomes ``unknown``. An answer applies
   only while the face still looks like the same person: if the suggestion changes (new face
   templates), the question is asked again.

A confirmation says who a face is; it never clears consent by itself. The table is created on
the first answer (its own sqlite-utils migrations, as the analysis cache's), and a person's
answers go when their data is purged (:func:`forget_person`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlite_utils.migrations import Migrations

from ..errors import NotALookalike

migrations = Migrations("consent-identity-answers")

YES, NO = "yes", "no"
TABLE = "identity_answers"


@migrations()
def m001_identity_answers(db) -> None:
    db.execute(
        f"""
        CREATE TABLE {TABLE} (
            sha256 TEXT NOT NULL,
            box TEXT NOT NULL,
            person_id INTEGER NOT NULL,
            answer TEXT NOT NULL CHECK (answer IN ('yes', 'no')),
            by_user TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (sha256, box)
        )
        """
    )
    db.execute(f"CREATE INDEX {TABLE}_person ON {TABLE} (person_id)")


def box_key(box) -> str:
    """A face box (top, right, bottom, left) as the table keeps it: ``"10,80,90,20"``."""
    return ",".join(str(int(v)) for v in box)


def answers(reg) -> dict[str, dict[tuple, tuple[int, str]]]:
    """Every answer: photo sha256 -> {face box: (person id, "yes" or "no")} (for the register view)."""
    if TABLE not in reg.db.table_names():
        return {}
    out: dict[str, dict[tuple, tuple[int, str]]] = {}
    for sha, box, pid, answer in reg.db.execute(f"SELECT sha256, box, person_id, answer FROM {TABLE}"):
        out.setdefault(sha, {})[tuple(int(v) for v in box.split(","))] = (int(pid), answer)
    return out


def record(reg, sha256: str, box, person_id: int, answer: str, *, by: str, photo: str = "") -> None:
    """Keep ``answer`` (``yes``/``no``) to "is the face at ``box`` of photo ``sha256`` person
    ``person_id``?", replacing an earlier answer for that face; audited (``photo``: the name
    the photo is known by, for the log). Raises :class:`NotALookalike` for a bad answer."""
    if answer not in (YES, NO):
        raise NotALookalike(f"the answer must be yes or no, not {answer!r}")
    key = box_key(box)
    with reg.transaction():
        if migrations.pending(reg.db):
            migrations.apply(reg.db)
        before = reg.db.execute(
            f"SELECT person_id, answer, by_user, at FROM {TABLE} WHERE sha256 = ? AND box = ?",
            [sha256, key]).fetchone()
        reg.db.execute(
            f"INSERT OR REPLACE INTO {TABLE} (sha256, box, person_id, answer, by_user, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [sha256, key, int(person_id), answer, by,
             datetime.now(timezone.utc).isoformat(timespec="seconds")])
        reg.audit_change(
            "identity.confirmed" if answer == YES else "identity.rejected", int(person_id),
            before=None if before is None else {"person_id": before[0], "answer": before[1],
                                                "by": before[2], "at": before[3]},
            after={"photo": photo, "sha256": sha256, "face": json.loads(f"[{key}]"), "answer": answer},
            by=by,
        )


def forget_person(conn, person_id: int) -> int:
    """Delete every answer about ``person_id`` (their data is being purged) inside the caller's
    transaction; returns how many."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [TABLE]).fetchone():
        return 0
    return conn.execute(f"DELETE FROM {TABLE} WHERE person_id = ?", [person_id]).rowcount
