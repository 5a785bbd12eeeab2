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
from .names import RollIndex, Text, might_name_someone, names_pictured

@rule
def name_in_caption(ctx: RuleContext):
    sources = [("caption", ctx.caption), ("alt text", ctx.alt_text), ("file name", _stem(ctx.file_name))]
    raw = [(label, value) for label, value in sources if value and value.strip()]
    sources = [(label, Text(value)) for label, value in raw]
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
    # words that could be anyone's name, found without the register: a senior checks them, as
    # they would a pupil's on roll (review), so that what a person who may not see names is
    # shown, offered and can send for sign-off is the same whether or not the name is a pupil's
    # (neutral_reasons): a caption cannot ask the register who is on roll (issue 27)
    named = {label for label, _ in hits} | {label for label, _ in others}
    not_names = " ".join((ctx.settings.school_name, *ctx.settings.caption_known_words))
    maybe = [label for label, value in raw if label not in named and might_name_someone(value, not_names)]
    if maybe:
        yield Reason(
            code="caption_names_someone",
            severity=SEV_REVIEW,
            message=(f"the {' and '.join(sorted(maybe))} may name someone who is not a pupil on roll; "
                     "a senior colleague checks it is nobody in the photo"),
            suggestion="describe the event instead of naming people",
        )


def _names(hits, count: int, who: str, advice: str) -> str:
    """"2 pupils in the photo are named in the caption and file name; <advice>"."""
    where = " and ".join(sorted({label for label, _ in hits}))
    return f"{plural(count, 'pupil')} {who} {'is' if count == 1 else 'are'} named in the {where}; {advice}"


def file_name_words(file_name: str) -> str:
    """A file name as the words the rule reads in it (see :func:`_stem`)."""
    return _stem(file_name)


def _stem(file_name: str) -> str:
    """A file name as words: ``jack_smith-sports.day.jpg`` -> ``jack smith sports day``."""
    stem = file_name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    return re.sub(r"[_\-.]+", " ", stem)


#: where a name was found, in each finding's message ("... is named in the caption and file
#: name; ...", "the file name may name someone ...")
_WHERE = re.compile(r"named in the (.+?);|^the (.+?) may name someone")
#: the reasons folded into one for people who may not see names
NAME_CODES = ("name_in_caption", "caption_names_someone")


def neutral_reasons(reasons: list[Reason]) -> list[Reason]:
    """``reasons`` with every name finding in the caption, alt text or file name (a pictured
    pupil's: block; a pupil's on roll: review; a word that could be anyone's name: review) folded
    into one blocking reason that says a name was found and where, but not whose: for people
    who may not see names, who get the same words and the same verdict whether or not the name
    is a pupil's, so a caption cannot be used to ask the register who is pictured or on roll."""
    found = [r for r in reasons if r.code in NAME_CODES]
    if not found:
        return reasons
    where = sorted({w for r in found for w in _where(r.message)})
    merged = Reason(
        code="name_in_caption",
        severity=SEV_BLOCK,
        message=(f"the {' and '.join(where) or 'caption'} name{'s' if len(where) < 2 else ''} a person; "
                 "check it is not a pupil in the photo: pupils must not be named next to photos, "
                 "so remove the name before publishing"),
        suggestion="describe the event instead of naming people, or ask a senior colleague to check it",
    )
    kept = [r for r in reasons if r.code not in NAME_CODES]
    return [merged] + kept


def _where(message: str) -> list[str]:
    m = _WHERE.search(message)
    return (m.group(1) or m.group(2)).split(" and ") if m else []
