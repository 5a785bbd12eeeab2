"""The register at a glance: who can be published, and who still needs a form or a photo.

Figures for the pupils on roll on one day, for the whole school, each year group and each
class. The rule, stated once:

1. Every pupil on roll is counted once in each channel, in exactly one of: ``never`` (flagged
   never-publish: nothing is published whatever consent says; publication channels only),
   else their consent state: ``granted`` (can be published), ``refused``, ``withdrawn``,
   ``expired`` or ``missing`` (no form). So a channel's figures add up to the pupils.
2. ``expiring``: of ``granted``, those whose consent ends between today and the end of this
   term (:func:`term_end`).
3. ``no_photo`` (biometric channel): of ``granted``, those with no face template of the current
   face model: face recognition cannot know them (:func:`.listing.no_usable_photo`).
4. Every figure is the length of a register list: :func:`list_query` gives the filters
   (:class:`.listing.ListQuery`) that select exactly the people it counts.

Read-only; the web page (``/register/glance``) only renders a :class:`Glance`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .listing import NONE, ListQuery, expires, no_usable_photo, year_key, year_label
from .records import BIOMETRIC, Channel, today
from .store import Register

#: the states of rule 1, in the order pages show them
STATES = ("granted", "refused", "withdrawn", "expired", "missing", "never")


def easter(year: int) -> dt.date:
    """Easter Sunday (the Gregorian computus: Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def term_end(on: dt.date) -> dt.date:
    """The last day of the school term ``on`` falls in, as English schools' three terms run:
    autumn to 31 December, spring to Easter Sunday, summer (with its holiday) to 31 August."""
    if on.month >= 9:
        return dt.date(on.year, 12, 31)
    spring_end = easter(on.year)
    return spring_end if on <= spring_end else dt.date(on.year, 8, 31)


@dataclass
class Tally:
    """One channel's figures for one group of pupils (rule 1-3)."""

    granted: int = 0
    refused: int = 0
    withdrawn: int = 0
    expired: int = 0
    missing: int = 0
    never: int = 0
    expiring: int = 0
    no_photo: int = 0

    @property
    def pupils(self) -> int:
        return sum(getattr(self, s) for s in STATES)

    @property
    def needs_form(self) -> int:
        """Pupils with no consent in force to ask again: no form, or consent expired."""
        return self.missing + self.expired


@dataclass
class Group:
    """The figures for the school, one year group (``form`` None) or one class."""

    label: str
    #: the year group as stored ("7", "R"; ``"none"`` for pupils with none), None for the school
    year: str | None
    form: str | None
    pupils: int = 0
    never_publish: int = 0
    #: channel name -> its figures
    channels: dict[str, Tally] = field(default_factory=dict)


@dataclass
class Glance:
    """Who can be published on each channel, and who still needs a form or a photo."""

    on: dt.date
    #: consent ending by this day is "expiring this term"
    term_end: dt.date
    #: the channels counted: publication channels, then biometric
    channels: list[Channel]
    school: Group
    years: list[Group]
    #: by (year group, class), in year then class order; pupils with no class are left out
    classes: list[Group]

    @property
    def no_photo(self) -> int:
        """Pupils with biometric consent but no usable reference photo."""
        tally = self.school.channels.get(BIOMETRIC)
        return tally.no_photo if tally else 0

    def classes_of(self, year: str) -> list[Group]:
        return [g for g in self.classes if g.year == year]


def glance(register: Register, on: dt.date | None = None, last_day: dt.date | None = None) -> Glance:
    """The figures for the pupils on roll on ``on`` (default today); consent ending by
    ``last_day`` (default :func:`term_end`) counts as expiring."""
    day = on or today()
    last = last_day or term_end(day)
    every = register.channels(include_biometric=True)
    channels = [c for c in every if c.kind != BIOMETRIC] + [c for c in every if c.kind == BIOMETRIC]
    pupils = register.people(role="pupil", on_roll=True, on=day)
    ids = [p.id for p in pupils]
    states = register.consent_states_many(ids, on=day, channels=[c.name for c in channels])
    unknown_faces = no_usable_photo(register, ids, day)

    def new(label, year, form):
        return Group(label, year, form, channels={c.name: Tally() for c in channels})

    school = new("All pupils", None, None)
    years: dict[str, Group] = {}
    classes: dict[tuple[str, str], Group] = {}
    for p in pupils:
        year = p.year_group or NONE
        groups = [school, years.setdefault(year, new(year_label(p.year_group), year, None))]
        if p.form:
            groups.append(classes.setdefault((year, p.form), new(p.form, year, p.form)))
        for c in channels:
            st = states[p.id][c.name]
            state = "never" if p.never_publish and c.kind != BIOMETRIC else st.status
            for g in groups:
                t = g.channels[c.name]
                setattr(t, state, getattr(t, state) + 1)
                if state == "granted" and expires(st, day, last):
                    t.expiring += 1
                if c.kind == BIOMETRIC and state == "granted" and p.id in unknown_faces:
                    t.no_photo += 1
        for g in groups:
            g.pupils += 1
            g.never_publish += p.never_publish
    year_order = sorted(years, key=lambda y: year_key(None if y == NONE else y))
    return Glance(
        on=day, term_end=last, channels=channels, school=school,
        years=[years[y] for y in year_order],
        classes=[classes[k] for k in sorted(
            classes, key=lambda k: (year_key(None if k[0] == NONE else k[0]), k[1].casefold()))],
    )


def list_query(group: Group, channel: str | None = None, figure: str | None = None,
               last_day: dt.date | None = None) -> ListQuery:
    """The register list's filters that select exactly the pupils behind one figure (rule 4).

    ``figure``: one of :data:`STATES`, ``expiring`` (give ``last_day``), ``no_photo``, or
    ``pupils`` (everyone in the group); ``never`` needs no channel.
    """
    base = {"role": "pupil", "year": group.year or "", "form": group.form or ""}
    if figure in (None, "pupils"):
        return ListQuery(**base)
    if figure == "never":
        return ListQuery(**base, flag="never")
    if figure == "no_photo":
        return ListQuery(**base, enrolment="no_photo")
    flag = "" if channel == BIOMETRIC else "clear"
    if figure == "expiring":
        return ListQuery(**base, channel=channel, status="granted", flag=flag,
                         expiring=last_day.isoformat() if last_day else "")
    return ListQuery(**base, channel=channel, status=figure, flag=flag)
