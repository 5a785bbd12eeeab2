"""Who can be in this photo: a check restricted to some year groups and classes.

A school trip's photos can only show the pupils on the trip. Restricting a check to them
(``consent check --group 7 --group 8B``, the web's "year groups or classes" field) compares
each face with those pupils and all staff only, so the face of anybody else is unknown (needs
review), never a near match to a look-alike in another year:

1. each value asked for is a year group (as the register writes it: "Year 7", "Y7" and "7" are
   the same year) or a class (form), matched without regard to case and spacing;
2. a value no pupil on roll has is refused, naming it and listing the ones that exist;
3. the people compared with are the pupils on roll in any of the year groups or classes, and
   every member of staff;
4. the restriction is part of the analysis cache key (:meth:`Restriction.fingerprint`): the
   same photo checked without it, or with another, is matched again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UnknownGroup
from .records import normalise_year


@dataclass(frozen=True)
class Restriction:
    """The year groups and classes a check is restricted to, and who that leaves."""

    #: normalised year groups ("7", "R") and classes ("7B") asked for, in a stable order
    years: tuple[str, ...]
    forms: tuple[str, ...]
    #: the people faces are compared with: those pupils, and all staff
    person_ids: frozenset[int]

    def fingerprint(self) -> list:
        """What the analysis cache key holds of the restriction."""
        return [list(self.years), list(self.forms), sorted(self.person_ids)]

    def to_json(self) -> dict:
        return {"years": list(self.years), "forms": list(self.forms)}


def parse(values) -> list[str]:
    """The values of a form field or repeated option: ``["7, 8", "7B"]`` -> ``["7", "8", "7B"]``
    (commas and semicolons separate values; blanks are dropped)."""
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in re.split(r"[,;]", str(value)) if v.strip()]
    return list(dict.fromkeys(out))


def _form_key(value: str) -> str:
    return "".join(value.split()).casefold()


def restrict(view, values) -> Restriction | None:
    """The :class:`Restriction` of ``values`` (year groups or classes) against ``view`` (a
    :class:`~consent.register.view.RegisterView`); None when no value is given. Raises
    :class:`UnknownGroup` naming each value nobody on roll has, with the ones that exist."""
    values = parse(values)
    if not values:
        return None
    pupils = [p for p in view.people.values() if p.role == "pupil" and p.id in view.on_roll]
    years_known = {p.year_group for p in pupils if p.year_group}
    forms_known = {_form_key(p.form): p.form for p in pupils if p.form}
    years, forms, unknown = [], [], []
    for value in values:
        year = normalise_year(value)
        if year in years_known:
            years.append(year)
        elif _form_key(value) in forms_known:
            forms.append(forms_known[_form_key(value)])
        else:
            unknown.append(value)
    if unknown:
        raise UnknownGroup(_unknown_message(unknown, years_known, set(forms_known.values())))
    years_t, forms_t = tuple(sorted(set(years), key=_order)), tuple(sorted(set(forms), key=_order))
    ids = {p.id for p in pupils if p.year_group in years_t or p.form in forms_t}
    ids |= {p.id for p in view.people.values() if p.role == "staff"}
    return Restriction(years_t, forms_t, frozenset(ids))


def _order(value: str):
    """Year groups and classes in school order: R, 1, 2 ... 13, then the rest as written."""
    match = re.match(r"(\d+)", value)
    return (0, -1, value) if value == "R" else (0, int(match.group(1)), value) if match else (1, 0, value)


def _unknown_message(unknown: list[str], years: set[str], forms: set[str]) -> str:
    from ..results import join_words

    quoted = join_words([f"“{v}”" for v in unknown])
    have = []
    if years:
        have.append("year groups " + ", ".join(sorted(years, key=_order)))
    if forms:
        have.append("classes " + ", ".join(sorted(forms, key=_order)))
    which = "; ".join(have) if have else "none: no pupil on roll has a year group or class"
    return (f"nobody on roll is in {'year group or class' if len(unknown) == 1 else 'year groups or classes'} "
            f"{quoted}; the register has {which}")


def words(compared_with: dict | None) -> str | None:
    """``{"years": ["7", "8"], "forms": ["9C"]}`` -> "compared with Year 7 and 8 and class 9C
    only (and staff)"; None for an unrestricted check."""
    if not compared_with:
        return None
    from ..results import join_words

    years, forms = compared_with.get("years") or [], compared_with.get("forms") or []
    parts = []
    if years:
        parts.append("Year " + join_words(list(years)))
    if forms:
        parts.append(("class " if len(forms) == 1 else "classes ") + join_words(list(forms)))
    return f"compared with {' and '.join(parts)} only (and staff)"
