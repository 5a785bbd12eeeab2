"""Faces on sampled frames linked into tracks: one person across the frames of a clip.

The rule, applied to each sampled frame in order (:meth:`Tracker.add`):

1. a face is linked to the track whose last sighting (on a frame at most :data:`MAX_GAP_S`
   before) overlaps it most, when the boxes' IoU is at least
   :data:`consent.vision.faces.SAME_FACE_IOU` (0.3: the detector's own same-face rule), unless
   both have encodings and the face's is further than ``settings.match_threshold`` from every
   encoding the track keeps: then it is somebody else in the same place (one pupil stepping in
   where another stood, or a cut between two close-ups), and a track is never one person's
   sightings and another's, so the second is never cleared by the first one's consent;
2. otherwise, a face with an encoding is linked to the track whose encodings it is closest to,
   when within ``settings.match_threshold`` (the register's own "same person" distance) and
   seen at most :data:`MAX_GAP_ENCODED_S` before: a person turning away and back, or crossing
   in front of another;
3. otherwise it starts a track. Each track takes at most one face per frame, each face one track.

Faces are encoded before they are linked (:meth:`Tracker.to_encode`): a track's first two
sightings, then every other one, and every face that joins no track by position; so another
person in a track's place on two sampled frames in a row is encoded once at least and split off
by rule 1.

A track broken in two is two tracks, each judged on its own (a review too many, never a face
missed); two people are never merged by position alone across a gap longer than one sample
step or two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..settings import DEFAULTS, Settings

#: the longest gap, in seconds, a face's box may be missing and still link by position (a
#: face missed on one or two sampled frames at 4 a second)
MAX_GAP_S = 0.8
#: the longest gap for a link by encoding (the same person, seen again after turning away)
MAX_GAP_ENCODED_S = 3.0
#: sightings whose encodings a track keeps (its best, by :meth:`Sighting.quality`)
KEEP_ENCODINGS = 5
#: a track's first sightings encoded every time; after them, every other one (:meth:`Tracker.to_encode`)
MIN_ENCODED = 2


@dataclass
class Sighting:
    """One face on one sampled frame (a :class:`consent.vision.faces.DetectedFace`, without its
    pixels)."""

    t: float
    box: tuple[int, int, int, int]
    height_px: int
    sharpness: float
    turn: float
    identifiable: bool
    recognisable: bool
    why_not: str | None
    encoding: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, t: float, face) -> "Sighting":
        return cls(t=t, box=tuple(int(v) for v in face.box), height_px=int(face.height_px),
                   sharpness=float(face.sharpness), turn=float(face.turn),
                   identifiable=bool(face.identifiable), recognisable=bool(face.recognisable),
                   why_not=face.why_not, encoding=face.encoding)

    def quality(self) -> tuple:
        """Best first: recognisable, identifiable, then the largest, then the sharpest."""
        return (self.recognisable, self.identifiable, self.height_px, self.sharpness)


@dataclass
class Track:
    """One person across frames: their sightings, in time order."""

    sightings: list[Sighting] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.sightings[0].t

    @property
    def end(self) -> float:
        return self.sightings[-1].t

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    def spans(self, gap: float = MAX_GAP_ENCODED_S) -> list[tuple[float, float]]:
        """When it is on screen: (start, end) seconds, rounded to 0.01, a new span after a gap
        of more than ``gap`` seconds between two sightings (a person who left and came back)."""
        out = []
        for s in self.sightings:
            if out and s.t - out[-1][1] <= gap:
                out[-1][1] = s.t
            else:
                out.append([s.t, s.t])
        return [(round(a, 2), round(b, 2)) for a, b in out]

    def best(self) -> Sighting:
        """Its best sighting (:meth:`Sighting.quality`): the face as a person would see it."""
        return max(self.sightings, key=Sighting.quality)

    def encodings(self, most: int = KEEP_ENCODINGS) -> list[np.ndarray]:
        """The encodings of its best sightings, best first."""
        encoded = [s for s in self.sightings if s.encoding is not None]
        encoded.sort(key=Sighting.quality, reverse=True)
        return [s.encoding for s in encoded[:most]]


class Tracker:
    """Links each sampled frame's faces to the tracks so far (see the module's docstring)."""

    def __init__(self, settings: Settings = DEFAULTS):
        self.settings = settings
        self.tracks: list[Track] = []
        #: tracks seen within MAX_GAP_ENCODED_S of the last frame (the only ones a face may join)
        self._active: list[int] = []

    def to_encode(self, t: float, faces: list) -> list[bool]:
        """Which of ``faces`` (seen at ``t``, not yet encoded) to encode: every recognisable
        face, except one that will join a track by position (:meth:`add`'s first rule, taken
        greedily by overlap as there) when that track already keeps
        :data:`MIN_ENCODED` encodings and its last sighting was encoded. So a track's sightings
        are encoded at least every other sample: a person in another's place on two sampled
        frames in a row is encoded on one of them and split off (the first rule), and a new
        face, or one coming back, is always encoded."""
        from ..vision.faces import SAME_FACE_IOU

        want = [bool(f.recognisable) for f in faces]
        recent = [i for i in self._active if t - self.tracks[i].end <= MAX_GAP_S and self.tracks[i].end < t]
        if not faces or not recent:
            return want
        iou = box_ious([tuple(int(v) for v in f.box) for f in faces], [self.tracks[i].last.box for i in recent])
        js, ks = np.nonzero(iou >= SAME_FACE_IOU)
        done: set[int] = set()
        taken: set[int] = set()
        for _, j, i in sorted(((float(iou[j, k]), int(j), recent[k]) for j, k in zip(js, ks)), reverse=True):
            if j in done or i in taken:
                continue
            done.add(j)
            taken.add(i)
            track = self.tracks[i]
            if track.last.encoding is not None and sum(s.encoding is not None for s in track.sightings) >= MIN_ENCODED:
                want[j] = False
        return want

    def add(self, t: float, faces: list) -> list[int]:
        """Link ``faces`` (DetectedFace, encoded or not) seen at ``t`` seconds; returns each
        face's track index."""
        from ..vision.faces import SAME_FACE_IOU

        sightings = [Sighting.of(t, f) for f in faces]
        out: list[int | None] = [None] * len(sightings)
        taken: set[int] = set()
        self._active = [i for i in self._active if t - self.tracks[i].end <= MAX_GAP_ENCODED_S]
        kept: dict[int, np.ndarray] = {}  # each track's kept encodings, found once a frame

        def known(i: int) -> np.ndarray:
            if i not in kept:
                kept[i] = np.asarray(self.tracks[i].encodings())
            return kept[i]

        recent = [i for i in self._active if t - self.tracks[i].end <= MAX_GAP_S and self.tracks[i].end < t]
        if sightings and recent:
            iou = box_ious([s.box for s in sightings], [self.tracks[i].last.box for i in recent])
            js, ks = np.nonzero(iou >= SAME_FACE_IOU)
            pairs = sorted(((float(iou[j, k]), int(j), recent[k]) for j, k in zip(js, ks)), reverse=True)
        else:
            pairs = []
        for _, j, i in pairs:
            if out[j] is None and i not in taken and not self._someone_else(sightings[j], known(i)):
                out[j], _ = i, taken.add(i)
        alive = [i for i in self._active if self.tracks[i].end < t]
        close = []
        for j, s in enumerate(sightings):
            if out[j] is not None or s.encoding is None:
                continue
            for i in alive:
                enc = known(i)
                if len(enc):
                    d = float(np.min(np.linalg.norm(enc - s.encoding, axis=1)))
                    if d <= self.settings.match_threshold:
                        close.append((d, j, i))
        for d, j, i in sorted(close):
            if out[j] is None and i not in taken:
                out[j], _ = i, taken.add(i)
        for j, s in enumerate(sightings):
            if out[j] is None:
                self.tracks.append(Track())
                out[j] = len(self.tracks) - 1
                self._active.append(out[j])
            self.tracks[out[j]].sightings.append(s)
        return out

    def _someone_else(self, sighting: Sighting, known: np.ndarray) -> bool:
        """Whether an encoded sighting is further than the register's same-person distance from
        every encoding its track keeps (``known``): its face, in the same place, is another
        person's."""
        if sighting.encoding is None or not len(known):
            return False
        d = float(np.min(np.linalg.norm(known - sighting.encoding, axis=1)))
        return d > self.settings.match_threshold


def box_ious(a: list[tuple], b: list[tuple]) -> np.ndarray:
    """The (len(a), len(b)) intersections over union of (top, right, bottom, left) boxes, as
    :func:`consent.vision.faces.box_iou` computes each."""
    a, b = np.asarray(a, dtype=np.int64).reshape(-1, 4), np.asarray(b, dtype=np.int64).reshape(-1, 4)
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    left = np.maximum(a[:, None, 3], b[None, :, 3])
    right = np.minimum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(0, bottom - top) * np.maximum(0, right - left)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 1] - a[:, 3])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 1] - b[:, 3])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
