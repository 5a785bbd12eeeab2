"""Enrol people's faces from photos: the register's side of face templates.

For each photo: the person's biometric consent must be granted (checked before the photo is
even opened: no biometric processing without consent); the photo must show exactly one clear
face (:func:`consent.vision.faces.enrolment_encoding` says why not); and, as a guard against a
mislabelled file, the face must not look like somebody else already enrolled, nor unlike the
person's own earlier templates (``force=True`` skips that guard, e.g. for twins). Enrolling the
same photo twice stores it once. Two or three photos per person are recommended
(:meth:`Register.enrolment_strength` says how well someone is enrolled); every template is
made by the current face model (:data:`consent.vision.faces.RECOGNISER`) and only those of the
current model are compared.

:func:`reencode` makes current-model templates again from the enrolment photos a school kept,
for people enrolled with an older face model (found by the photo's SHA-256, which every
template records).

:func:`enrol_folder` takes a folder of photos named by MIS id, as MIS photo exports are
(``A123456789012.jpg``; ``A123456789012_2.jpg`` for a second photo of the same person).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConsentError, NoBiometricConsent
from ..images import file_hash, find_images
from ..settings import DEFAULTS, Settings
from ..vision.faces import RECOGNISER
from .records import BIOMETRIC, Person
from .store import Register

ENROLLED, ALREADY, REFUSED = "enrolled", "already_enrolled", "refused"


@dataclass
class EnrolResult:
    """What happened to one enrolment photo: ``enrolled``, ``already_enrolled`` or ``refused``."""

    path: str
    status: str
    #: the person as messages name them; None when the file name matched nobody
    person: str | None = None
    person_id: int | None = None
    reason: str | None = None
    #: refused only because the face looks like someone else's, or unlike the person's own
    #: photos: an admin who knows (twins) may enrol it anyway (``consent register enrol --force``)
    overridable: bool = False
    template_id: int | None = None
    quality: float | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


class _Guard:
    """The enrolled faces, to catch a photo of the wrong person (loaded once per batch).

    Only templates of the current face model are compared (:meth:`Register.gallery` holds no
    others): an old model's numbers mean nothing next to the new model's encoding.
    """

    def __init__(self, register: Register):
        self.register = register
        self.gallery = register.gallery()
        self.added: list[tuple[int, np.ndarray]] = []

    def add(self, person_id: int, encoding: np.ndarray) -> None:
        self.added.append((person_id, encoding))

    def problem(self, person: Person, encoding: np.ndarray, settings: Settings) -> str | None:
        """Why this face should not be enrolled for ``person``, or None: it is within the
        look-alike band of somebody else (and closer to them than to the person's own photos),
        or beyond that band from the person's own photos. The band, not the stricter match
        threshold: two photos of one child are often further apart than the threshold (only
        about a quarter of a child's other photos are within it, ``make measure-identity``),
        and a refused good photo costs as much as a mislabelled one."""
        distances: dict[int, float] = {}
        if len(self.gallery):
            row = self.gallery.person_distances(encoding[None, :])[0]
            distances = {int(p): float(d) for p, d in zip(self.gallery.person_ids, row)}
        for pid, enc in self.added:
            d = float(np.linalg.norm(enc - encoding))
            distances[pid] = min(d, distances.get(pid, d))
        own = distances.pop(person.id, None)
        if distances:
            other, d_other = min(distances.items(), key=lambda kv: kv[1])
            if d_other <= settings.match_lookalike_threshold and (own is None or d_other < own):
                who = self.register.get_person(other).label
                return (f"the face looks like {who}, who is already enrolled; check the photo "
                        f"is of {person.display_name}")
        if own is not None and own > settings.match_lookalike_threshold:
            return (f"the face does not look like the photos already enrolled for "
                    f"{person.display_name}; check the photo")
        return None


def enrol(
    register: Register,
    person,
    photos,
    *,
    settings: Settings = DEFAULTS,
    force: bool = False,
    by: str | None = None,
    names: list[str] | None = None,
    _guard: _Guard | None = None,
) -> list[EnrolResult]:
    """Enrol one person (Person, id, MIS id or name) from one or more photos.

    ``names``: how the user named each photo, when it was saved under another name (a web
    upload); each result's ``path`` is that name, and its ``reason`` says what is wrong and what
    to do without repeating it (the shells put the name in front).
    Returns one :class:`EnrolResult` per photo; a refused photo never stops the others.
    Raises :class:`PersonNotFound`/:class:`AmbiguousPerson` for an unknown person.
    """
    from ..vision import faces

    target = register.resolve(person)
    results = []
    guard = _guard
    photos = list(photos)
    shown_names = list(names) if names is not None else [str(p) for p in photos]
    if len(shown_names) != len(photos):
        raise ValueError("enrol(): one name per photo")
    for path, shown in zip(photos, shown_names):
        name = str(path)
        result = EnrolResult(shown, REFUSED, person=target.label, person_id=target.id)
        results.append(result)
        state = register.consent_state(target.id, BIOMETRIC)
        if not state.granted:
            result.reason = (
                f"biometric consent for {target.display_name} is {state.status}, so their face "
                f"may not be enrolled; record written consent first"
            )
            continue
        try:
            digest = file_hash(path)
        except ConsentError as exc:  # UnreadableImage: says which file and why
            result.reason = refusal(str(exc), name, target)
            continue
        if any(t.photo_sha256 == digest for t in register.templates(target.id, model=RECOGNISER)):
            result.status, result.reason = ALREADY, "this photo is already enrolled"
            continue
        try:
            encoding, quality = faces.enrolment_encoding(path, settings=settings)
        except ConsentError as exc:  # EnrolmentRefused, UnreadableImage, ...
            result.reason = refusal(str(exc), name, target)
            continue
        encoding = np.asarray(encoding, dtype=np.float64)
        result.quality = round(float(quality), 3)
        if not force:
            guard = guard or _Guard(register)
            problem = guard.problem(target, encoding, settings)
            if problem:
                result.reason, result.overridable = problem, True
                continue
        try:
            template_id = register.add_template(target.id, encoding, digest, quality, by=by)
        except NoBiometricConsent as exc:  # withdrawn while we were working
            result.reason = str(exc)
            continue
        if template_id is None:
            result.status, result.reason = ALREADY, "this photo is already enrolled"
            continue
        result.status, result.template_id = ENROLLED, template_id
        if guard is not None:
            guard.add(target.id, encoding)
    return results


_SEVERAL_FACES = re.compile(r"several faces \((\d+)\) found; crop the photo to one person")


def refusal(message: str, path: str, person: Person) -> str:
    """Why one enrolment photo of ``person`` was refused, for the person enrolling it: without
    the file's name (``path``, maybe a stored name the user never chose: the shells name the
    photo as the user named it) and saying what to do.

    ``"/tmp/x/0-obama_and_biden.jpg: several faces (3) found; crop the photo to one person"``
    -> ``"3 faces found; use a photo with only Joe in it, or crop it to Joe's face"``.
    """
    if message.startswith(f"{path}: "):
        message = message[len(path) + 2:]
    message = message.replace(path, "the photo")
    who = person.forename
    return _SEVERAL_FACES.sub(
        lambda m: f"{m[1]} faces found; use a photo with only {who} in it, or crop it to {who}'s face",
        message)


_MIS_ID_IN_NAME = re.compile(r"^([A-Za-z0-9]+)")


def enrol_folder(
    register: Register,
    folder: str | os.PathLike,
    *,
    settings: Settings = DEFAULTS,
    force: bool = False,
    by: str | None = None,
    progress=None,
) -> list[EnrolResult]:
    """Enrol every photo in ``folder`` (and below) named by MIS id; one result per photo.

    ``progress``, if given, is called with each result as it is made.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConsentError(f"{folder}: not a folder; give the folder of photos named by MIS id")
    results = []
    guard = None if force else _Guard(register)
    for path, _rel in find_images([folder]):
        match = _MIS_ID_IN_NAME.match(path.stem)
        mis_id = match.group(1) if match else path.stem
        person = register.person_by_mis_id(mis_id) if match else None
        if person is None:
            result = EnrolResult(str(path), REFUSED, reason=(
                f"no person with MIS id {mis_id} in the register; name enrolment "
                "photos by MIS id (e.g. A123456789012.jpg)"))
        else:
            (result,) = enrol(register, person, [path], settings=settings, force=force, by=by,
                              _guard=guard)
        results.append(result)
        if progress:
            progress(result)
    return results


@dataclass
class ReencodeResult:
    """What :func:`reencode` did with a folder of kept enrolment photos."""

    folder: str
    #: photos looked at, and how many of them matched no old-model template (ignored)
    photos: int = 0
    unmatched: int = 0
    #: one :class:`EnrolResult` per (photo, person) whose old template the photo matched
    results: list[EnrolResult] = field(default_factory=list)
    #: people given a template of the current model, as messages name them
    reencoded: list[Person] = field(default_factory=list)
    #: people still enrolled only with an old model afterwards (:meth:`Register.needs_new_photo`)
    still_need: list[Person] = field(default_factory=list)

    @property
    def refused(self) -> list[EnrolResult]:
        return [r for r in self.results if r.status == REFUSED]

    def to_json(self) -> dict:
        return {
            "folder": self.folder, "photos": self.photos, "unmatched": self.unmatched,
            "results": [r.to_json() for r in self.results],
            "reencoded": [{"id": p.id, "mis_id": p.mis_id, "name": p.display_name} for p in self.reencoded],
            "still_need_new_photo": [{"id": p.id, "mis_id": p.mis_id, "name": p.display_name}
                                     for p in self.still_need],
        }


def reencode(
    register: Register,
    folder: str | os.PathLike,
    *,
    settings: Settings = DEFAULTS,
    by: str | None = None,
    progress=None,
) -> ReencodeResult:
    """Encode again, with the current face model, the kept enrolment photos in ``folder``.

    Every photo in ``folder`` (and below) whose SHA-256 equals the ``photo_sha256`` of a
    template of an old face model is encoded with the current model and stored for that same
    person, while their biometric consent is granted (no consent, no encoding); storing it
    deletes the person's old-model templates (:meth:`Register.add_template`). The photo was
    checked to be theirs when it was first enrolled, so the look-alike guard is not run again.
    Photos that match no old template are counted and left alone. Audited: each template as
    ``template.add``, and the run as ``register.reencode``.

    ``progress``, if given, is called with each :class:`EnrolResult` as it is made.
    """
    from ..vision import faces

    folder = Path(folder)
    if not folder.is_dir():
        raise ConsentError(f"{folder}: not a folder; give the folder where the enrolment photos are kept")
    # read before anything is stored: storing a person's first new template deletes their old ones
    owners: dict[str, list[int]] = {}
    for sha, pid in register.db.conn.execute(
            "SELECT DISTINCT photo_sha256, person_id FROM templates WHERE model <> ? "
            "ORDER BY person_id", [RECOGNISER]):
        owners.setdefault(sha, []).append(pid)
    outcome = ReencodeResult(str(folder))
    done: dict[int, Person] = {}
    for path, _rel in find_images([folder]):
        outcome.photos += 1
        try:
            digest = file_hash(path)
        except ConsentError as exc:  # unreadable: it cannot be a kept photo we can use
            outcome.unmatched += 1
            if progress:
                progress(EnrolResult(str(path), REFUSED, reason=str(exc)))
            continue
        if digest not in owners:
            outcome.unmatched += 1
            continue
        encoding = None
        for pid in owners[digest]:
            person = register.get_person(pid)
            result = EnrolResult(str(path), REFUSED, person=person.label, person_id=pid)
            outcome.results.append(result)
            state = register.consent_state(pid, BIOMETRIC)
            if not state.granted:
                result.reason = (f"biometric consent for {person.display_name} is {state.status}, "
                                 "so their face may not be encoded")
            else:
                try:
                    if encoding is None:
                        encoding, quality = faces.enrolment_encoding(path, settings=settings)
                    template_id = register.add_template(pid, encoding, digest, quality, by=by)
                except ConsentError as exc:  # EnrolmentRefused, NoBiometricConsent, ...
                    result.reason = str(exc)
                else:
                    result.quality = round(float(quality), 3)
                    if template_id is None:
                        result.status, result.reason = ALREADY, "this photo is already enrolled"
                    else:
                        result.status, result.template_id = ENROLLED, template_id
                        done[pid] = person
            if progress:
                progress(result)
    outcome.reencoded = sorted(done.values(), key=lambda p: (p.surname.casefold(), p.forename.casefold()))
    outcome.still_need = register.needs_new_photo()
    with register.transaction():
        register.audit_change("register.reencode", None, after={
            "folder": str(folder), "photos": outcome.photos, "unmatched": outcome.unmatched,
            "people": len(outcome.reencoded), "model": RECOGNISER,
            "still_need_new_photo": len(outcome.still_need)}, by=by)
    return outcome
