"""The policy rules. Each rule is a function ``rule(ctx) -> iterable of Reason`` in a small
module of this package, registered with ``@rule``; adding a rule is adding one module and one
line to ``_MODULES``.

Rules never touch files, models or the database: the pipeline (:mod:`consent.check`) gathers
what they need into a :class:`RuleContext` first, so every rule is a plain function that tests
can drive directly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..results import Face, Reason
from ..settings import DEFAULTS, Settings


@dataclass
class PersonNames:
    """The names of a person on roll, for caption checks."""

    person_id: int
    first: str
    surname: str
    preferred: str | None = None
    role: str = "pupil"
    preferred_surname: str | None = None

    def forenames(self) -> list[str]:
        return [n for n in dict.fromkeys((self.first, self.preferred)) if n and n.strip()]

    def surnames(self) -> list[str]:
        return [n for n in dict.fromkeys((self.surname, self.preferred_surname)) if n and n.strip()]

    def names(self) -> list[str]:
        """Every name that identifies this person on its own (first, preferred, surnames)."""
        return list(dict.fromkeys(self.forenames() + self.surnames()))


@dataclass
class RuleContext:
    """Everything the rules may look at for one photo."""

    faces: list[Face]
    #: channels being checked
    channels: list[str]
    #: original picture size (upright)
    width: int
    height: int
    #: free text that will be published with the photo
    caption: str = ""
    alt_text: str = ""
    #: the photo's file name (as uploaded) and the folder it came from
    file_name: str = ""
    folder: str = ""
    #: metadata groups found in the original (consent.metadata group codes)
    metadata_found: list[str] = field(default_factory=list)
    #: names of matched people in this photo, by person id
    pictured: dict[int, PersonNames] = field(default_factory=dict)
    #: every pupil on roll (for captions naming someone not in the photo)
    pupils_on_roll: list[PersonNames] = field(default_factory=list)
    #: the same pupils indexed by name (consent.rules.names.RollIndex), when the caller keeps
    #: one for many photos; built from ``pupils_on_roll`` otherwise
    roll_index: object | None = None
    #: person id -> never-publish reason (admins only)
    never_publish: dict[int, str] = field(default_factory=dict)
    #: consent.vision.kit.KitAssessment, when the kit check ran
    kit: object | None = None
    #: consent.vision.text.TextReading: the text read in the picture (None: not read)
    text: object | None = None
    settings: Settings = DEFAULTS

    @property
    def pupil_faces(self) -> list[Face]:
        """Faces that count as pupils: every face not matched to a staff member."""
        return [f for f in self.faces if not f.is_staff]

    @property
    def identifiable_pupils(self) -> list[Face]:
        """Pupil faces someone could recognise (not too small or blurred to know who it is)."""
        return [f for f in self.pupil_faces if f.identifiable]

    @property
    def context_text(self) -> str:
        """Folder, file name, caption and alt text: where context words are looked for."""
        return " ".join(t for t in (self.folder, self.file_name, self.caption, self.alt_text) if t)


#: What a copy of the photo with faces blurred does to a reason (:mod:`consent.blurring`):
#: the reason is cleared on the blurred copy only when ...
FACES = "faces"  # ... every face it is about was blurred in that copy
IDENTIFIABLE_FACES = "identifiable_faces"  # ... every face it counts was blurred and could be recognised
PICTURE_PLACES = "picture_places"  # ... every place in the picture it points at was blurred
KEPT = "kept"  # never: it stays on the blurred copy exactly as on the original

#: Every reason code the rules give (docs/json.md), and what blurring faces does to it. A rule
#: giving a code that is not here is a bug (:func:`evaluate` refuses it): decide first what a
#: blurred copy does to it.
FACE_BLUR = {
    "never_publish": KEPT,  # hair, body and setting still identify them: only sign-off can help
    "no_consent": FACES,
    "unrecognised_face": FACES,
    "unchecked_face": FACES,
    "ambiguous_match": FACES,
    "looks_like": FACES,
    "close_up": FACES,
    "small_group": IDENTIFIABLE_FACES,  # a face nobody could recognise is not helped by blurring
    "name_in_caption": KEPT,  # the words published beside the photo do not change
    "caption_names_someone": KEPT,  # the same words
    "name_in_picture": PICTURE_PLACES,  # the blurred copy blurs the names it found too
    "text_unreadable": KEPT,
    "location_metadata": KEPT,
    "pe_kit": KEPT,
    "exposure": KEPT,
    "kit_unknown": KEPT,
    # videos only (consent.video.check): what the tool did not look at or listen to; blurring
    # faces changes neither the sound nor what is written or worn
    "sound_not_checked": KEPT,
    "kit_not_checked": KEPT,
    "picture_text_not_checked": KEPT,
}
REASON_CODES = tuple(FACE_BLUR)

#: Who may release, by signing the photo off, a channel a reason holds back (:mod:`consent.signoff`)
SENIOR = "senior"  # any senior colleague (or admin)
SAFEGUARDING_LEAD = "safeguarding_lead"  # only a designated safeguarding lead
NOBODY = "nobody"  # no sign-off: only what cures it at its source (written consent recorded,
#                    the caption changed, the name cropped or blurred)

#: For every reason code: who may release it by sign-off when it asks for review, and when it
#: blocks; and what cures it otherwise, in the office's words. Sign-off is a person looking and
#: deciding: it can settle what a person can judge by looking (who a face is, whether kit or a
#: close-up is fine), never a parent's missing consent or words published beside the photo.
SIGN_OFF = {
    "never_publish": (SAFEGUARDING_LEAD, SAFEGUARDING_LEAD,
                      "only the designated safeguarding lead can release it"),
    "no_consent": (NOBODY, NOBODY,
                   "record the written consent in the register (an admin), or use the copy with faces blurred"),
    "unrecognised_face": (SENIOR, SENIOR, "a senior colleague checks who it is"),
    "unchecked_face": (SENIOR, SENIOR, "a senior colleague checks who it is"),
    "ambiguous_match": (SENIOR, SENIOR, "a senior colleague checks who it is"),
    "looks_like": (SENIOR, SENIOR, "a senior colleague confirms who it is"),
    "close_up": (SENIOR, SENIOR, "a senior colleague signs it off, or use a wider crop"),
    "small_group": (SENIOR, SENIOR, "a senior colleague signs it off"),
    "name_in_caption": (SENIOR, NOBODY, "take the pupil's name out of the caption, alt text or file name"),
    "caption_names_someone": (SENIOR, NOBODY, "a senior colleague checks the name is nobody in the photo, "
                              "or take it out of the caption, alt text or file name"),
    "name_in_picture": (SENIOR, NOBODY, "crop the name out, or use the copy with faces and names blurred"),
    "text_unreadable": (SENIOR, SENIOR, "a senior colleague reads the picture for names"),
    "location_metadata": (SENIOR, SENIOR, "use the safe copy: it carries no location"),
    "pe_kit": (SENIOR, SENIOR, "a senior colleague signs it off"),
    "exposure": (SENIOR, SENIOR, "a senior colleague signs it off"),
    "kit_unknown": (SENIOR, SENIOR, "a senior colleague looks for PE kit and undress"),
    # videos: a senior colleague who has listened to / watched the whole clip may release them
    "sound_not_checked": (SENIOR, SENIOR, "a senior colleague listens to the whole clip for pupils' names, "
                          "or use the safe copy without sound"),
    "kit_not_checked": (SENIOR, SENIOR, "a senior colleague watches the whole clip for PE kit and undress"),
    "picture_text_not_checked": (SENIOR, SENIOR, "a senior colleague watches the whole clip for names written "
                                 "in the picture, PE kit and undress"),
}


class UnknownReasonCode(Exception):
    """A rule gave a reason code that is not in :data:`FACE_BLUR` and :data:`SIGN_OFF` (a bug,
    not a user error)."""


Rule = Callable[[RuleContext], Iterable[Reason]]
RULES: list[Rule] = []

#: the rule modules, in the order their reasons are listed
_MODULES = ("consent_rules", "identity", "framing", "caption", "picture_text", "metadata", "kit")
_loaded = False


def rule(func: Rule) -> Rule:
    """Register a rule function."""
    RULES.append(func)
    return func


def load_rules() -> list[Rule]:
    global _loaded
    if not _loaded:
        for name in _MODULES:
            importlib.import_module(f"{__name__}.{name}")
        _loaded = True
    return RULES


def evaluate(ctx: RuleContext) -> list[Reason]:
    """Run every rule over one photo's context; reasons in rule order."""
    reasons: list[Reason] = []
    for func in load_rules():
        reasons.extend(func(ctx))
    for reason in reasons:
        if reason.code not in FACE_BLUR or reason.code not in SIGN_OFF:
            raise UnknownReasonCode(f"reason code {reason.code!r} is not in consent.rules.FACE_BLUR and "
                                    "SIGN_OFF: add it to both, saying what a blurred copy and a sign-off do to it")
    return reasons


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "pupil") == "1 pupil"``, ``plural(2, "pupil") == "2 pupils"``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
