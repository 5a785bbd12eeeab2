"""A read-only snapshot of the register for judging photos (:class:`RegisterView`), and reading it."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field

from ..rules import PersonNames
from ..settings import DEFAULTS, Settings
from ..vision.faces import RECOGNISER


@dataclass
class Person:
    """What a check needs to know about one person in the register."""

    id: int
    names: PersonNames
    display_name: str
    role: str
    never_publish: bool = False
    never_publish_reason: str | None = None
    #: pupils' year group (normalised: "7", "R") and class (form), for restricting a check to
    #: the people who can be in a photo (:mod:`consent.register.groups`)
    year_group: str | None = None
    form: str | None = None


@dataclass
class RegisterView:
    """A read-only snapshot of the register for judging photos."""

    version: int
    channels: list[str]
    people: dict[int, Person]
    #: (person id, channel) -> granted / refused / withdrawn / expired / missing
    consent: dict[tuple[int, str], str]
    #: matching gallery (consent.register.matching.Gallery) and its fingerprint
    gallery: object = None
    gallery_fingerprint: str = "empty"
    #: ids of people on roll today (leavers stay in ``people``: old photos still show them)
    on_roll: set[int] = field(default_factory=set)
    #: (person id, channel) -> (since, until) of the consent record in force, for sentences
    #: such as "consent for newsletter was withdrawn on 3 March"
    consent_dates: dict[tuple[int, str], tuple] = field(default_factory=dict)
    #: the day the consent states are for (an end date that passes changes them)
    day: dt.date | None = None
    #: seniors' answers about "looks like" faces (:mod:`consent.register.identities`):
    #: photo sha256 -> {face box: (person id, "yes" or "no")}, applied when a photo is judged
    answers: dict[str, dict[tuple, tuple[int, str]]] = field(default_factory=dict)

    #: built on first use, then kept with this snapshot (judging many photos reuses them)
    _roll: list | None = field(default=None, repr=False, compare=False)
    _roll_index: object = field(default=None, repr=False, compare=False)

    @property
    def pupils_on_roll(self) -> list[PersonNames]:
        if self._roll is None:
            self._roll = [p.names for p in self.people.values() if p.role == "pupil" and p.id in self.on_roll]
        return self._roll

    def roll_index(self):
        """The pupils on roll indexed by name for the caption rule, built once per snapshot."""
        if self._roll_index is None:
            from ..rules.names import RollIndex

            self._roll_index = RollIndex(self.pupils_on_roll)
        return self._roll_index


def empty_view() -> RegisterView:
    """The view of an empty register: every face is unknown, every channel known."""
    from .schema import BUILTIN_CHANNELS

    channels = [c for c, (_, kind) in BUILTIN_CHANNELS.items() if kind == "publication"]
    return RegisterView(version=0, channels=channels, people={}, consent={})


def load_view(reg, settings: Settings = DEFAULTS, *, on: dt.date | None = None,
              with_gallery: bool = True) -> RegisterView:
    """Snapshot people, the consent states on day ``on`` (default today), never-publish flags
    and (``with_gallery``) the face gallery, which judging a stored analysis does not need.

    Leavers stay in the view (old photos still show them, and their consent still applies)
    but are not "on roll" for caption checks.
    """
    from . import identities
    from .records import today

    day = on or today()
    version = reg.version()
    channels = reg.channel_names()
    people = {}
    on_roll = set()
    for p in reg.people(admin=True):
        people[p.id] = Person(
            id=p.id,
            names=PersonNames(
                person_id=p.id, first=p.legal_forename, surname=p.legal_surname,
                preferred=p.preferred_forename, preferred_surname=p.preferred_surname, role=p.role,
            ),
            display_name=p.display_name,
            role=p.role,
            never_publish=p.never_publish,
            never_publish_reason=p.never_publish_reason,
            year_group=p.year_group,
            form=p.form,
        )
        if p.on_roll(day):
            on_roll.add(p.id)
    states = reg.consent_states_many(list(people), on=day, channels=channels)
    consent, dates = {}, {}
    for pid, by_channel in states.items():
        for ch, state in by_channel.items():
            consent[(pid, ch)] = state.status
            if state.since or state.until:
                dates[(pid, ch)] = (state.since, state.until)
    gallery = reg.gallery() if with_gallery else None
    fingerprint = "empty"
    if gallery is not None and len(gallery):
        # the model's name too: another model's templates of the same people are other numbers
        digest = hashlib.sha256(RECOGNISER.encode())
        digest.update(gallery.person_ids.tobytes())
        digest.update(gallery.matrix.tobytes())
        fingerprint = digest.hexdigest()[:20]
    else:
        gallery = None
    view = RegisterView(
        version=version, channels=channels, people=people, consent=consent,
        gallery=gallery, gallery_fingerprint=fingerprint, on_roll=on_roll,
        consent_dates=dates, day=day, answers=identities.answers(reg),
    )
    return view


_current: dict = {}
_current_lock = threading.Lock()


def current_view(reg, settings: Settings | None = None) -> RegisterView:
    """The register as it is today, without the face gallery, for judging stored results.

    Kept per process and register file while the register's version and the day stay the same,
    so pages that judge many stored results read the register once; any change to it (a
    withdrawal, a flag, a purge) or midnight passing makes the next call read it again.
    """
    from .records import today

    settings = settings or reg.settings
    key = (str(reg.path), id(settings))
    version, day = reg.version(), today()
    with _current_lock:
        view = _current.get(key)
    if view is None or view.version != version or view.day != day:
        view = load_view(reg, settings, on=day, with_gallery=False)
        with _current_lock:
            _current[key] = view
    return view
