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

    def add(self, t: float, faces: list) -> list[int]:
        """Link ``faces`` (DetectedFace, encoded or not) seen at ``t`` seconds; returns each
        face's track index."""
        from ..vision.faces import SAME_FACE_IOU, box_iou

        sightings = [Sighting.of(t, f) for f in faces]
        out: list[int | None] = [None] * len(sightings)
        taken: set[int] = set()
        recent = [i for i, tr in enumerate(self.tracks) if t - tr.end <= MAX_GAP_S and tr.end < t]
        pairs = sorted(((box_iou(s.box, self.tracks[i].last.box), j, i)
                        for j, s in enumerate(sightings) for i in recent), reverse=True)
        for iou, j, i in pairs:
            if iou < SAME_FACE_IOU:
                break
            if out[j] is None and i not in taken and not self._someone_else(sightings[j], self.tracks[i]):
                out[j], _ = i, taken.add(i)
        alive = [i for i, tr in enumerate(self.tracks) if t - tr.end <= MAX_GAP_ENCODED_S and tr.end < t]
        close = []
        for j, s in enumerate(sightings):
            if out[j] is not None or s.encoding is None:
                continue
            for i in alive:
                known = self.tracks[i].encodings()
                if known:
                    d = float(np.min(np.linalg.norm(np.asarray(known) - s.encoding, axis=1)))
                    if d <= self.settings.match_threshold:
                        close.append((d, j, i))
        for d, j, i in sorted(close):
            if out[j] is None and i not in taken:
                out[j], _ = i, taken.add(i)
        for j, s in enumerate(sightings):
            if out[j] is None:
                self.tracks.append(Track())
                out[j] = len(self.tracks) - 1
            self.tracks[out[j]].sightings.append(s)
        return out

    def _someone_else(self, sighting: Sighting, track: Track) -> bool:
        """Whether an encoded sighting is further than the register's same-person distance from
        every encoding ``track`` keeps (its face, in the same place, is another person's)."""
        known = track.encodings()
        if sighting.encoding is None or not known:
            return False
        d = float(np.min(np.linalg.norm(np.asarray(known) - sighting.encoding, axis=1)))
        return d > self.settings.match_threshold
