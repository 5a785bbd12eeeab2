"""What a copy of a photo with faces blurred may be published for.

The blurred copy's pixels are checked again, but that re-check cannot be the judge of what the
blur cured: it no longer sees the faces it hid, so it finds nobody in the photo, and the checks
that start from the people in it (PE kit, swimwear and undress) stay silent: a toddler without a
top, blurred, would read "OK to publish". So it is decided by rule, stated once:

1. The copy blurs every face that is not cleared for every channel checked, and every place in
   the picture where a pupil's name was read (:func:`to_blur`).
2. A reason of the original check is cleared on the copy only as ``consent.rules.FACE_BLUR``
   says: a reason about faces when every face it is about was blurred (a small group: and each
   of those faces could be recognised), a name in the picture when every place it points at was
   blurred. Everything else stays exactly as on the original: never-publish, swimwear and
   undress, PE kit, names in the caption, alt text or file name, metadata, text that could not
   be read.
3. The re-check of the copy's pixels may add reasons (something the blur did not hide), never
   remove one.
4. Each channel's verdict on the copy is the worst of what stays (2) and what the re-check adds (3).

:func:`publish_blurred` writes the copy (from the photo's picture at full size), has it
re-checked and records what it may be published for. The command line, the JSON, the reports
and the web app (single checks, the batch zip, the takedown list) all take the copy's verdict
from :func:`blurred_check`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from .errors import ConsentError
from .results import Face, PhotoCheck, Reason, box_json, channel_verdicts
from .rules import FACE_BLUR, FACES, IDENTIFIABLE_FACES, PICTURE_PLACES

Box = tuple[int, int, int, int]


def to_blur(result: PhotoCheck) -> tuple[list[int], list[Box]]:
    """What a blurred copy of ``result``'s photo blurs: the indices of the faces not cleared for
    every channel checked, and the places (boxes) where a pupil's name was read in the picture."""
    faces = [f.index for f in result.faces if any(f.state(c) != "cleared" for c in result.channels)]
    regions = [tuple(box) for r in result.reasons if r.code == "name_in_picture" for box in r.regions]
    return faces, list(dict.fromkeys(regions))


def publish_blurred(photo, result: PhotoCheck, dst: Path, recheck: Callable[[Path], PhotoCheck],
                    settings) -> None:
    """Write the blurred copy of ``photo`` (a :class:`consent.images.Photo`, checked as
    ``result``) to ``dst`` (rule 1), re-check it (``recheck(copy)``: the copy's pixels checked
    with the original's words) and record on ``result`` the copy (``safe_copy``), the re-check
    (``blurred_recheck``, no names) and what the copy may be published for (``blurred``, rules
    2-4). A copy that cannot be re-checked is an error: nothing is offered for publication."""
    from .vision.blur import write_blurred_copy

    faces, names = to_blur(result)
    boxes = [result.faces[i].box for i in faces] + names
    result.safe_copy = str(write_blurred_copy(photo, boxes, dst, settings))
    again = recheck(Path(result.safe_copy))
    if again.error:
        raise ConsentError(f"{result.name}: the blurred copy could not be re-checked ({again.error})")
    # what blurring cured is decided by rule; the re-check may only add reasons
    copy = blurred_check(result, again, faces, names)
    blurred = f"{len(faces)} face(s)" + (f" and {len(names)} name(s) in the picture" if names else "")
    result.notes.append(f"{blurred} blurred; the blurred copy was re-checked, and what blurring does not "
                        f"change still counts: {copy.summary()}")
    result.blurred_recheck = again.to_json(names=False, detail=True)  # internal: no names
    result.blurred = to_json(copy, faces, names)


def cured(reason: Reason, faces: list[Face], blurred_faces, blurred_regions) -> bool:
    """True when blurring ``blurred_faces`` (indices into ``faces``) and ``blurred_regions``
    clears ``reason`` (rule 2)."""
    how = FACE_BLUR[reason.code]
    blurred = set(blurred_faces)
    if how == FACES:
        return bool(reason.faces) and set(reason.faces) <= blurred
    if how == IDENTIFIABLE_FACES:
        by_index = {f.index: f for f in faces}
        return bool(reason.faces) and all(
            i in blurred and i in by_index and by_index[i].identifiable for i in reason.faces)
    if how == PICTURE_PLACES:
        places = {tuple(b) for b in blurred_regions}
        return bool(reason.regions) and {tuple(b) for b in reason.regions} <= places
    return False


def blurred_check(original: PhotoCheck, recheck: PhotoCheck, faces, regions) -> PhotoCheck:
    """The blurred copy's check by rule (module docstring): ``original`` judged as the photo
    was, ``recheck`` the copy's pixels judged with the same words, ``faces`` and ``regions``
    what the copy blurred (:func:`to_blur`). Its faces are the original's; a reason the re-check
    adds refers to no face (its faces are the copy's)."""
    kept = [r for r in original.reasons if not cured(r, original.faces, faces, regions)]
    seen = {_key(r) for r in kept}
    added = [replace(r, faces=[]) for r in recheck.reasons if _key(r) not in seen]
    reasons = kept + added
    channels = list(original.channels)
    return replace(original, reasons=reasons, verdicts=channel_verdicts(reasons, channels),
                   notes=list(original.notes), safe_copy=recheck.path, blurred_recheck=None, blurred=None)


def to_json(check: PhotoCheck, faces, regions) -> dict:
    """``PhotoCheck.blurred``: what the copy blurred and what it may be published for (no names)."""
    return {
        "faces": list(faces),
        "regions": [box_json(b) for b in regions],
        "verdict": check.verdict,
        "summary": check.summary(),
        "channels": {c: v.to_json() for c, v in check.verdicts.items()},
        "reasons": [r.to_json(names=False) for r in check.reasons],
    }


def _key(reason: Reason) -> tuple:
    """A reason the re-check finds again (the same code, severity and channels: kit scored a
    little differently, say) adds nothing: the original's words stand."""
    return reason.code, reason.severity, tuple(reason.channels)
