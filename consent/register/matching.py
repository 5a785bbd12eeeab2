"""Match the faces found in one photo against the register's face templates.

The register loads every usable template once into a :class:`Gallery` (one matrix); matching a
photo's faces is then one matrix product, whatever the number of people:

1. a person enrolled from several photos is matched by what the photos agree on: the
   unit-length mean of their templates (:meth:`Gallery.averaged`; measured on children's
   faces, ``make measure-identity``: with two photos each, 113 of 340 pupils' other photos
   matched right against the average, 83 against the closer photo, strangers alike);
2. face-to-person distances (Euclidean between unit-length SFace encodings) for every face
   and every person at once;
3. one assignment per photo: the closest (face, person) pair within ``settings.match_threshold``
   is taken first, then the next closest pair whose face and person are both still free, and
   so on; two faces in one photo can never be the same person;
4. a face is ``matched`` only when its person is clearly closer than anybody else: if another
   person is within ``settings.match_margin`` of it (or closer), the face is ``ambiguous``;
5. a face with nobody within the threshold but somebody within
   ``settings.match_lookalike_threshold`` ``looks like`` that person: a suggestion for a
   person entitled to see names to confirm or reject, never a match; a face with nobody even
   that close is ``unknown``. Unknown, ambiguous and looks-like are never treated as cleared.

No face detection here (that is :mod:`consent.vision.faces`); encodings in, matches out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..settings import DEFAULTS, Settings

MATCHED, UNKNOWN, AMBIGUOUS, LOOKS_LIKE = "matched", "unknown", "ambiguous", "looks_like"


@dataclass
class Gallery:
    """Every usable face template, stacked: the register's side of matching.

    ``person_ids[k]`` owns templates ``matrix[starts[k]:starts[k+1]]`` (templates are grouped
    by person). ``version`` is the register version it was loaded at, so a caller may keep
    a gallery while the register's version is unchanged.
    """

    person_ids: np.ndarray  # (P,) int64, one per person, ascending
    matrix: np.ndarray  # (T, 128) float64, grouped by person
    starts: np.ndarray  # (P,) int64 index of each person's first template
    version: int | None = None
    _norms: np.ndarray | None = field(default=None, repr=False)
    _averaged: "Gallery | None" = field(default=None, repr=False)

    @classmethod
    def from_rows(cls, rows, version: int | None = None) -> "Gallery":
        """Build from ``(person_id, encoding)`` rows sorted by person id; an encoding is 128
        float64 numbers as an array, list or ``tobytes()`` blob."""
        owners, vectors = [], []
        for person_id, encoding in rows:
            if isinstance(encoding, (bytes, bytearray, memoryview)):
                encoding = np.frombuffer(encoding, dtype=np.float64)
            owners.append(int(person_id))
            vectors.append(np.asarray(encoding, dtype=np.float64))
        return cls.from_arrays(np.asarray(owners, dtype=np.int64), vectors, version)

    @classmethod
    def from_arrays(cls, owners, encodings, version: int | None = None) -> "Gallery":
        """Build from a per-template owner array and the matching encodings (any order)."""
        owners = np.asarray(owners, dtype=np.int64)
        matrix = np.asarray(encodings, dtype=np.float64).reshape(len(owners), 128)
        order = np.argsort(owners, kind="stable")
        owners, matrix = owners[order], np.ascontiguousarray(matrix[order])
        if len(owners):
            person_ids, starts = np.unique(owners, return_index=True)
        else:
            person_ids = starts = np.zeros(0, dtype=np.int64)
        return cls(person_ids=person_ids, matrix=matrix, starts=starts, version=version)

    def restricted(self, person_ids) -> "Gallery":
        """The gallery of only these people (an event's year groups or classes): a face of
        anybody else is compared with nobody, so it stays unknown instead of a near match."""
        keep = np.isin(self.person_ids, np.asarray(list(person_ids), dtype=np.int64))
        ends = np.append(self.starts[1:], len(self.matrix))
        rows = [np.arange(a, b) for a, b, k in zip(self.starts, ends, keep) if k]
        idx = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        owners = np.repeat(self.person_ids[keep], [len(r) for r in rows])
        return Gallery.from_arrays(owners, self.matrix[idx], self.version)

    def averaged(self) -> "Gallery":
        """One template per person: the unit-length mean of their templates (what their
        reference photos agree on)."""
        if self._averaged is None:
            if len(self.person_ids) == len(self.matrix):
                self._averaged = self  # one template each: already what they agree on
            else:
                sums = np.add.reduceat(self.matrix, self.starts, axis=0)
                norms = np.linalg.norm(sums, axis=1, keepdims=True)
                self._averaged = Gallery.from_arrays(self.person_ids, sums / np.maximum(norms, 1e-12),
                                                     self.version)
        return self._averaged

    def __len__(self) -> int:
        """Number of people in the gallery."""
        return len(self.person_ids)

    @property
    def template_count(self) -> int:
        return len(self.matrix)

    def person_distances(self, encodings) -> np.ndarray:
        """(F, P) distance of each face to each person's closest template."""
        faces = np.asarray(encodings, dtype=np.float64).reshape(-1, 128)
        if not len(self.person_ids) or not len(faces):
            return np.zeros((len(faces), len(self.person_ids)))
        if self._norms is None:
            self._norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b : one matrix product for every pair
        squared = (
            np.einsum("ij,ij->i", faces, faces)[:, None] + self._norms[None, :]
            - 2.0 * faces @ self.matrix.T
        )
        np.maximum(squared, 0.0, out=squared)
        per_person = np.minimum.reduceat(squared, self.starts, axis=1)
        return np.sqrt(per_person)


@dataclass
class Match:
    """Who one face is, as far as the register can tell.

    ``status``: ``matched`` (``person_id`` set), ``unknown`` (nobody within the threshold),
    ``ambiguous`` (too close to call: ``candidates`` lists the people it could be, closest
    first, and ``person_id`` is None) or ``looks_like`` (nobody within the threshold, but
    ``candidates[0]`` within the look-alike band: a suggestion to confirm, ``person_id`` None). ``distance`` is to the matched person, else to the
    closest person (``inf`` with an empty gallery); ``margin`` is how much further the
    runner-up person is (``inf`` when there is no runner-up).
    """

    person_id: int | None
    distance: float
    margin: float
    status: str
    candidates: tuple[int, ...] = ()

    @property
    def matched(self) -> bool:
        return self.status == MATCHED


def match_faces(encodings, gallery: Gallery, settings: Settings = DEFAULTS) -> list[Match]:
    """Match the faces of one photo: one :class:`Match` per encoding, in the same order."""
    faces = [np.asarray(e, dtype=np.float64) for e in encodings]
    if not faces:
        return []
    if not len(gallery):
        return [Match(None, float("inf"), float("inf"), UNKNOWN) for _ in faces]
    distances = gallery.averaged().person_distances(np.stack(faces))
    return assign(distances, gallery.person_ids, settings.match_threshold, settings.match_margin,
                  settings.match_lookalike_threshold)


def assign(distances: np.ndarray, person_ids, threshold: float, margin: float,
           lookalike: float | None = None) -> list[Match]:
    """Turn an (F, P) face-to-person distance matrix into one :class:`Match` per face.

    Greedy best-pair-first over the pairs within ``threshold``: exact for the few faces a photo
    holds, and never gives one person to two faces. A face left with its closest person beyond
    ``threshold`` but within ``lookalike`` (default: no band) looks like that person.
    """
    lookalike = threshold if lookalike is None else max(lookalike, threshold)
    person_ids = np.asarray(person_ids)
    n_faces, n_people = distances.shape
    assigned: dict[int, int] = {}
    taken: set[int] = set()
    faces_idx, people_idx = np.nonzero(distances <= threshold)
    order = np.argsort(distances[faces_idx, people_idx], kind="stable")
    for k in order:
        f, p = int(faces_idx[k]), int(people_idx[k])
        if f not in assigned and p not in taken:
            assigned[f] = p
            taken.add(p)
            if len(assigned) == n_faces:
                break
    matches = []
    for f in range(n_faces):
        row = distances[f]
        if n_people > 1:
            two = np.argpartition(row, 1)[:2]
            two = two[np.argsort(row[two], kind="stable")]
        else:
            two = np.array([0])
        if f in assigned:
            p = assigned[f]
            others = [q for q in two if q != p]
            gap = float(row[others[0]] - row[p]) if others else float("inf")
            if gap < margin:
                matches.append(Match(None, float(row[p]), gap, AMBIGUOUS,
                                     _closest(row, person_ids, float(row[p]) + margin)))
            else:
                matches.append(Match(int(person_ids[p]), float(row[p]), gap, MATCHED))
            continue
        best = int(two[0])
        gap = float(row[two[1]] - row[best]) if n_people > 1 else float("inf")
        if row[best] <= threshold:
            # Somebody is close enough, but they were given to a closer face in this photo.
            matches.append(Match(None, float(row[best]), gap, AMBIGUOUS,
                                 _closest(row, person_ids, threshold)))
        elif row[best] <= lookalike:
            matches.append(Match(None, float(row[best]), gap, LOOKS_LIKE, (int(person_ids[best]),)))
        else:
            matches.append(Match(None, float(row[best]), gap, UNKNOWN))
    return matches


def _closest(row: np.ndarray, person_ids: np.ndarray, limit: float, most: int = 5) -> tuple[int, ...]:
    """Ids of the people within ``limit`` in one row of distances, closest first (at most 5)."""
    idx = np.flatnonzero(row <= limit)
    idx = idx[np.argsort(row[idx], kind="stable")][:most]
    return tuple(int(person_ids[q]) for q in idx)
