"""Photo analyses remembered in the register database, so re-runs only redo what changed.

The expensive part of a check (decoding, face detection, encodings, matching, the kit check's
picture measurements, the text read in the picture, the metadata scan) is stored as an :class:`~consent.check.Analysis` keyed by the photo's
SHA-256, the settings in force, a fingerprint of the register's face templates and of the
school kit profile. The cheap part — consent states and rules — is always re-derived from the
register as it is now, and so are the caption's and file name's words (names in captions,
sports words for the kit check). So after an interrupted batch nothing already analysed is redone, and
after a consent change (grant, withdrawal, expiry, never-publish flag) a re-run re-judges every
photo at once without touching the face models; only a change of templates (enrolment,
biometric withdrawal, purge) or settings makes photos be analysed again.

Privacy: an analysis stores face boxes, person ids and distances, never face encodings or
register names. It does store the lines of text read in the picture (with their boxes), which
may include names written on a badge or a page: they are what the picture shows to anyone, and
keeping them is what lets a register change be judged without reading the photo again. ``forget_stale`` deletes analyses made against other template sets, which is how
withdrawn or purged people's matches leave the cache.

Provenance: each analysis records where it was made (``origin``): ``local`` (this machine's
models), or a remote worker's analysis that this machine verified, naming the worker key it
was signed with (``consent.remote.remember`` is the only writer of those, and writes only after
checking the signature). Every check that reads the cache trusts what it finds, so nothing
else may put an analysis here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .settings import Settings

migrations = Migrations("consent-check-cache")

#: bumped when what an analysis holds changes, so older cached analyses are never read
ANALYSIS_FORMAT = 3


@migrations()
def m001_analyses(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE analyses (
            key TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            gallery TEXT NOT NULL,
            analysed_at TEXT NOT NULL,
            analysis TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX analyses_gallery ON analyses (gallery)")


@migrations()
def m002_origin(db: Database) -> None:
    """Where each analysis was made: ``local``, or a verified remote worker's (and its key)."""
    db.execute("ALTER TABLE analyses ADD COLUMN origin TEXT NOT NULL DEFAULT 'local'")


def fingerprint(value) -> str:
    """A short stable hash of any JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]


def analysis_key(sha256: str, settings: Settings, gallery: str, kit_profile: str,
                 restriction: list | None = None) -> str:
    """The cache key of one analysis: photo bytes, settings, face templates, kit profile and,
    for a check restricted to some year groups or classes, the restriction (who faces were
    compared with: :meth:`consent.register.groups.Restriction.fingerprint`)."""
    parts = [ANALYSIS_FORMAT, sha256, settings.as_dict(), gallery, kit_profile]
    if restriction is not None:  # unrestricted keys stay as they were: the cache stays valid
        parts.append(["restricted to", restriction])
    return fingerprint(parts)


class AnalysisCache:
    """Read and write cached analyses (as JSON) in an open :class:`consent.register.Register`."""

    def __init__(self, reg):
        self.db = reg.db
        if migrations.pending(self.db):
            # several batch workers may open a new register at once: create the table under the
            # register's write lock, and only if no other process did while we waited for it
            with reg.transaction():
                if migrations.pending(self.db):
                    migrations.apply(self.db)

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT analysis FROM analyses WHERE key = ?", [key]).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, sha256: str, gallery: str, analysis: dict, origin: str = "local") -> None:
        """Store an analysis; ``origin``: ``local``, or (``consent.remote.remember`` only) the
        verified remote worker's key it was signed with."""
        with self.db.atomic():
            self.db.execute(
                "INSERT OR REPLACE INTO analyses (key, sha256, gallery, analysed_at, analysis, origin) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [key, sha256, gallery, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 json.dumps(analysis), origin],
            )

    def origin(self, key: str) -> str | None:
        """Where the analysis under ``key`` was made (None: there is none)."""
        row = self.db.execute("SELECT origin FROM analyses WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def forget_stale(self, gallery: str) -> int:
        """Delete analyses made against another set of face templates; returns how many."""
        with self.db.atomic():
            cur = self.db.execute("DELETE FROM analyses WHERE gallery <> ?", [gallery])
        return cur.rowcount
