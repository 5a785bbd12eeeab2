"""The register's records and value rules: people, channels, consent states, templates, audit
entries, and how names, year groups and dates from users and MIS exports are cleaned.

Plain dataclasses and functions with no database access; :mod:`consent.register` stores and
returns them (and re-exports every name here).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from ..errors import RegisterError

#: consent statuses that can be recorded
RECORDED_STATUSES = ("granted", "refused", "withdrawn")
#: statuses :meth:`Register.consent_state` can return (expired and missing are derived)
STATUSES = ("granted", "refused", "withdrawn", "expired", "missing")
ROLES = ("pupil", "staff")
BIOMETRIC = "biometric"
#: where a consent came from, as recorded (free text is allowed; these are the usual ones)
SOURCES = ("paper form", "MIS import", "admin", "web")

PERSON_FIELDS = (
    "mis_id", "role", "legal_forename", "legal_surname", "preferred_forename",
    "preferred_surname", "year_group", "form", "left_on",
)
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_WORD = re.compile(r"[^\w]+")
_SPACES_DASHES = re.compile(r"[\s\-]+")
_YEAR = re.compile(r"(?:year|yr|y)?\s*0*(\d{1,2})")



def today() -> dt.date:
    return dt.date.today()


_MONTHS = {m.lower(): i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})")
_DAY_MONTH_NAME = re.compile(r"(\d{1,2})[ \-]([A-Za-z]{3})[A-Za-z]*[ \-,]*(\d{4})")
_EXCEL_SERIAL = re.compile(r"(\d{5})(\.0+)?")


def parse_date(text: str) -> dt.date | None:
    """A date from an MIS or Excel cell; None when ``text`` is not a date.

    Accepts ``yyyy-mm-dd`` (optionally with a time), ``dd/mm/yyyy``, ``dd-mm-yyyy``,
    ``dd.mm.yyyy`` (day first, UK order; two-digit years are 20yy), ``12 Jul 2024`` and Excel
    serial day numbers (e.g. ``45474`` for 2024-07-01).
    """
    text = (text or "").strip()
    if not text:
        return None
    text = _TIME_SUFFIX.sub("", text)  # "01/07/2024 00:00:00"
    try:
        m = _ISO.fullmatch(text)
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = _DAY_FIRST.fullmatch(text)
        if m:
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            return dt.date(year, int(m[2]), int(m[1]))
        m = _DAY_MONTH_NAME.fullmatch(text)
        if m and m[2].lower() in _MONTHS:
            return dt.date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
        m = _EXCEL_SERIAL.fullmatch(text)
        if m and 20000 <= int(m[1]) <= 80000:  # Excel serial days: 1954 .. 2119
            return _EXCEL_EPOCH + dt.timedelta(days=int(m[1]))
    except ValueError:  # 31/02/2024 and friends
        return None
    return None


def as_date(value, what: str = "date") -> dt.date | None:
    """A ``date`` from a date, an ISO string, a UK ``dd/mm/yyyy`` string, or ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    parsed = parse_date(str(value))
    if parsed is None:
        raise RegisterError(
            f"{what} {value!r} is not a date; write it as YYYY-MM-DD or DD/MM/YYYY"
        )
    return parsed


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def from_iso(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def name_key(text: str) -> str:
    """Fold a name for searching: no accents, no apostrophes, lower case, single spaces.

    ``"Zoë O'Brien"`` and ``"zoe obrien"`` fold to the same key; so do ``"Siân"`` and ``"Sian"``.
    """
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _APOSTROPHES.sub("", text.casefold())
    text = _NON_WORD.sub(" ", text)
    return " ".join(text.split())


# --- records -------------------------------------------------------------------------------


@dataclass
class Person:
    """A pupil or member of staff. ``never_publish_reason`` is filled only for admin callers."""

    id: int
    mis_id: str
    role: str
    legal_forename: str
    legal_surname: str
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    year_group: str | None = None
    form: str | None = None
    left_on: dt.date | None = None
    never_publish: bool = False
    never_publish_since: dt.date | None = None
    #: admin-only: why the person must never be published (None for everyone else)
    never_publish_reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def forename(self) -> str:
        return self.preferred_forename or self.legal_forename

    @property
    def surname(self) -> str:
        return self.preferred_surname or self.legal_surname

    @property
    def display_name(self) -> str:
        return f"{self.forename} {self.surname}"

    def on_roll(self, on: dt.date | None = None) -> bool:
        """True unless the person has left on or before ``on`` (default today)."""
        return self.left_on is None or self.left_on > (on or today())

    @property
    def label(self) -> str:
        """How messages name the person: ``Zoë O'Brien (A123, Year 7, 7B)``."""
        bits = [self.mis_id]
        if self.role == "staff":
            bits.append("staff")
        if self.year_group:
            bits.append(f"Year {self.year_group}" if self.year_group[:1].isdigit() else self.year_group)
        if self.form:
            bits.append(self.form)
        return f"{self.display_name} ({', '.join(bits)})"

    def names(self) -> list[str]:
        """Every first name and surname on record (for caption checks and searching)."""
        seen = []
        for name in (self.legal_forename, self.preferred_forename, self.legal_surname,
                     self.preferred_surname):
            if name and name not in seen:
                seen.append(name)
        return seen

    def to_json(self, admin: bool = False) -> dict:
        data = asdict(self)
        for key in ("left_on", "never_publish_since"):
            data[key] = iso_date(data[key])
        data["display_name"] = self.display_name
        data["on_roll"] = self.on_roll()
        if not admin:
            data.pop("never_publish_reason")
        return data


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    #: ``publication`` (website, social media, ...) or ``biometric``
    kind: str
    builtin: bool


@dataclass(frozen=True)
class ConsentState:
    """A person's consent for one channel on one day, as the check sees it.

    ``status`` is ``granted``, ``refused``, ``withdrawn``, ``expired`` (granted, but ``until``
    has passed) or ``missing`` (nothing recorded: no consent).
    """

    channel: str
    status: str
    since: dt.date | None = None
    until: dt.date | None = None
    source: str | None = None
    note: str | None = None

    @property
    def granted(self) -> bool:
        return self.status == "granted"

    def to_json(self) -> dict:
        return {
            "channel": self.channel, "status": self.status, "since": iso_date(self.since),
            "until": iso_date(self.until), "source": self.source, "note": self.note,
        }


@dataclass(frozen=True)
class ConsentRecord:
    """One row of consent history, as recorded."""

    id: int
    person_id: int
    channel: str
    status: str
    recorded_on: dt.date
    until: dt.date | None
    source: str
    note: str | None
    recorded_by: str
    recorded_at: str

    def to_json(self) -> dict:
        data = asdict(self)
        data["recorded_on"] = iso_date(self.recorded_on)
        data["until"] = iso_date(self.until)
        return data


@dataclass(frozen=True)
class Template:
    """A stored face template (the 128 numbers themselves are in ``encoding``).

    ``model`` is the face model that made it (``"sface"``, ``"dlib"``): only templates of the
    current model (:data:`consent.vision.faces.RECOGNISER`) are compared with a photo's faces.
    """

    id: int
    person_id: int
    photo_sha256: str
    enrolled_on: dt.date
    quality: float
    model: str = "dlib"
    encoding: object = field(repr=False, compare=False, default=None)


#: what :class:`EnrolmentStrength` says about the photos' agreement
PHOTOS_AGREE = "the photos agree"
PHOTOS_DISAGREE = "the photos disagree: check they are all of this pupil"


@dataclass(frozen=True)
class EnrolmentStrength:
    """How well a person is enrolled for face recognition, in words for the school office.

    ``photos`` counts the templates of the current face model (one per reference photo);
    ``old_photos`` those of an older model, which are never used (the person needs a new photo,
    or ``consent register reencode`` from the kept photos). ``spread`` is the largest distance
    between two of the current photos' templates (None with fewer than two), ``agree`` whether
    it is within ``settings.match_threshold`` and ``agreement`` that in words. ``in_use`` is
    False when biometric consent is not in force, whatever is stored. ``label`` sums it up:
    "not enrolled", "1 photo: add a second (two or three recommended)", "2 photos that agree"...
    """

    photos: int
    old_photos: int
    spread: float | None
    agree: bool | None
    agreement: str | None
    in_use: bool
    label: str

    @property
    def needs_new_photo(self) -> bool:
        return self.in_use and self.photos == 0 and self.old_photos > 0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TemplateDue:
    """A person whose newest face template is older than the re-enrolment age."""

    person: Person
    newest_enrolled_on: dt.date
    age_days: int


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    by: str
    action: str
    person_id: int | None
    #: the person as they are named now, or ``person #12 (purged)``
    person_label: str | None
    before: object
    after: object
    redacted: bool

    def to_json(self) -> dict:
        return asdict(self)


def channel_key(name: str) -> str:
    return _SPACES_DASHES.sub("_", (name or "").strip().lower())


def consent_record_from_row(row: dict) -> ConsentRecord:
    return ConsentRecord(
        id=row["id"], person_id=row["person_id"], channel=row["channel"], status=row["status"],
        recorded_on=from_iso(row["recorded_on"]), until=from_iso(row["until"]),
        source=row["source"], note=row["note"], recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
    )


def normalise_year(value) -> str | None:
    """``"Year 7"``, ``"Y7"``, ``"Yr 07"``, ``"7"`` -> ``"7"``; ``"Reception"`` -> ``"R"``;
    anything else is kept as written (``"N1"``, ``"Staff"``)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    low = text.lower()
    if low in ("r", "rec", "reception", "yr r", "year r"):
        return "R"
    match = _YEAR.fullmatch(low)
    if match:
        return match.group(1)
    return text


def clean_person_fields(values: dict) -> dict:
    """Trim and check a person's fields; raises :class:`RegisterError` naming the problem."""
    out = {}
    for key in PERSON_FIELDS:
        value = values.get(key)
        if isinstance(value, str):
            value = " ".join(value.split()) or None
        out[key] = value
    if not out["mis_id"]:
        raise RegisterError("a person needs a MIS id (UPN, admission number or staff code)")
    out["mis_id"] = out["mis_id"].upper()
    if " " in out["mis_id"]:
        raise RegisterError(f"MIS id {out['mis_id']!r} contains spaces; check the value")
    if not out["legal_forename"] or not out["legal_surname"]:
        raise RegisterError(f"{out['mis_id']}: a legal first name and surname are needed")
    out["role"] = (out["role"] or "pupil").lower()
    if out["role"] not in ROLES:
        raise RegisterError(f"{out['mis_id']}: role must be pupil or staff, not {out['role']!r}")
    out["year_group"] = normalise_year(out["year_group"])
    out["left_on"] = iso_date(as_date(out["left_on"], "leaving date"))
    return out
