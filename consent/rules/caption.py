"""``name_in_caption``: a caption, alt text or file name must never name a pictured pupil.

Names are found by the shared matcher (:mod:`consent.rules.names`: whole words, case- and
accent-insensitive). A pictured pupil's name blocks wherever it appears, even when it is also an
ordinary word ("Will", "Grace"). A pupil on roll who is not in the photo is flagged for review
when named in full, or when a name is written as a proper noun (capitalised) and is not an
ordinary English word, so everyday captions do not raise false alarms.
"""

from __future__ import annotations

import re

from ..results import SEV_BLOCK, SEV_REVIEW, Reason
from . import RuleContext, plural, rule
from .names import RollIndex, Text, names_pictured

@rule
def name_in_caption(ctx: RuleContext):
    sources = [("caption", ctx.caption), ("alt text", ctx.alt_text), ("file name", _stem(ctx.file_name))]
    sources = [(label, Text(value)) for label, value in sources if value and value.strip()]
    if not sources:
        return
    pictured_pupils = {pid: p for pid, p in ctx.pictured.items() if p.role != "staff"}
    hits = []
    for label, text in sources:
        for face in ctx.faces:
            person = pictured_pupils.get(face.person_id) if face.match == "matched" else None
            if person and names_pictured(text, person):
                hits.append((label, face.index))
    if hits:
        faces = sorted({i for _, i in hits})
        yield Reason(
            code="name_in_caption",
            severity=SEV_BLOCK,
            message=_names(hits, len(faces), "in the photo", "remove the names before publishing"),
            faces=faces,
            suggestion="describe the event instead of naming pupils",
        )
    others = set()
    roll = ctx.roll_index or RollIndex(ctx.pupils_on_roll)
    for label, text in sources:
        for person_id in roll.named_in(text) - set(pictured_pupils):
            others.add((label, person_id))
    if others:
        count = len({pid for _, pid in others})
        yield Reason(
            code="name_in_caption",
            severity=SEV_REVIEW,
            message=_names(others, count, "on roll", "pupils must not be named next to photos"),
        )


def _names(hits, count: int, who: str, advice: str) -> str:
    """"2 pupils in the photo are named in the caption and file name; <advice>"."""
    where = " and ".join(sorted({label for label, _ in hits}))
    return f"{plural(count, 'pupil')} {who} {'is' if count == 1 else 'are'} named in the {where}; {advice}"


def _stem(file_name: str) -> str:
    """A file name as words: ``jack_smith-sports.day.jpg`` -> ``jack smith sports day``."""
    stem = file_name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    return re.sub(r"[_\-.]+", " ", stem)


_WHERE = re.compile(r"^the (.+?) names? \d+ pupils?")


def neutral_reasons(reasons: list[Reason]) -> list[Reason]:
    """``reasons`` with the caption's name findings (pictured pupil: block; pupil on roll:
    review) folded into one blocking reason that says a name was found and where, but not
    whose: for people who may not see names, so a caption cannot be used to ask the register
    who is pictured or on roll."""
    found = [r for r in reasons if r.code == "name_in_caption"]
    if not found:
        return reasons
    where = sorted({w for r in found for w in _where(r.message)})
    merged = Reason(
        code="name_in_caption",
        severity=SEV_BLOCK,
        message=(f"the {' and '.join(where) or 'caption'} contain{'s' if len(where) < 2 else ''} "
                 "a pupil's name; pupils must not be named next to photos: remove the name before publishing"),
        suggestion="describe the event instead of naming pupils",
    )
    kept = [r for r in reasons if r.code != "name_in_caption"]
    return [merged] + kept


def _where(message: str) -> list[str]:
    m = _WHERE.match(message)
    return m.group(1).split(" and ") if m else []
