"""The consent register's schema, as forward migrations (``sqlite_utils.migrations``).

Each migration is a named function recorded in ``_sqlite_migrations`` once applied; a new
schema change is a new function appended at the end, never an edit of an old one.
:class:`consent.register.Register` applies pending migrations when it opens a register.

Guards that must hold whatever code writes to the database live here as triggers:

- the audit log is append-only: an UPDATE is refused unless it only redacts an entry's
  before/after detail (what a purge does), and a DELETE is always refused;
- a face template can only be inserted for a person whose latest biometric consent is granted
  and not expired;
- a refused or withdrawn biometric consent deletes the person's templates in the same
  transaction (the register also does this itself, to count and audit them).

Each face template names the face model that made it (``templates.model``, from
:func:`m003_templates_model` on); only templates of the current model
(:data:`consent.vision.faces.RECOGNISER`) are ever used for matching.
"""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

#: the name of the register's migration set in ``_sqlite_migrations``
MIGRATION_SET = "consent-register"

#: the channels every register starts with: name -> (label, kind)
BUILTIN_CHANNELS = {
    "website": ("Website", "publication"),
    "social_media": ("Social media", "publication"),
    "newsletter": ("Newsletter", "publication"),
    "press": ("Press", "publication"),
    "biometric": ("Biometric (face recognition)", "biometric"),
}

migrations = Migrations(MIGRATION_SET)

#: the two guards on face templates: inserted only with granted biometric consent, deleted when
#: it is refused or withdrawn. The first migration creates them; a migration that rebuilds the
#: templates table makes them again, the same
_TEMPLATE_TRIGGERS = """CREATE TRIGGER templates_need_biometric_consent BEFORE INSERT ON templates
WHEN coalesce((
    SELECT status = 'granted' AND (until IS NULL OR until >= date('now', 'localtime'))
    FROM consents
    WHERE person_id = NEW.person_id AND channel = 'biometric'
    ORDER BY id DESC LIMIT 1
), 0) = 0
BEGIN
    SELECT RAISE(ABORT, 'no granted biometric consent for this person');
END;

CREATE TRIGGER biometric_refusal_deletes_templates AFTER INSERT ON consents
WHEN NEW.channel = 'biometric' AND NEW.status <> 'granted'
BEGIN
    DELETE FROM templates WHERE person_id = NEW.person_id;
END;
"""

_INITIAL_SQL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('version', 0);

CREATE TABLE channels (
    name TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'publication' CHECK (kind IN ('publication', 'biometric')),
    builtin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    mis_id TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL DEFAULT 'pupil' CHECK (role IN ('pupil', 'staff')),
    legal_forename TEXT NOT NULL,
    legal_surname TEXT NOT NULL,
    preferred_forename TEXT,
    preferred_surname TEXT,
    year_group TEXT,
    form TEXT,
    left_on TEXT,
    never_publish INTEGER NOT NULL DEFAULT 0,
    never_publish_reason TEXT,
    never_publish_since TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX people_year_form ON people (year_group, form);

CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    channel TEXT NOT NULL REFERENCES channels (name),
    status TEXT NOT NULL CHECK (status IN ('granted', 'refused', 'withdrawn')),
    recorded_on TEXT NOT NULL,
    until TEXT,
    source TEXT NOT NULL,
    note TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX consents_person_channel ON consents (person_id, channel, id);
CREATE INDEX consents_withdrawn ON consents (status, recorded_on);

CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    encoding BLOB NOT NULL CHECK (length(encoding) = 1024),
    photo_sha256 TEXT NOT NULL,
    enrolled_on TEXT NOT NULL,
    quality REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (person_id, photo_sha256)
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    by_user TEXT NOT NULL,
    action TEXT NOT NULL,
    person_id INTEGER,
    before TEXT,
    after TEXT,
    redacted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_person ON audit (person_id, id);
CREATE INDEX audit_at ON audit (at);

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
WHEN NOT (
    OLD.redacted = 0 AND NEW.redacted = 1
    AND NEW.before IS NULL AND NEW.after IS NULL
    AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.by_user = OLD.by_user
    AND NEW.action = OLD.action AND NEW.person_id IS OLD.person_id
)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

""" + _TEMPLATE_TRIGGERS + """"""


@migrations()
def m001_initial(db) -> None:
    """People, channels, consent history, face templates, audit log, register version."""
    for statement in _statements(_INITIAL_SQL):
        db.execute(statement)
    for name, (label, kind) in BUILTIN_CHANNELS.items():
        db.execute(
            "INSERT INTO channels (name, label, kind, builtin, created_at) "
            "VALUES (?, ?, ?, 1, datetime('now'))",
            [name, label, kind],
        )


def _statements(script: str):
    """Split a script into complete statements (triggers contain ``;`` inside BEGIN/END)."""
    import sqlite3

    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in schema: {buffer.strip()[:60]}")


_PUBLICATIONS_SQL = """
CREATE TABLE publications (
    id INTEGER PRIMARY KEY,
    photo_sha256 TEXT NOT NULL,
    photo_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    how TEXT NOT NULL CHECK (how IN ('download', 'batch_zip', 'marked')),
    link TEXT,
    ref TEXT,
    published_by TEXT NOT NULL,
    published_at TEXT NOT NULL,
    verdict TEXT NOT NULL,
    person_ids TEXT NOT NULL,
    consent_states TEXT NOT NULL,
    stored TEXT NOT NULL,
    taken_down_at TEXT,
    taken_down_by TEXT
);
CREATE INDEX publications_open ON publications (taken_down_at, id);
CREATE INDEX publications_ref ON publications (ref);
"""


@migrations()
def m002_publications(db) -> None:
    """The publication record: each photo published on a channel, with who, when, the people
    in it (ids only), the verdict and consent states then, and its stored check (to judge it
    again for the takedown list)."""
    for statement in _statements(_PUBLICATIONS_SQL):
        db.execute(statement)


_TEMPLATES_MODEL_SQL = """
DROP TRIGGER biometric_refusal_deletes_templates;

CREATE TABLE templates_by_model (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    encoding BLOB NOT NULL CHECK (length(encoding) = 1024),
    photo_sha256 TEXT NOT NULL,
    enrolled_on TEXT NOT NULL,
    quality REAL NOT NULL,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT 'dlib',
    UNIQUE (person_id, photo_sha256, model)
);

INSERT INTO templates_by_model
    (id, person_id, encoding, photo_sha256, enrolled_on, quality, created_at, model)
SELECT id, person_id, encoding, photo_sha256, enrolled_on, quality, created_at, 'dlib'
FROM templates;

DROP TABLE templates;

ALTER TABLE templates_by_model RENAME TO templates;

""" + _TEMPLATE_TRIGGERS + """
UPDATE meta SET value = value + 1 WHERE key = 'version' AND EXISTS (SELECT 1 FROM templates);
"""


@migrations()
def m003_templates_model(db) -> None:
    """Each face template records the face model that made it (``model``): every template
    stored before this migration was made by dlib's recogniser. Templates of one model can never
    be compared with encodings of another, so the same kept photo may be enrolled once per
    model: UNIQUE (person_id, photo_sha256, model).

    SQLite cannot change a UNIQUE constraint in place, so the table is rebuilt (ids kept, the
    audit log names them) and the two triggers that name it are made again exactly as
    :func:`m001_initial` made them. Copying into the new table fires no trigger, so templates
    whose biometric consent has since lapsed are carried over as they were (they stay out of
    matching, and ``templates-due --delete-lapsed`` deletes them). The old table's pages are
    zeroed as they are freed (the register opens every connection with ``secure_delete``). When
    there were templates the register version goes up: those a check can use change with it.
    """
    for statement in _statements(_TEMPLATES_MODEL_SQL):
        db.execute(statement)


_PUBLICATION_PUBLISHED_SQL = """
ALTER TABLE publications ADD COLUMN published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1));

UPDATE publications SET published = 1 WHERE how = 'marked';

CREATE INDEX publications_photo ON publications (photo_sha256, channel, taken_down_at);
"""


@migrations()
def m004_publication_published(db) -> None:
    """A download is not a publication: ``published`` says whether someone said the photo went
    out on the channel (marked it published, or confirmed at download that they were publishing
    it); a plain download (``how`` download or batch_zip, ``published`` 0) only records that a
    copy left the system, so a withdrawal still reaches it on the takedown list.

    Rows from before it: those marked published are published; downloads were recorded as
    published without anyone saying so, so they become copies downloaded (still listed when
    consent changes, as "copies downloaded, not marked published").
    """
    for statement in _statements(_PUBLICATION_PUBLISHED_SQL):
        db.execute(statement)
