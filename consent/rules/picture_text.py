"""``name_in_picture``: a pupil's name written in the photo itself (a badge or lanyard, a bib, the
top of an exercise book, a whiteboard, a certificate, a printed shirt).

The lines the text reader found (:mod:`consent.vision.text`, kept with the cached analysis) go
through the same name matcher as captions (:mod:`consent.rules.names`): a pictured pupil's first
name, surname or preferred name readable anywhere in the picture blocks every channel; the full
name of any other pupil on roll needs review. Messages say where the name is ("top left") and
the reason carries its box, but never whose name it is: the name and the face it belongs to are
in ``name_detail``, shown only to roles allowed to see names.

When the text could not be read (a missing or broken model) the photo needs review: what the
tool cannot check is never "ok".
"""

from __future__ import annotations

from ..results import SEV_BLOCK, SEV_REVIEW, Reason
from . import RuleContext, plural, rule
from .names import RollIndex, Text, names_pictured

#: a line counts as the next line of a name (a badge with the surname below the first name)
#: when it starts within this many line heights below the previous one
NEXT_LINE_GAP = 1.0
#: a suggested crop may cut off at most this share of the photo
MAX_CROP_SHARE = 0.5


@rule
def name_in_picture(ctx: RuleContext):
    reading = ctx.text
    if reading is None:  # the text check was off: the check's notes say so
        return
    if reading.error:
        yield Reason(
            code="text_unreadable",
            severity=SEV_REVIEW,
            message=(
                f"the text in the picture could not be read ({reading.error}); look for pupils' "
                "names in the picture before publishing"
            ),
        )
        return
    pictured = {pid: p for pid, p in ctx.pictured.items() if p.role != "staff"}
    roll = ctx.roll_index or RollIndex(ctx.pupils_on_roll)
    on_roll = {p.person_id: p for p in ctx.pupils_on_roll}
    blocks, reviews = [], []
    seen: set[tuple[int, int]] = set()  # (person id, line): a joined pair adds nothing new then
    for box, text, lines in _passages(reading.lines):
        words = Text(text)
        for pid, person in pictured.items():
            if not any((pid, i) in seen for i in lines) and names_pictured(words, person):
                blocks.append((box, pid, text))
                seen.update((pid, i) for i in lines)
        for pid in sorted(roll.fully_named_in(words) - set(pictured)):
            if pid in on_roll and not any((pid, i) in seen for i in lines):
                reviews.append((box, on_roll[pid], text))
                seen.update((pid, i) for i in lines)
    if blocks:
        boxes = _distinct(b for b, _, _ in blocks)
        count = len({pid for _, pid, _ in blocks})
        places = _places(boxes, ctx)
        who = "a pupil in the photo" if count == 1 else f"{count} pupils in the photo"
        yield Reason(
            code="name_in_picture",
            severity=SEV_BLOCK,
            message=f"the picture shows the name of {who} ({places}); crop it out or choose another photo",
            suggestion=_crop_words(boxes, ctx) or "crop the name out, or use a copy with the text blurred",
            regions=boxes,
            name_detail="; ".join(
                f"'{text}' ({_where(box, ctx)}) names {_face_words(pid, ctx)}" for box, pid, text in blocks
            ),
        )
    reviews = [(b, pid, f) for b, pid, f in reviews if not any(_inside(b, x) for x, _, _ in blocks)]
    if reviews:
        boxes = _distinct(b for b, _, _ in reviews)
        count = len({person.person_id for _, person, _ in reviews})
        yield Reason(
            code="name_in_picture",
            severity=SEV_REVIEW,
            message=(
                f"the picture shows the full name of {plural(count, 'pupil')} on roll "
                f"({_places(boxes, ctx)}); pupils must not be named in published photos"
            ),
            suggestion=_crop_words(boxes, ctx) or "crop the name out, or use a copy with the text blurred",
            regions=boxes,
            name_detail="; ".join(
                f"'{text}' ({_where(box, ctx)}) names {p.first} {p.surname}, on roll" for box, p, text in reviews
            ),
        )


def _passages(lines):
    """Each line on its own, then each line joined with the line just below it (a first name
    and surname written on two lines), as (box, text, indices of the lines)."""
    out = [(line.box, line.text, (i,)) for i, line in enumerate(lines)]
    for i, a in enumerate(lines):
        for j, b in enumerate(lines):
            if i == j:
                continue
            at, ar, ab, al = a.box
            bt, br, bb, bl = b.box
            height = max(1, ab - at)
            below = 0 <= bt - ab + height * 0.25 <= height * (NEXT_LINE_GAP + 0.25)
            overlap = min(ar, br) - max(al, bl) > 0
            if below and overlap:
                out.append(((min(at, bt), max(ar, br), max(ab, bb), min(al, bl)), f"{a.text} {b.text}", (i, j)))
    return out


def _distinct(boxes) -> list[tuple[int, int, int, int]]:
    """Boxes without duplicates or boxes lying inside another, in reading order."""
    boxes = list(dict.fromkeys(tuple(b) for b in boxes))
    kept = [b for b in boxes if not any(o != b and _inside(b, o) for o in boxes)]
    return sorted(kept, key=lambda b: (b[0], b[3]))


def _inside(inner, outer) -> bool:
    return inner[0] >= outer[0] and inner[1] <= outer[1] and inner[2] <= outer[2] and inner[3] >= outer[3]


def _where(box, ctx: RuleContext) -> str:
    """Where a box is in the picture, in words: "top left", "centre", "bottom right"."""
    top, right, bottom, left = box
    x = (left + right) / 2 / max(1, ctx.width)
    y = (top + bottom) / 2 / max(1, ctx.height)
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "centre"
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


def _places(boxes, ctx: RuleContext) -> str:
    return ", ".join(dict.fromkeys(_where(b, ctx) for b in boxes))


def _face_words(pid: int, ctx: RuleContext) -> str:
    person = ctx.pictured[pid]
    numbers = [str(f.index + 1) for f in ctx.faces if f.match == "matched" and f.person_id == pid]
    face = f"face {', '.join(numbers)}" if numbers else "a pictured pupil"
    return f"{face}, {person.first} {person.surname}"


def _crop_words(boxes, ctx: RuleContext) -> str | None:
    """The smallest cut from one edge that removes every box and keeps every face whole, in words."""
    top = min(b[0] for b in boxes)
    right = max(b[1] for b in boxes)
    bottom = max(b[2] for b in boxes)
    left = min(b[3] for b in boxes)
    w, h = max(1, ctx.width), max(1, ctx.height)
    faces = [f.box for f in ctx.faces]
    options = [
        ("top", bottom / h, lambda f: f[0] >= bottom),
        ("bottom", (h - top) / h, lambda f: f[2] <= top),
        ("left", right / w, lambda f: f[3] >= right),
        ("right", (w - left) / w, lambda f: f[1] <= left),
    ]
    fits = [(share, side) for side, share, keeps in options if all(keeps(f) for f in faces)]
    if not fits:
        return None
    share, side = min(fits)
    if share > MAX_CROP_SHARE:
        return None
    return (f"cropping off the {side} {max(1, round(share * 100))}% of the photo removes the name "
            "and keeps every face")
