"""PE kit, sportswear and swimwear: is a senior colleague needed before this photo goes out?

People first: nothing here flags a photo with no one in it (no face found, and nothing
person-like in the scene model's view). Given a person, the check reads:

- **the scene**, learned: an ImageNet MobileNetV2 (:mod:`consent.vision.scene`) looks at the
  whole photo; the summed probability of its sport classes (baseball player, racket, tennis
  ball, football, gymnastics bars, ski, knee pad, scoreboard, ...) is the ``pe_kit`` signal,
  and of its swimwear classes (swimsuit, bikini, swimming trunks, swimming cap) the
  ``exposure`` signal;
- **each person**, learned: the same model read over each person's body (the box below their
  face; :mod:`consent.vision.people`), so a small player in a wide field is judged on what they
  wear or hold, and named by where they stand ("the person on the left: racket");
- **exposed skin** on the torso, arms and legs of each person, in body regions placed below
  the person's face and scaled by its size, matched against the person's *own* face skin tone
  (so it works the same for every skin tone). Measured on photos it was never tuned on, bare
  skin alone is too often summer clothes or a low neckline, so it only counts with
  corroboration: a bare torso in a swimming or bath scene, or bare skin with a swimming word;
- **the school's own kit**: colour signatures of the PE kit and of the everyday uniform,
  learned from a handful of example photos (:func:`learn`), compared with each person's torso
  and legs;
- **context words** in the folder name, file name and caption (``settings.kit_context_words``):
  they lower the scene threshold (``settings.kit_context_factor``), and never flag alone.

The playing-surface colour and line-marking heuristics an earlier version used were dropped:
on photos they were not tuned on they fired on lawns, pavements, waterfalls and deserts.

:func:`measure` reads the picture (cacheable), :func:`decide` adds the words;
:func:`assess` does both and returns a :class:`KitAssessment`: ``pe_kit`` (the photo needs a
senior colleague's sign-off), ``exposure`` (swimwear or undress: block unless a senior
approves), the signals that fired and one message for office staff. When the scene model cannot
run, ``unknown`` is set and the check fails closed (the photo needs review).

The school kit profile (:class:`KitProfile`) is a school setting, not biometric data: it holds
colour histograms of clothes only, stored as JSON in the data folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import KitProfileError
from ..settings import DEFAULTS, Settings, data_dir

#: (top, right, bottom, left), the face_recognition box order
Box = tuple[int, int, int, int]

# --- body proportions, in face-box units (a face box runs from the brows to the chin) -------
# Regions are placed below the face: x offsets from the face centre in face widths, y offsets
# from the bottom of the face box (the chin) in face heights. They follow the usual figure
# proportions (shoulders about 2 face widths across, waist about 3 face heights below the chin,
# knees about 5) for standing or sitting children and adults; a region mostly outside the
# picture is "not visible" rather than "covered".
TORSO = (-0.9, 0.9, 0.4, 2.8)  # x from, x to, y from, y to
LEFT_ARM = (-2.1, -0.9, 0.5, 3.6)
RIGHT_ARM = (0.9, 2.1, 0.5, 3.6)
LEGS = (-1.3, 1.3, 3.2, 6.8)
#: a head around its face box: share of the face width each side, of the face height above
#: (hair) and below (chin)
HEAD_MARGIN = (0.3, 0.6, 0.25)
#: the part of the face box sampled for the skin tone: cheeks, nose and mouth, not eyes or hair
FACE_SAMPLE = (0.2, 0.8, 0.45, 0.9)  # x from, x to, y from, y to (shares of the face box)
#: faces smaller than this (pixels high) give no usable skin tone
MIN_FACE_PX = 12
#: the per-person crops are reduced so that the face is about this many pixels high
PERSON_FACE_PX = 24
#: a face whose colours are this close to grey (Lab chroma) is in a black-and-white photo
MIN_FACE_CHROMA = 4.0
#: a region is measured when at least this many face-box areas of it are inside the picture
MIN_VISIBLE_FACES = 1.0

#: every how many background pixels of the scene copy are compared with each face's tone
BACKGROUND_STEP = 4

KINDS = ("pe", "uniform")
PROFILE_FILE = "kit_profile.json"
PROFILE_VERSION = 1


@dataclass
class PersonKit:
    """What was measured on one person."""

    #: the face box (top, right, bottom, left) in analysis-image coordinates
    box: Box
    #: the estimated body box below the face, same coordinates, clipped to the picture
    body: Box
    #: plain-English signals that fired for this person ("bare legs")
    signals: list[str] = field(default_factory=list)
    #: share (0-1) of each region matching the face skin tone; None when not visible or
    #: not measurable (tiny face, black-and-white photo)
    arm_skin: float | None = None
    leg_skin: float | None = None
    torso_skin: float | None = None
    #: similarity (0-1) of torso and legs to the learned PE kit and uniform; None without profile
    pe_similarity: float | None = None
    uniform_similarity: float | None = None
    #: where the person is, in words ("the person on the left")
    where: str = ""
    #: the scene model read over this person's body: summed sport and swimwear probabilities,
    #: and the classes seen most ((words, probability), strongest first); None when not read
    sport: float | None = None
    swimwear: float | None = None
    classes: list = field(default_factory=list)

    @property
    def bare_arms(self) -> bool:
        return "bare arms" in self.signals

    @property
    def bare_legs(self) -> bool:
        return "bare legs" in self.signals

    @property
    def bare_torso(self) -> bool:
        return "bare torso" in self.signals

    @property
    def in_pe_kit(self) -> bool:
        return "school PE kit colours" in self.signals


@dataclass
class KitAssessment:
    """The kit check's answer for one photo."""

    #: PE kit or sportswear likely: needs a senior colleague's sign-off
    pe_kit: bool
    #: a bare torso or swimwear: block unless a senior colleague approves
    exposure: bool
    #: the scene model's summed probability of sport classes (0-1)
    score: float
    people: list[PersonKit] = field(default_factory=list)
    #: plain-English signals that fired, strongest first
    signals: list[str] = field(default_factory=list)
    #: the signals in one sentence for office staff ("" when nothing fired)
    message: str = ""
    #: what would avoid the problem, when something would
    suggestion: str | None = None
    #: the measurements behind the signals (scene scores, threshold, words found)
    details: dict = field(default_factory=dict)
    #: the check could not run (the scene model is missing or broken): fail closed
    unknown: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


# --- the school kit profile -------------------------------------------------------------


@dataclass
class KitProfile:
    """Colour signatures of the school's PE kit and everyday uniform (torso and legs).

    ``signatures[kind][region]`` is a normalised colour histogram (see :func:`colour_signature`)
    for ``kind`` in ``pe``/``uniform`` and ``region`` in ``torso``/``legs``; ``examples[kind]``
    counts the photos it was learned from.
    """

    signatures: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=dict)

    def has(self, kind: str) -> bool:
        return bool(self.signatures.get(kind))

    def to_json(self) -> dict:
        return {"version": PROFILE_VERSION, "signatures": self.signatures, "examples": self.examples}

    @classmethod
    def from_json(cls, data: dict, source: str = "kit profile") -> "KitProfile":
        try:
            if data.get("version") != PROFILE_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            signatures = {
                kind: {region: [float(v) for v in hist] for region, hist in regions.items()}
                for kind, regions in data["signatures"].items()
            }
            examples = {kind: int(n) for kind, n in data.get("examples", {}).items()}
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise KitProfileError(
                f"{source}: not a kit profile this version can read ({exc}); "
                "run 'consent kit forget' and learn the kit again"
            ) from None
        for kind, regions in signatures.items():
            for hist in regions.values():
                if kind not in KINDS or len(hist) != SIGNATURE_BINS:
                    raise KitProfileError(
                        f"{source}: the kit profile is damaged; run 'consent kit forget' and "
                        "learn the kit again"
                    )
        return cls(signatures=signatures, examples=examples)


def profile_path() -> Path:
    """Where the school kit profile is kept: ``kit_profile.json`` in the data folder."""
    return data_dir() / PROFILE_FILE


def load_profile(path: os.PathLike | str | None = None) -> KitProfile | None:
    """The saved kit profile, or None when none has been learned.

    Raises :class:`KitProfileError` when the file is damaged.
    """
    path = Path(path) if path else profile_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KitProfileError(
            f"{path}: the kit profile is not valid JSON ({exc}); run 'consent kit forget' and "
            "learn the kit again"
        ) from None
    return KitProfile.from_json(data, source=str(path))


def save_profile(profile: KitProfile, path: os.PathLike | str | None = None) -> Path:
    """Write the profile atomically (temporary file in the same folder, then rename)."""
    path = Path(path) if path else profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kit_profile.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(profile.to_json(), fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def forget_profile(kind: str | None = None, path: os.PathLike | str | None = None) -> bool:
    """Forget the learned ``kind`` (``pe`` or ``uniform``), or the whole profile when None.

    Returns True when something was forgotten.
    """
    path = Path(path) if path else profile_path()
    if kind is None:
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed
    profile = load_profile(path)
    if profile is None or not profile.has(kind):
        return False
    profile.signatures.pop(kind, None)
    profile.examples.pop(kind, None)
    save_profile(profile, path)
    return True


# --- colour helpers -----------------------------------------------------------------------

#: signature layout: 12 hues x 2 saturations, then black, grey and white
_HUE_BINS, _SAT_SPLIT = 12, 140
SIGNATURE_BINS = _HUE_BINS * 2 + 3


def colour_signature(hsv_pixels: np.ndarray) -> np.ndarray | None:
    """A normalised colour histogram of some HSV pixels (N x 3, OpenCV 8-bit HSV).

    Pale or dark pixels go to black, grey or white bins (a white shirt and a white sports top
    look alike; navy and black differ); the rest to 12 hues x 2 saturations. None when there
    are no pixels.
    """
    px = np.asarray(hsv_pixels, dtype=np.int32).reshape(-1, 3)
    if len(px) == 0:
        return None
    h, s, v = px[:, 0], px[:, 1], px[:, 2]
    achromatic = (s < 50) | (v < 50)
    # bins centred on red, orange, yellow, ... (red straddles 0 degrees)
    hue_bin = ((h + 180 // _HUE_BINS // 2) % 180) * _HUE_BINS // 180
    bins = hue_bin * 2 + (s >= _SAT_SPLIT)
    grey_bin = np.where(v < 70, 0, np.where(v < 170, 1, 2)) + _HUE_BINS * 2
    bins = np.where(achromatic, grey_bin, bins)
    hist = np.bincount(bins, minlength=SIGNATURE_BINS).astype(np.float64)
    return hist / hist.sum()


#: names of the 12 hue bins (30 degrees each, centred on red, orange, yellow, ...)
_HUE_NAMES = (
    "red", "orange", "yellow", "lime green", "green", "sea green",
    "turquoise", "sky blue", "blue", "purple", "magenta", "pink",
)


def colour_names(signature: Sequence[float], top: int = 3, least: float = 0.08) -> list[str]:
    """The main colours of a signature in words, largest first ("navy" is "dark blue")."""
    names = []
    for i in np.argsort(signature)[::-1][:top]:
        share = float(signature[i])
        if share < least:
            break
        if i >= _HUE_BINS * 2:
            name = ("black", "grey", "white")[i - _HUE_BINS * 2]
        else:
            name = ("pale " if i % 2 == 0 else "") + _HUE_NAMES[i // 2]
        names.append(f"{name} {share:.0%}")
    return names


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Histogram intersection of two signatures: 1 for the same colours, 0 for none shared."""
    return float(np.minimum(np.asarray(a), np.asarray(b)).sum())


# --- context words ------------------------------------------------------------------------


def _word_pattern(word: str) -> re.Pattern:
    parts = [re.escape(p) for p in word.lower().split()]
    # words match whole: not inside a longer word ("pe" is not in "Peter"); spaces in a
    # phrase also match underscores and hyphens ("sports_day")
    return re.compile(r"(?<![a-z0-9])" + r"[\s_\-]+".join(parts) + r"(?![a-z0-9])")


def context_words_found(text: str, words: Iterable[str]) -> list[str]:
    """The words of ``words`` found as whole words in ``text`` (any case), in list order.

    ``"PE"`` is found in ``"Sports Day PE"`` and ``"year5_PE.jpg"``, not in ``"Peter"``.
    """
    text = (text or "").lower()
    found = []
    for word in words:
        if word and word.strip() and _word_pattern(word).search(text):
            found.append(word)
    # a phrase found makes its own words redundant ("sports day" covers "sports")
    return [w for w in found if not any(w != o and w in o.split() for o in found)]


# --- geometry -----------------------------------------------------------------------------


def _region(face: Box, spec):
    """A body region (x0, y0, x1, y1) for a face, unclipped, as floats."""
    top, right, bottom, left = face
    fw, fh = max(1, right - left), max(1, bottom - top)
    cx = (left + right) / 2
    x0, x1, y0, y1 = spec
    return (cx + x0 * fw, bottom + y0 * fh, cx + x1 * fw, bottom + y1 * fh)


def _clip(rect, width: int, height: int):
    x0, y0, x1, y1 = rect
    cx0, cy0 = max(0, int(round(x0))), max(0, int(round(y0)))
    cx1, cy1 = min(width, int(round(x1))), min(height, int(round(y1)))
    if cx1 <= cx0 or cy1 <= cy0:
        return None, 0.0
    area = max(1e-6, (x1 - x0) * (y1 - y0))
    return (cx0, cy0, cx1, cy1), (cx1 - cx0) * (cy1 - cy0) / area


# --- per-person measurements --------------------------------------------------------------


@dataclass
class _Body:
    """One face-anchored person as measured: the reduced body crop and its regions."""

    person: PersonKit
    #: the body crop in HSV, reduced so the face is about PERSON_FACE_PX high (None: too small)
    hsv: np.ndarray | None = None
    #: pixels of the crop matching the face skin tone (None: not measurable)
    skin: np.ndarray | None = None
    #: region name -> (x0, y0, x1, y1) in the crop, for regions mostly inside the picture
    rects: dict = field(default_factory=dict)
    #: pixels of the crop that belong to this person's body (not other people's heads)
    valid: np.ndarray | None = None


def _body_box(face: Box, width: int, height: int):
    """The body box (x0, y0, x1, y1) below a face: every region and the face, clipped."""
    top, right, bottom, left = face
    raw = [_region(face, spec) for spec in (TORSO, LEFT_ARM, RIGHT_ARM, LEGS)]
    body, _ = _clip(
        (min(r[0] for r in raw), top, max(r[2] for r in raw), max(r[3] for r in raw)), width, height
    )
    if body is None:  # a face box outside the picture: nothing below it to measure
        body = (max(0, left), max(0, top), min(width, max(left + 1, right)),
                min(height, max(top + 1, bottom)))
    return body


def skin_mask(lab: np.ndarray, tone: np.ndarray, settings: Settings = DEFAULTS) -> np.ndarray:
    """Pixels of ``lab`` (OpenCV 8-bit Lab, any shape ending in 3) with a face's skin tone.

    Skin is the face's own colour (a, b) within ``settings.kit_skin_tolerance``, lit anywhere
    from shade (half the face's lightness) to bright sun (one and a half times, plus a margin
    so dark skin in sunlight still counts). Matching each person's own face is what makes the
    measure work for every skin tone.
    """
    dist = np.hypot(lab[..., 1] - tone[1], lab[..., 2] - tone[2])
    light = lab[..., 0]
    return (dist <= settings.kit_skin_tolerance) & (light >= 0.5 * tone[0]) & (light <= 1.5 * tone[0] + 20)


def _head(face: Box):
    """The whole head around a face box (x0, y0, x1, y1): hair above, ears and chin around."""
    top, right, bottom, left = face
    fw, fh = right - left, bottom - top
    return (left - HEAD_MARGIN[0] * fw, top - HEAD_MARGIN[1] * fh,
            right + HEAD_MARGIN[0] * fw, bottom + HEAD_MARGIN[2] * fh)


def _measure(
    image: np.ndarray,
    face: Box,
    settings: Settings,
    background: np.ndarray | None = None,
    others: Sequence[Box] = (),
) -> _Body:
    """Measure one person below ``face``: the share of skin on torso, arms and legs.

    ``background`` holds Lab pixels of the photo outside everyone's body: when too many of
    them match this face's tone (a flash-lit wall, a strong colour cast), skin cannot be told
    apart in this photo and is not measured. The heads of ``others`` (the other faces) are
    left out of every region: in a group photo the row in front stands in this person's body.
    """
    import cv2

    height, width = image.shape[:2]
    top, right, bottom, left = face = tuple(int(v) for v in face)
    fw, fh = right - left, bottom - top
    specs = {"torso": TORSO, "left_arm": LEFT_ARM, "right_arm": RIGHT_ARM, "legs": LEGS}
    raw = {name: _region(face, spec) for name, spec in specs.items()}
    body = _body_box(face, width, height)
    person = PersonKit(box=face, body=(body[1], body[2], body[3], body[0]))
    out = _Body(person)
    if fh < MIN_FACE_PX or fw < 1:
        return out
    scale = min(1.0, PERSON_FACE_PX / fh)
    crop = image[body[1]:body[3], body[0]:body[2]]
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    out.hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)

    def local(rect, min_area=MIN_VISIBLE_FACES * fw * fh):
        clipped, _ = _clip(rect, width, height)
        if clipped is None or (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) < min_area:
            return None
        # into the crop's pixels, clipped to the crop (a neighbour's head may lie outside it)
        ch, cw = crop.shape[:2]
        x0, y0, x1, y1 = ((c - o) * scale for c, o in zip(clipped, body[:2] * 2))
        x0, y0 = min(cw, max(0, int(x0))), min(ch, max(0, int(y0)))
        x1, y1 = min(cw, max(0, int(round(x1)))), min(ch, max(0, int(round(y1))))
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1, y1)

    out.rects = {name: r for name in specs if (r := local(raw[name])) is not None}
    out.valid = np.ones(crop.shape[:2], dtype=bool)
    reach = 2.0 / scale + 2.0  # a head further than this outside the body box misses the crop
    for other in others:
        if tuple(other) == face:
            continue
        hx0, hy0, hx1, hy1 = _head(other)
        if hx1 < body[0] - reach or hx0 > body[2] + reach or hy1 < body[1] - reach or hy0 > body[3] + reach:
            continue  # (a crowd: most heads are far away; local() would find them outside)
        head = local(_head(other), min_area=1)
        if head is not None:
            out.valid[head[1]:head[3], head[0]:head[2]] = False
    fx0, fx1, fy0, fy1 = FACE_SAMPLE
    sample_rect = local((left + fx0 * fw, top + fy0 * fh, left + fx1 * fw, top + fy1 * fh), 1)
    if sample_rect is None:
        return out
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    x0, y0, x1, y1 = sample_rect
    sample = lab[y0:y1, x0:x1].reshape(-1, 3)
    if len(sample) < 4:
        return out
    tone = np.median(sample, axis=0)
    if float(np.hypot(tone[1] - 128, tone[2] - 128)) < MIN_FACE_CHROMA:
        return out  # a black-and-white photo: skin cannot be told from grey clothes
    if background is not None and len(background):
        chance = float(skin_mask(background, tone, settings).mean())
        if chance >= settings.kit_skin_background_limit:
            return out  # the light has washed the whole photo into this tone: cannot tell
    out.skin = skin_mask(lab, tone, settings)
    def share(name):
        rect = out.rects.get(name)
        if rect is None:
            return None
        x0, y0, x1, y1 = rect
        counted = out.valid[y0:y1, x0:x1]
        if counted.sum() < MIN_VISIBLE_FACES * fw * fh * scale * scale:
            return None  # mostly hidden behind other people's heads
        return float(out.skin[y0:y1, x0:x1][counted].mean())

    arms = [s for s in (share("left_arm"), share("right_arm")) if s is not None]
    person.arm_skin = max(arms) if arms else None
    person.leg_skin = share("legs")
    person.torso_skin = share("torso")
    if person.torso_skin is not None and person.torso_skin >= settings.kit_bare_torso_share:
        person.signals.append("bare torso")
    if person.arm_skin is not None and person.arm_skin >= settings.kit_bare_limb_share:
        person.signals.append("bare arms")
    if person.leg_skin is not None and person.leg_skin >= settings.kit_bare_limb_share:
        person.signals.append("bare legs")
    return out


def _clothes_signature(body: _Body) -> dict[str, np.ndarray] | None:
    """Colour signatures of a person's torso and legs, skin pixels left out."""
    if body.hsv is None:
        return None
    out = {}
    for name in ("torso", "legs"):
        rect = body.rects.get(name)
        if rect is None:
            continue
        x0, y0, x1, y1 = rect
        keep = body.valid[y0:y1, x0:x1].copy()
        if body.skin is not None:
            keep &= ~body.skin[y0:y1, x0:x1]
        part = body.hsv[y0:y1, x0:x1][keep]
        sig = colour_signature(part)
        if sig is not None:
            out[name] = sig
    return out or None


def _match_kit(body: _Body, profile: KitProfile, settings: Settings) -> None:
    """Compare a person's clothes with the learned kit and uniform; note a PE kit match."""
    sig = _clothes_signature(body)
    if sig is None:
        return
    person = body.person
    person.pe_similarity = _profile_similarity(sig, profile.signatures["pe"])
    if profile.has("uniform"):
        person.uniform_similarity = _profile_similarity(sig, profile.signatures["uniform"])
    if person.pe_similarity >= settings.kit_profile_match and (
        person.uniform_similarity is None or person.pe_similarity > person.uniform_similarity
    ):
        person.signals.append("school PE kit colours")


def _profile_similarity(sig: dict, learned: dict) -> float:
    """Mean similarity over the regions both have (torso, legs)."""
    values = [similarity(sig[r], learned[r]) for r in sig if r in learned]
    return float(np.mean(values)) if values else 0.0


# --- the background, for the skin measure ---------------------------------------------------


def _background_lab(image: np.ndarray, faces: Sequence[Box], settings: Settings) -> np.ndarray:
    """Lab pixels (every ``BACKGROUND_STEP``-th) of a small copy of the photo outside everyone's
    body box: what a face's skin tone is compared with to tell whether skin can be told apart
    in this photo at all (see ``_measure``)."""
    import cv2

    height, width = image.shape[:2]
    scale = min(1.0, settings.kit_scene_side / max(height, width))
    small = image
    if scale < 1.0:
        small = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
    background = np.ones(small.shape[:2], dtype=bool)
    for face in faces:
        x0, y0, x1, y1 = _body_box(face, width, height)
        background[int(y0 * scale):int(np.ceil(y1 * scale)), int(x0 * scale):int(np.ceil(x1 * scale))] = False
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    return lab[background][::BACKGROUND_STEP]


# --- the assessment -----------------------------------------------------------------------


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _persons_phrase(records: Sequence[dict], people: int, shown: int = 3) -> str:
    """"2 of 5 people (the person on the left: baseball player; ...)", the first ``shown`` named."""
    from .people import describe

    named = "; ".join(describe(r) for r in records[:shown])
    more = f"; and {len(records) - shown} more" if len(records) > shown else ""
    found = f"{len(records)} or more" if len(records) >= MAX_PERSONS and people > MAX_PERSONS else str(len(records))
    count = f"{found} of {_plural(people, 'person', 'people')}" if people > 1 else "1 person"
    return f"{count} ({named}{more})"


def _limb_phrase(measures: "KitMeasures") -> str | None:
    n = _plural(measures.measured, "pupil")
    if measures.bare_both:
        return f"bare arms and legs on {measures.bare_both} of {n}"
    if measures.bare_legs:
        return f"bare legs on {measures.bare_legs} of {n}"
    if measures.bare_arms:
        return f"bare arms on {measures.bare_arms} of {n}"
    return None


@dataclass
class KitMeasures:
    """What the picture itself shows, before any words are read: cacheable with a photo's
    analysis, so a new caption or file name is judged by :func:`decide` without measuring the
    picture again."""

    #: the scene model's scores (:class:`consent.vision.scene.SceneScores` as JSON); None
    #: when the model could not run (see ``error``)
    scene: dict | None
    #: faces found (people the body measures were made on), and how many of them had
    #: skin measured
    people: int = 0
    measured: int = 0
    #: people showing a bare torso; bare arms and legs; bare legs; bare arms
    bare_torso: int = 0
    bare_both: int = 0
    bare_legs: int = 0
    bare_arms: int = 0
    #: people whose clothes match the learned school PE kit (not the uniform)
    in_kit: int = 0
    #: each person's own findings, for :func:`decide`: ``where`` ("the person on the left"),
    #: ``sport`` and ``swimwear`` (the scene model read over their body), ``classes`` and the
    #: skin ``signals``; the people with the most sport first, at most ``MAX_PERSONS``
    persons: list = field(default_factory=list)
    #: why the scene model could not run ("" when it did): the check then fails closed
    error: str = ""
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "KitMeasures":
        return cls(**data)


#: people kept in :attr:`KitMeasures.persons` (a stadium crowd has hundreds of faces)
MAX_PERSONS = 24


def _person_record(person: PersonKit) -> dict:
    return {"where": person.where, "sport": person.sport, "swimwear": person.swimwear,
            "classes": person.classes, "signals": list(person.signals)}


def load_models() -> None:
    """Load the scene model the kit check reads now (a server warming up); raises ModelUnavailable."""
    from . import scene

    scene.session()


def _scene_scores(image: np.ndarray, people: Sequence[PersonKit] = ()):
    """The scene model's scores for the photo, and each person's (set on ``people``); raises
    ``ModelUnavailable``."""
    from . import scene

    bodies = [(p.body[3], p.body[0], p.body[1], p.body[2]) for p in people]
    centre, regions = scene.analyse(image, bodies)
    scores = scene.scene_scores(centre).to_json()
    for person, probs in zip(people, regions):
        own = scene.person_scores(probs)
        person.sport, person.swimwear, person.classes = own["sport"], own["swimwear"], own["classes"]
    return scores


def _measure_picture(
    image: np.ndarray, faces: Sequence[Box], profile: KitProfile | None, settings: Settings,
) -> tuple[KitMeasures, list[PersonKit]]:
    from ..errors import ModelUnavailable

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("assess() needs an RGB uint8 array of shape (height, width, 3)")
    height, width = image.shape[:2]
    faces = [tuple(int(v) for v in f) for f in faces]
    background = _background_lab(image, faces, settings) if faces else None
    people: list[PersonKit] = []
    use_profile = profile is not None and profile.has("pe")
    for face in faces:
        body = _measure(image, face, settings, background, others=faces)
        if use_profile:
            _match_kit(body, profile, settings)
        people.append(body.person)
    from .people import places

    for person, where in zip(people, places([(p.body[3], p.body[0], p.body[1], p.body[2]) for p in people], width)):
        person.where = where
    try:
        scene, error = _scene_scores(image, people), ""
    except ModelUnavailable as exc:
        scene, error = None, str(exc)
    ranked = sorted(people, key=lambda p: -(max(p.sport or 0.0, p.swimwear or 0.0)))[:MAX_PERSONS]
    measured = [p for p in people if p.arm_skin is not None or p.leg_skin is not None or p.torso_skin is not None]
    measures = KitMeasures(
        scene=scene,
        people=len(people),
        measured=len(measured),
        bare_torso=sum(p.bare_torso for p in people),
        bare_both=sum(p.bare_arms and p.bare_legs for p in people),
        bare_legs=sum(p.bare_legs for p in people),
        bare_arms=sum(p.bare_arms for p in people),
        in_kit=sum(p.in_pe_kit for p in people),
        persons=[_person_record(p) for p in ranked] if scene is not None else [],
        error=error,
        details={"size": [width, height]},
    )
    return measures, people


def measure(
    image: np.ndarray,
    faces: Sequence[Box],
    profile: KitProfile | None = None,
    settings: Settings = DEFAULTS,
) -> KitMeasures:
    """Measure the picture (scene model, skin, kit colours) for :func:`decide`; arguments as
    :func:`assess`, without the words."""
    return _measure_picture(image, faces, profile, settings)[0]


def decide(
    measures: KitMeasures,
    context: str = "",
    settings: Settings = DEFAULTS,
    people: Sequence[PersonKit] = (),
) -> KitAssessment:
    """Add the context words to the picture's measures and decide (see :func:`assess`)."""
    words = context_words_found(context, settings.kit_context_words)
    swim_words = context_words_found(context, settings.kit_swim_words)
    details = {**measures.details, "words": words, "swim_words": swim_words}
    if measures.scene is None:
        return KitAssessment(
            pe_kit=False, exposure=False, score=0.0, people=list(people), unknown=True,
            signals=["the sportswear check could not run"],
            message=f"the sportswear check could not run ({measures.error})",
            details=details,
        )
    scene = measures.scene
    person_like = scene["person"] >= settings.kit_person_threshold
    has_people = measures.people > 0 or person_like
    details.update(scene=scene, person_like=person_like)
    if not has_people:
        # people first: no face and nothing person-like, so no kit and no exposure, whatever
        # the words say
        return KitAssessment(
            pe_kit=False, exposure=False, score=scene["sport"], people=list(people),
            details={**details, "threshold": settings.kit_scene_threshold},
        )
    factor = settings.kit_context_factor if words or swim_words else 1.0
    threshold = settings.kit_scene_threshold * factor
    person_threshold = settings.kit_person_sport_threshold * factor
    details.update(threshold=threshold, person_threshold=person_threshold)
    sporty = [r for r in measures.persons if (r.get("sport") or 0.0) >= person_threshold]
    swimmers = [r for r in measures.persons if (r.get("swimwear") or 0.0) >= settings.kit_swimwear_threshold]
    sport_names = [name for name, _ in scene["sport_classes"]]
    swim_names = [name for name, _ in scene["swimwear_classes"]]
    pupils = _plural(measures.people, "pupil")

    exposure_signals: list[str] = []
    if scene["swimwear"] >= settings.kit_swimwear_threshold:
        exposure_signals.append(f"swimwear ({_and(swim_names or ['swimsuit'])})")
    elif swimmers:
        exposure_signals.append("swimwear on " + _persons_phrase(swimmers, measures.people))
    if measures.bare_torso and (scene["undress"] >= settings.kit_undress_threshold or swim_words):
        where = f"a swimming word ({_and(swim_words)})" if swim_words else "a swimming or bath scene"
        exposure_signals.append(f"bare torso on {measures.bare_torso} of {pupils}, with {where}")
    elif swim_words and measures.bare_both:
        exposure_signals.append(
            f"swimwear likely: bare arms and legs on {measures.bare_both} of {pupils} and "
            f"the words {_and(swim_words)}"
        )

    kit_signals: list[str] = []
    if scene["sport"] >= threshold:
        kit_signals.append(f"sports scene: {_and(sport_names)}" if sport_names else "sports scene")
    if sporty:
        kit_signals.append("sportswear on " + _persons_phrase(sporty, measures.people))
    if measures.in_kit:
        kit_signals.append(
            "colours match the school PE kit" if measures.people == 1
            else f"colours match the school PE kit on {measures.in_kit} of {pupils}"
        )

    exposure = bool(exposure_signals)
    pe_kit = bool(kit_signals)
    signals = exposure_signals + kit_signals
    helped = (threshold <= scene["sport"] < settings.kit_scene_threshold) or any(
        r["sport"] < settings.kit_person_sport_threshold for r in sporty)
    if signals and words and helped:
        signals.append(f"the caption or file name mentions {_and(words)}")
    if signals:
        if measures.bare_torso and not exposure:
            signals.append(f"bare torso on {measures.bare_torso} of {pupils}")
        limbs = _limb_phrase(measures)
        if limbs:
            signals.append(limbs)
    flagged = pe_kit or exposure
    suggestion = None
    if flagged and measures.people:
        suggestion = "a shoulders-up crop would avoid this"
    return KitAssessment(
        pe_kit=pe_kit,
        exposure=exposure,
        score=scene["sport"],
        people=list(people),
        signals=signals,
        message="; ".join(signals) if flagged else "",
        suggestion=suggestion,
        details=details,
    )


def assess(
    image: np.ndarray,
    faces: Sequence[Box],
    context: str = "",
    profile: KitProfile | None = None,
    settings: Settings = DEFAULTS,
) -> KitAssessment:
    """Decide whether a photo shows PE kit, sportswear or swimwear, and say why.

    ``image`` is the upright RGB uint8 array the faces were found on; ``faces`` are
    (top, right, bottom, left) boxes in its coordinates; ``context`` is the folder name, file
    name and caption; ``profile`` the school kit profile (None: not used). The same as
    ``decide(measure(image, faces, profile), context)``, with each person's measurements kept.

    Nothing is flagged without a person: a face, or the scene model's clothes and people
    classes summing to ``settings.kit_person_threshold``. Given a person:

    - ``pe_kit`` (senior sign-off): the scene model's sport classes sum to
      ``settings.kit_scene_threshold``, or read over one person's body to
      ``settings.kit_person_sport_threshold`` (each times ``settings.kit_context_factor`` when
      the words name PE, sport or swimming), or someone wears the learned school PE kit colours;
    - ``exposure`` (block unless a senior approves): the swimwear classes sum to
      ``settings.kit_swimwear_threshold`` over the photo or over one person's body; or a bare torso in a swimming or bath scene
      (``settings.kit_undress_threshold``) or with a swimming word; or bare arms and legs
      with a swimming word (``settings.kit_swim_words``).

    ``score`` is the sport classes' summed probability. When the scene model cannot run,
    ``unknown`` is set (the check fails closed).
    """
    measures, people = _measure_picture(image, faces, profile, settings)
    return decide(measures, context, settings, people)


# --- learning the school kit --------------------------------------------------------------


def detect_faces(photo, settings: Settings = DEFAULTS) -> list[Box]:
    """Face boxes in ``photo``'s analysis image, as the check pipeline finds them
    (:func:`consent.vision.faces.detect`, whose boxes are in original coordinates)."""
    from . import faces

    return [faces.hog_like_box(f, photo.scale) for f in faces.detect(photo, settings)]


def learn(
    paths: Iterable[os.PathLike | str],
    kind: str,
    settings: Settings = DEFAULTS,
    detect: Callable | None = None,
    profile: KitProfile | None = None,
    on_skip: Callable[[Path, str], None] | None = None,
) -> KitProfile:
    """Learn the colours of the school's PE kit (``kind="pe"``) or uniform (``"uniform"``).

    Each photo should show pupils wearing the kit: torso and legs are read below each face
    found by ``detect(photo) -> boxes`` (default :func:`detect_faces`); a photo with no face is
    taken to show the kit itself laid out, and its middle is read. The result replaces what
    ``profile`` held for ``kind`` and keeps the other kind. A photo that cannot be read is
    skipped and reported to ``on_skip(path, message)``. Raises :class:`KitProfileError` for an
    unknown kind or when no photo could be used.
    """
    from ..errors import ConsentError
    from ..images import load

    if kind not in KINDS:
        raise KitProfileError(f"unknown kit kind {kind!r}; use 'pe' or 'uniform'")
    detect = detect or (lambda photo: detect_faces(photo, settings))
    sums = {"torso": np.zeros(SIGNATURE_BINS), "legs": np.zeros(SIGNATURE_BINS)}
    counts = {"torso": 0, "legs": 0}
    used = 0
    for path in paths:
        try:
            photo = load(path, settings.detect_side, settings)
        except ConsentError as exc:
            if on_skip:
                on_skip(Path(path), str(exc))
            continue
        array = photo.array()
        faces = [tuple(int(v) for v in f) for f in detect(photo)]
        faces = [f for f in faces if f[2] - f[0] >= MIN_FACE_PX]
        sigs = [sig for f in faces if (sig := _clothes_signature(_measure(array, f, settings, others=faces)))]
        if not faces:
            sigs.append(_flat_signature(array))
        for sig in sigs:
            for region, hist in sig.items():
                sums[region] += hist
                counts[region] += 1
        used += bool(sigs)
    if not used:
        raise KitProfileError(
            f"no usable {kind} kit photos were given; add photos of pupils wearing the kit "
            "(or of the kit laid out)"
        )
    profile = profile or KitProfile()
    profile.signatures[kind] = {
        region: [round(float(v), 5) for v in sums[region] / counts[region]]
        for region in sums
        if counts[region]
    }
    profile.examples[kind] = used
    return profile


def _flat_signature(image: np.ndarray) -> dict:
    """Signature of the middle of a photo of the kit itself (no one wearing it)."""
    import cv2

    height, width = image.shape[:2]
    crop = image[height // 5: height - height // 5, width // 5: width - width // 5]
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).reshape(-1, 3)
    sig = colour_signature(hsv)
    return {"torso": sig, "legs": sig}
