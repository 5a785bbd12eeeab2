"""Which people a register list shows: the words a person is found by, and the filters behind
every figure of the register at a glance (:mod:`.glance`).

The rule, stated once:

1. A person is found by their names (legal and preferred), MIS id, class (form) and year group
   ("year 7", "y7"), folded as :func:`~.records.name_key` folds names (no accents, apostrophes
   or case): :func:`search_text`.
2. A search finds the people whose search text contains every word of the query
   (``"jo 7b"`` finds Joe Biden in 7B). The web page's script filters with the same text, which
   the page carries for each person, so typing and the server's ``?q=`` agree.
3. :class:`ListQuery` holds every filter of the register list; :func:`find` applies them all
   (each must hold). A figure on the glance page links to the list whose filters select exactly
   the people it counts.

Read-only: nothing here writes the register.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from ..errors import RegisterError
from .records import BIOMETRIC, Person, as_date, name_key, normalise_year, today
from .store import Register

#: ``year`` or ``form`` written as this selects people with none recorded
NONE = "none"
#: ``flag`` values: never-publish people only, or everyone else
FLAGS = ("never", "clear")
#: ``enrolment`` values: old face model only (need a new photo); biometric consent in force but
#: no usable reference photo (no template of the current face model)
ENROLMENTS = ("needs_new_photo", "no_photo")


def search_text(person: Person) -> str:
    """The folded words a person is found by (rule 1)."""
    bits = [*person.names(), person.mis_id, person.form or ""]
    if person.year_group:
        y = person.year_group
        bits += [f"year {y}", f"y{y}"] if y[:1].isdigit() or y == "R" else [y]
    if person.role == "staff":
        bits.append("staff")
    return name_key(" ".join(bits))


def matches(person: Person, query: str) -> bool:
    """True when every word of ``query`` is in the person's :func:`search_text` (rule 2)."""
    text = search_text(person)
    return all(word in text for word in name_key(query).split())


@dataclass(frozen=True)
class ListQuery:
    """The register list's filters, as its query parameters name them (empty: no filter).

    ``roll``: ``on`` (default), ``left`` or ``all``; ``channel`` with ``status`` (a consent
    status or ``not_granted``); ``expiring``: a date: with ``channel``, consent granted whose
    ``until`` is between today and that date; ``flag``: ``never`` / ``clear``; ``year`` and
    ``form``: exact, or ``none`` for nobody recorded; ``enrolment``: one of
    :data:`ENROLMENTS`.
    """

    q: str = ""
    role: str = ""
    year: str = ""
    form: str = ""
    roll: str = "on"
    channel: str = ""
    status: str = ""
    expiring: str = ""
    flag: str = ""
    enrolment: str = ""

    @classmethod
    def from_args(cls, args) -> "ListQuery":
        """From a mapping of query parameters (unknown ones are ignored)."""
        return cls(**{f.name: (args.get(f.name) or f.default or "").strip() for f in fields(cls)})

    def args(self) -> dict:
        """The non-empty filters, as query parameters (``roll`` only when not ``on``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) and not (f.name == "roll" and self.roll == "on")}


def find(register: Register, query: ListQuery, on: dt.date | None = None, admin: bool = False) -> list[Person]:
    """The people the register list shows for ``query`` on ``on`` (default today), sorted by
    surname and first name. Raises :class:`RegisterError` naming a filter that is not valid."""
    day = on or today()
    on_roll = {"on": True, "left": False, "all": None}.get(query.roll or "on", True)
    year = None if query.year.lower() == NONE else query.year or None
    form = None if query.form.lower() == NONE else query.form or None
    people = register.people(
        year=year, form=form, role=query.role or None, on_roll=on_roll,
        channel=query.channel or None, status=query.status or None, on=day, admin=admin,
    )
    if query.year.lower() == NONE:
        people = [p for p in people if not p.year_group]
    if query.form.lower() == NONE:
        people = [p for p in people if not p.form]
    if query.flag:
        if query.flag not in FLAGS:
            raise RegisterError(f"unknown flag filter {query.flag!r}; use never or clear")
        people = [p for p in people if p.never_publish == (query.flag == "never")]
    if query.expiring:
        if not query.channel:
            raise RegisterError("choose a channel to see whose consent for it expires")
        last = as_date(query.expiring, "expiring date")
        name = register.channel(query.channel).name
        states = register.consent_states_many([p.id for p in people], on=day, channels=[name])
        people = [p for p in people if expires(states[p.id][name], day, last)]
    if query.enrolment:
        if query.enrolment not in ENROLMENTS:
            raise RegisterError(f"unknown face recognition filter {query.enrolment!r}; "
                                f"use {' or '.join(ENROLMENTS)}")
        wanted = ({p.id for p in register.needs_new_photo(on=day)} if query.enrolment == "needs_new_photo"
                  else no_usable_photo(register, [p.id for p in people], day))
        people = [p for p in people if p.id in wanted]
    if query.q:
        people = [p for p in people if matches(p, query.q)]
    return people


def expires(state, day: dt.date, last: dt.date) -> bool:
    """True when ``state`` is consent granted on ``day`` that ends by ``last`` (inclusive)."""
    return state.granted and state.until is not None and day <= state.until <= last


def no_usable_photo(register: Register, person_ids: list[int], day: dt.date) -> set[int]:
    """Of ``person_ids``, those whose biometric consent is granted on ``day`` but who have no
    face template of the current face model: face recognition cannot know them."""
    from ..vision.faces import RECOGNISER

    enrolled = {r[0] for r in register.db.conn.execute(
        "SELECT DISTINCT person_id FROM templates WHERE model = ?", [RECOGNISER])}
    states = register.consent_states_many(person_ids, on=day, channels=[BIOMETRIC])
    return {pid for pid in person_ids if states[pid][BIOMETRIC].granted and pid not in enrolled}


def year_key(year: str | None) -> tuple:
    """Sort key for year groups: Reception, 1, 2 ... 13, then anything else, then none."""
    if not year:
        return (3, 0, "")
    if year == "R":
        return (0, 0, "")
    if year.isdigit():
        return (1, int(year), "")
    return (2, 0, year.casefold())


def year_label(year: str | None) -> str:
    """``"7"`` -> ``"Year 7"``, ``"R"`` -> ``"Reception"``, None -> ``"No year group"``."""
    year = normalise_year(year)
    if not year:
        return "No year group"
    if year == "R":
        return "Reception"
    return f"Year {year}" if year.isdigit() else year
