"""Enrol people's faces from photos: the register's side of face templates.

For each photo: the person's biometric consent must be granted (checked before the photo is
even opened: no biometric processing without consent); the photo must show exactly one clear
face (:func:`consent.vision.faces.enrolment_encoding` says why not); and, as a guard against a
mislabelled file, the face must not look like somebody else already enrolled, nor unlike the
person's own earlier templates (``force=True`` skips that guard, e.g. for twins). Enrolling the
same photo twice stores it once.

:func:`enrol_folder` takes a folder of photos named by MIS id, as MIS photo exports are
(``A123456789012.jpg``; ``A123456789012_2.jpg`` for a second photo of the same person).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConsentError, NoBiometricConsent
from ..images import file_hash, find_images
from ..settings import DEFAULTS, Settings
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
    template_id: int | None = None
    quality: float | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


class _Guard:
    """The enrolled faces, to catch a photo of the wrong person (loaded once per batch)."""

    def __init__(self, register: Register):
        self.register = register
        self.gallery = register.gallery()
        self.added: list[tuple[int, np.ndarray]] = []

    def add(self, person_id: int, encoding: np.ndarray) -> None:
        self.added.append((person_id, encoding))

    def problem(self, person: Person, encoding: np.ndarray, settings: Settings) -> str | None:
        """Why this face should not be enrolled for ``person``, or None."""
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
            if d_other <= settings.match_threshold and (own is None or d_other < own):
                who = self.register.get_person(other).label
                return (f"the face looks like {who}, who is already enrolled; check the photo "
                        f"is of {person.display_name} (or enrol with --force for twins)")
        if own is not None and own > settings.match_threshold:
            return (f"the face does not look like the photos already enrolled for "
                    f"{person.display_name}; check the photo (or enrol with --force)")
        return None


def enrol(
    register: Register,
    person,
    photos,
    *,
    settings: Settings = DEFAULTS,
    force: bool = False,
    by: str | None = None,
    _guard: _Guard | None = None,
) -> list[EnrolResult]:
    """Enrol one person (Person, id, MIS id or name) from one or more photos.

    Returns one :class:`EnrolResult` per photo; a refused photo never stops the others.
    Raises :class:`PersonNotFound`/:class:`AmbiguousPerson` for an unknown person.
    """
    from ..vision import faces

    target = register.resolve(person)
    results = []
    guard = _guard
    for path in photos:
        name = str(path)
        result = EnrolResult(name, REFUSED, person=target.label, person_id=target.id)
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
        except OSError as exc:
            result.reason = f"{name}: cannot be read ({exc.strerror or exc}); check the path"
            continue
        if any(t.photo_sha256 == digest for t in register.templates(target.id)):
            result.status, result.reason = ALREADY, "this photo is already enrolled"
            continue
        try:
            encoding, quality = faces.enrolment_encoding(path, settings=settings)
        except ConsentError as exc:  # EnrolmentRefused, UnreadableImage, ...
            result.reason = str(exc)
            continue
        encoding = np.asarray(encoding, dtype=np.float64)
        result.quality = round(float(quality), 3)
        if not force:
            guard = guard or _Guard(register)
            problem = guard.problem(target, encoding, settings)
            if problem:
                result.reason = f"{name}: {problem}"
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
                f"{path.name}: no person with MIS id {mis_id} in the register; name enrolment "
                "photos by MIS id (e.g. A123456789012.jpg)"))
        else:
            (result,) = enrol(register, person, [path], settings=settings, force=force, by=by,
                              _guard=guard)
        results.append(result)
        if progress:
            progress(result)
    return results
