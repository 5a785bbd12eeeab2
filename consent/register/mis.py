"""Import the school's MIS export (SIMS, Arbor, Bromcom, ...: a CSV file) into the register.

What the import does with a file:

- **Reading.** UTF-8 (with or without the byte-order mark Excel writes), UTF-16 ("Unicode
  text"), else Windows-1252 (Excel's plain "CSV"); comma, semicolon or tab separated.
- **Columns.** Header spellings are matched ignoring case, spaces and punctuation: ``UPN``,
  ``Adno``/``Admission Number`` (the MIS id; UPN wins when both are present), ``Legal
  Surname``/``Surname``, ``Legal Forename``/``Forename``, ``Preferred Forename``/``Known As``,
  ``Preferred Surname``, ``Year``/``Year Group``/``NC Year``, ``Reg Group``/``Registration
  Group``/``Form``/``Class``, ``Date of Leaving``, and one column per channel named after it
  (``Website``, ``Social Media``, ``Newsletter``, ``Press``, ``Biometric``, or a school's own
  channel; "consent"/"photo" around the name is ignored: ``Website Consent``). ``--map
  'Column=field'`` overrides (``field`` is one of :data:`FIELDS`, a channel name, or
  ``ignore``). Other columns (date of birth, address, ...) are not read: the register keeps
  only what it needs.
- **Rows.** Upsert by MIS id. A row that cannot be imported is *rejected* with its line number
  and the reason; every other row still imports. A MIS id repeated with the same details is
  imported once (the repeats are listed as rejected, saying so); repeated with different
  details, every copy is rejected. Blank lines are skipped and counted.
- **Values.** Consent cells: ``Yes/Y/True/1/Granted`` grant, ``No/N/False/0/Refused`` refuse
  (recorded as *withdrawn* when consent was granted until then), ``Withdrawn`` withdraws; **a
  blank consent cell means "no change"** (a blank column in a partial export must never wipe
  consent), and an unchanged value records nothing. Blank name, year, form or leaving-date cells
  clear the field (legal names cannot be blank). Dates: ``dd/mm/yyyy`` (UK order), ``yyyy-mm-dd``,
  ``dd-mm-yyyy``, ``dd.mm.yyyy``, ``12 Jul 2024``, or an Excel serial day number.
- **Dry run.** The same plan is made and returned without writing anything.

The whole import is one transaction: it lands completely or not at all.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImportRefused, RegisterError
from .records import PERSON_FIELDS, ConsentState, Person, clean_person_fields, parse_date, today
from .store import Register

#: person fields a column can fill, each with its header spellings in priority order
#: (spellings are compared folded: lower case, letters and digits only)
FIELDS: dict[str, tuple[str, ...]] = {
    "mis_id": ("upn", "misid", "adno", "admissionnumber", "admissionno", "admno", "adnumber",
               "pupilid", "studentid", "staffcode", "staffid", "employeenumber",
               "payrollnumber", "id"),
    "legal_surname": ("legalsurname", "surname", "lastname", "familyname"),
    "legal_forename": ("legalforename", "legalfirstname", "forename", "firstname",
                       "givenname"),
    "preferred_forename": ("preferredforename", "preferredfirstname", "knownas",
                           "preferredname", "chosenname"),
    "preferred_surname": ("preferredsurname", "preferredlastname"),
    "year_group": ("yeargroup", "year", "ncyear", "ncyearactual", "curriculumyear", "yr"),
    "form": ("reggroup", "registrationgroup", "form", "formgroup", "tutorgroup", "class",
             "classname"),
    "left_on": ("dateofleaving", "leavingdate", "dateleft", "leftdate", "leavedate"),
}
IGNORE = "ignore"

_YES = {"yes", "y", "true", "t", "1", "granted", "grant", "given", "consent", "consented", "x"}
_NO = {"no", "n", "false", "f", "0", "refused", "refuse", "declined", "not given"}
_WITHDRAWN = {"withdrawn", "withdraw", "withdrew"}
_CHANNEL_AFFIXES = ("photoconsent", "photographconsent", "consent", "photos", "photo",
                    "photography", "permission")

_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def fold(header: str) -> str:
    """``" Legal Surname "`` -> ``"legalsurname"``: how headers are compared."""
    return _NOT_ALNUM.sub("", (header or "").lower())


def parse_consent(text: str) -> str | None:
    """``granted``, ``refused``, ``withdrawn`` or None (blank: no change); ValueError otherwise."""
    value = " ".join((text or "").strip().lower().split())
    if not value:
        return None
    if value in _YES:
        return "granted"
    if value in _NO:
        return "refused"
    if value in _WITHDRAWN:
        return "withdrawn"
    raise ValueError(value)


def parse_mapping(items) -> dict[str, str]:
    """``["Pupil Ref=mis_id", "DOB=ignore"]`` -> ``{"Pupil Ref": "mis_id", "DOB": "ignore"}``."""
    mapping = {}
    for item in items or ():
        column, sep, target = str(item).partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ImportRefused(
                f"--map {item!r} is not COLUMN=FIELD (e.g. --map 'Pupil Ref=mis_id')"
            )
        mapping[column.strip()] = target.strip()
    return mapping


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV file as read: header, rows with their first line number, encoding used."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def decode(data: bytes) -> tuple[str, str]:
    """Bytes of a CSV export -> (text, encoding name)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # the 5 bytes cp1252 leaves undefined
        return data.decode("latin-1"), "latin-1"


def read_table(path: str | os.PathLike) -> Table:
    """Read a CSV export; :class:`ImportRefused` if it cannot be read or has no header."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportRefused(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot be read ({exc.strerror})") from None
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportRefused(
            f"{path}: this is an Excel workbook, not a CSV file; in Excel use "
            "File > Save As > 'CSV UTF-8' and import that"
        )
    text, encoding = decode(data)
    if "\x00" in text:
        raise ImportRefused(f"{path}: not a text (CSV) file; export the list from the MIS as CSV")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ImportRefused(f"{path}: the file is empty; export the list from the MIS again")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for cells in reader:
            line = last + 1
            last = reader.line_num
            if header is None:
                if any(c.strip() for c in cells):
                    header = [c.strip() for c in cells]
                continue
            rows.append((line, cells))
    except csv.Error as exc:
        raise ImportRefused(f"{path}: line {reader.line_num}: the CSV is malformed ({exc})") from None
    return Table(header=header or [], rows=rows, encoding=encoding, delimiter=delimiter)


# --- results ---------------------------------------------------------------------------------


@dataclass
class ConsentChange:
    line: int
    mis_id: str
    channel: str
    #: status before the import (``missing`` when none)
    before: str
    #: status recorded: ``granted``, ``refused`` or ``withdrawn``
    after: str


@dataclass
class RowOutcome:
    """What happened to one row: ``added``, ``updated``, ``unchanged`` or ``rejected``."""

    line: int
    mis_id: str | None
    outcome: str
    name: str | None = None
    #: field -> (old, new) for updated people; field -> new for added ones
    changes: dict = field(default_factory=dict)
    consent: list[ConsentChange] = field(default_factory=list)
    reason: str | None = None


@dataclass
class ImportResult:
    """The outcome of an import (or of a dry run: ``dry_run`` True, nothing written)."""

    path: str
    encoding: str
    dry_run: bool
    staff: bool
    #: header as in the file -> field or channel it was read into
    columns: dict[str, str] = field(default_factory=dict)
    #: headers that were not read (not needed, or another column won)
    ignored_columns: list[str] = field(default_factory=list)
    rows: list[RowOutcome] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    #: MIS ids of people on roll with this role who are not in the file (maybe left?)
    not_in_file: list[str] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def added(self) -> int:
        return self._count("added")

    @property
    def updated(self) -> int:
        return self._count("updated")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """(line number, reason) for every row not imported."""
        return [(r.line, r.reason or "") for r in self.rows if r.outcome == "rejected"]

    @property
    def consent_changes(self) -> list[ConsentChange]:
        return [c for r in self.rows for c in r.consent]

    def summary(self) -> str:
        """One line, e.g. ``3 added, 1 updated, 5 unchanged, 2 rejected; 4 consent changes``."""
        verb = "would be " if self.dry_run else ""
        text = (f"{self.added} {verb}added, {self.updated} {verb}updated, "
                f"{self.unchanged} unchanged, {len(self.rejected)} rejected; "
                f"{len(self.consent_changes)} consent change"
                f"{'' if len(self.consent_changes) == 1 else 's'}")
        if self.blank_lines:
            text += f"; {len(self.blank_lines)} blank line{'s' if len(self.blank_lines) > 1 else ''} skipped"
        return text

    def to_json(self) -> dict:
        return {
            "path": self.path, "encoding": self.encoding, "dry_run": self.dry_run,
            "staff": self.staff, "columns": self.columns, "ignored_columns": self.ignored_columns,
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": [{"line": ln, "reason": why} for ln, why in self.rejected],
            "consent_changes": [c.__dict__ for c in self.consent_changes],
            "blank_lines": self.blank_lines, "not_in_file": self.not_in_file,
            "rows": [
                {"line": r.line, "mis_id": r.mis_id, "outcome": r.outcome, "name": r.name,
                 "changes": r.changes, "reason": r.reason}
                for r in self.rows
            ],
        }


# --- column mapping --------------------------------------------------------------------------


def map_columns(header: list[str], channels: list[str], overrides: dict[str, str] | None = None
                ) -> tuple[dict[int, str], list[str]]:
    """Decide which column fills which field: ({column index: field or channel}, ignored).

    A channel column is recorded as ``"consent:<channel>"``. ``overrides`` maps header text
    (compared folded) to a field, a channel or ``ignore``; :class:`ImportRefused` if an
    override names a column or field that does not exist.
    """
    folded = [fold(h) for h in header]
    chosen: dict[int, str] = {}
    targets = set(FIELDS) | set(channels)
    for column, target in (overrides or {}).items():
        key = fold(column)
        if key not in folded:
            raise ImportRefused(
                f"--map: there is no column {column!r} in the file; its columns are: "
                + ", ".join(h for h in header if h)
            )
        target_key = target.strip().lower().replace(" ", "_").removeprefix("consent:")
        if target_key != IGNORE and target_key not in targets:
            raise ImportRefused(
                f"--map: {target!r} is not a field; use one of {', '.join(FIELDS)}, a channel "
                f"({', '.join(channels)}) or ignore"
            )
        index = folded.index(key)
        chosen[index] = IGNORE if target_key == IGNORE else (
            f"consent:{target_key}" if target_key in channels else target_key)
    taken = set(chosen.values())
    for name, spellings in FIELDS.items():
        if name in taken:
            continue
        for spelling in spellings:
            hits = [i for i, f in enumerate(folded) if f == spelling and i not in chosen]
            if hits:
                chosen[hits[0]] = name
                taken.add(name)
                break
    channel_keys = {fold(ch): ch for ch in channels}
    for i, key in enumerate(folded):
        if i in chosen:
            continue
        stripped = key
        for affix in _CHANNEL_AFFIXES:
            stripped = stripped.removeprefix(affix).removesuffix(affix)
        ch = channel_keys.get(key) or channel_keys.get(stripped)
        if ch and f"consent:{ch}" not in taken:
            chosen[i] = f"consent:{ch}"
            taken.add(f"consent:{ch}")
    ignored = [h or f"(column {i + 1}, no name)" for i, h in enumerate(header)
               if chosen.get(i, IGNORE) == IGNORE]
    return {i: t for i, t in chosen.items() if t != IGNORE}, ignored


# --- the import ------------------------------------------------------------------------------


def import_csv(
    register: Register,
    path: str | os.PathLike,
    *,
    staff: bool = False,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    consent_until: dt.date | None = None,
    source: str = "MIS import",
    by: str | None = None,
) -> ImportResult:
    """Import an MIS export into ``register``; returns what happened to every row.

    ``staff`` imports a staff list (people are added with role ``staff``); ``mapping`` is
    ``--map`` (header -> field); ``consent_until`` is the expiry given to consents granted by
    this import (e.g. the end of the academic year). Raises :class:`ImportRefused` when the
    whole file cannot be used (unreadable, no MIS id column), never for one bad row.
    """
    table = read_table(path)
    name = Path(path).name
    if not table.header:
        raise ImportRefused(f"{name}: the file has no header row; export it again with headings")
    channels = register.channel_names(include_biometric=True)
    columns, ignored = map_columns(table.header, channels, mapping)
    if "mis_id" not in columns.values():
        raise ImportRefused(
            f"{name}: no column for the MIS id (looked for UPN, Adno, Admission Number); "
            "name it with --map 'COLUMN=mis_id'"
        )
    result = ImportResult(
        path=str(path), encoding=table.encoding, dry_run=dry_run, staff=staff,
        columns={table.header[i]: f for i, f in sorted(columns.items())},
        ignored_columns=ignored,
    )
    if dry_run:
        _plan(register, table, columns, result, staff, consent_until)
        return result
    with register.transaction():
        plan = _plan(register, table, columns, result, staff, consent_until)
        _apply(register, plan, source, consent_until, by)
        if any(r.outcome in ("added", "updated") for r in result.rows):
            register.audit_change("import", None, after={
                "file": name, "staff": staff, "added": result.added, "updated": result.updated,
                "unchanged": result.unchanged, "rejected": len(result.rejected),
                "consent_changes": len(result.consent_changes),
            }, by=by)
    return result


@dataclass
class _Planned:
    outcome: RowOutcome
    person: Person | None
    values: dict  # cleaned person fields (new people) or changed fields (existing)
    consent: list[tuple[str, str, ConsentState]]  # (channel, status to record, state before)


def _row_values(cells: list[str], columns: dict[int, str]) -> dict[str, str]:
    values = {}
    for i, target in columns.items():
        values[target] = " ".join(cells[i].split()) if i < len(cells) else ""
    return values


def _plan(register, table, columns, result, staff, consent_until) -> list[_Planned]:
    """Work out every row's outcome against the register as it is now (no writing)."""
    role = "staff" if staff else "pupil"
    existing = {p.mis_id.upper(): p for p in
                (register.person_from_row(r) for r in register.db.query("SELECT * FROM people"))}
    states = register.consent_states_many(
        [p.id for p in existing.values()], channels=register.channel_names(include_biometric=True)
    )
    width = len(table.header)
    parsed: list[tuple[int, dict[str, str], str | None]] = []
    for line, cells in table.rows:
        if not any(c.strip() for c in cells):
            result.blank_lines.append(line)
            continue
        if len(cells) > width:
            parsed.append((line, _row_values(cells, columns),
                           f"{len(cells)} cells but the header has {width} (a comma inside a "
                           "name without quotes?); fix the row in the export"))
            continue
        parsed.append((line, _row_values(cells, columns), None))
    # A MIS id more than once: identical rows import once, conflicting rows all stay out.
    first_line: dict[str, int] = {}
    seen: dict[str, dict] = {}
    conflicts: dict[str, list[int]] = {}
    for line, values, error in parsed:
        key = values.get("mis_id", "").upper()
        if not key or error:
            continue
        if key in seen and seen[key] != values:
            conflicts.setdefault(key, [first_line[key]]).append(line)
        seen.setdefault(key, values)
        first_line.setdefault(key, line)
    planned = []
    for line, values, error in parsed:
        mis_id = values.get("mis_id", "").upper() or None
        outcome = RowOutcome(line=line, mis_id=mis_id, outcome="rejected")
        result.rows.append(outcome)
        if error:
            outcome.reason = error
        elif not mis_id:
            outcome.reason = "no MIS id (UPN or admission number) in this row; add it or delete the row"
        elif mis_id in conflicts:
            others = ", ".join(str(n) for n in conflicts[mis_id] if n != line)
            outcome.reason = (f"MIS id {mis_id} is also on line {others} with different details; "
                              "fix the export so each person appears once")
        elif first_line[mis_id] != line:
            outcome.reason = f"repeats line {first_line[mis_id]} (same MIS id and details); imported once"
        else:
            try:
                planned.append(_plan_row(outcome, values, existing.get(mis_id), role,
                                         states, consent_until, register))
            except RegisterError as exc:
                outcome.outcome = "rejected"
                outcome.reason = str(exc)
    result.not_in_file = sorted(
        p.mis_id for key, p in existing.items()
        if p.role == role and p.on_roll() and key not in seen
    )
    return planned


def _plan_row(outcome: RowOutcome, values: dict, person: Person | None, role: str, states,
              consent_until, register) -> _Planned:
    """Plan one row (raises :class:`RegisterError` with the reason when it must be rejected)."""
    fields = {k: v for k, v in values.items() if not k.startswith("consent:")}
    if "left_on" in fields and fields["left_on"]:
        raw = fields["left_on"]
        fields["left_on"] = parse_date(raw)
        if fields["left_on"] is None:
            raise RegisterError(f"date of leaving {raw!r} is not a date; use DD/MM/YYYY")
    wanted = {}
    for key, value in values.items():
        if key.startswith("consent:"):
            channel = key.split(":", 1)[1]
            try:
                wanted[channel] = parse_consent(value)
            except ValueError:
                label = register.channel(channel).label
                raise RegisterError(
                    f"{label} consent {value!r} is not Yes or No (or blank for no change)"
                ) from None
    if person is None:
        missing = [f for f in ("legal_forename", "legal_surname") if not fields.get(f)]
        if missing:
            what = " and ".join(f.replace("legal_", "").replace("forename", "first name")
                                for f in missing)
            raise RegisterError(
                f"{outcome.mis_id} is new to the register but the row has no {what}; "
                "add the name, or import a file with name columns"
            )
        clean = clean_person_fields({**fields, "role": role})
        outcome.outcome = "added"
        outcome.changes = {k: v for k, v in clean.items() if v is not None and k != "role"}
        outcome.name = _name(clean)
        before = {}
    else:
        if person.role != role:
            if person.role == "staff":
                raise RegisterError(f"{person.mis_id} is a member of staff in the register; "
                                    "import staff lists with --staff")
            raise RegisterError(f"{person.mis_id} is a pupil in the register, not staff; "
                                "import pupils without --staff")
        base = {k: getattr(person, k) for k in PERSON_FIELDS}
        old = clean_person_fields(base)
        new = clean_person_fields({**base, **fields})
        changed = {k: (old[k], new[k]) for k in fields if k != "mis_id" and old[k] != new[k]}
        outcome.changes = changed
        outcome.name = person.display_name
        outcome.outcome = "updated" if changed else "unchanged"
        clean = {k: v[1] for k, v in changed.items()}
        before = states.get(person.id, {})
    consent = []
    for channel, status in wanted.items():
        if status is None:
            continue
        state = before.get(channel) or ConsentState(channel, "missing")
        record = _consent_to_record(state, status, consent_until)
        if record:
            consent.append((channel, record, state))
            outcome.consent.append(ConsentChange(outcome.line, outcome.mis_id, channel,
                                                 state.status, record))
    if outcome.outcome == "unchanged" and consent:
        outcome.outcome = "updated"
    return _Planned(outcome, person, clean, consent)


def _consent_to_record(state: ConsentState, wanted: str, until) -> str | None:
    """What to record when the file says ``wanted`` and the register says ``state``."""
    if wanted == "granted":
        if state.status == "granted" and (until is None or state.until == until):
            return None
        return "granted"
    if wanted == "refused":
        if state.status == "granted":
            return "withdrawn"
        return None if state.status in ("refused", "withdrawn") else "refused"
    return None if state.status == "withdrawn" else "withdrawn"


def _apply(register: Register, plan: list[_Planned], source: str, consent_until, by) -> None:
    """Write the planned changes (inside the caller's transaction)."""
    day = today()
    for item in plan:
        row = item.outcome
        if row.outcome == "unchanged":
            continue
        if item.person is None:
            person_id = register.insert_person_row(item.values, by)
        else:
            person_id = item.person.id
            if item.values:
                register.apply_person_changes(item.person, item.values, by)
        for channel, status, state in item.consent:
            register.insert_consent(
                person_id, channel, status, day,
                consent_until if status == "granted" else None, source,
                f"line {row.line} of the MIS import", by, before=state,
            )


def _name(values: dict) -> str:
    first = values.get("preferred_forename") or values.get("legal_forename") or ""
    last = values.get("preferred_surname") or values.get("legal_surname") or ""
    return f"{first} {last}".strip()


__all__ = [
    "FIELDS", "ConsentChange", "ImportResult", "RowOutcome", "Table", "decode",
    "fold", "import_csv", "map_columns", "parse_consent", "parse_date", "parse_mapping",
    "read_table",
]
