"""Faces: find every face in a photo, judge whether it could be recognised, and encode those that can.

The one module that runs face_recognition/dlib. It is imported lazily, on first use, and one
loaded copy is kept per process (the models cost about 1 s and 130 MB): ``import consent.vision.faces``
does not import them.

How detection is tuned (figures from ``scripts/measure_detection.py``):

* dlib's HOG detector finds a face once the face is about 60 pixels tall in the image it scans
  (its own box; 75 px in the hand-drawn boxes of the fixtures), whatever the photo's size. So
  what decides which faces are found is the size of the scanned image.
* First pass: ``settings.detect_max_side`` (1600) on the longest side. Large photos are decoded
  smaller (JPEG DCT scaling in :func:`consent.images.load`) and scanned with no upsampling:
  faces down to about 3.7% of the longest side (150 px in a 12-megapixel photo). Small photos
  are enlarged, by at most ``2 ** settings.detect_upsample`` (4x): that finds the 37-px faces
  of the 500-px fixture class photos, and faces down to about 18 px, which count as people
  present but are too small to recognise.
* Second, finer pass, only when the first found no face or only faces near its limit (a class
  photo's back rows may be smaller still): ``settings.detect_fine_side`` (3200), decoding the
  file again when the original is larger. Faces down to about 1.9% of the longest side, as far
  as the face_recognition command line goes (it scans 1600 px upsampled once).
* Encodings come from the analysis image, or, for faces shorter than
  ``settings.encode_min_face_px`` there, from the original decoded larger: on a class-photo
  mosaic this halves how far their encodings stray from full-resolution ones.

Every face found is kept (a face too small or blurred to recognise is still a person in the
photo), with ``identifiable`` and a plain-English ``why_not``. Encodings (128 numbers) are made
only for identifiable faces.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConsentError, EnrolmentRefused, ModelUnavailable
from ..images import Photo, load
from ..settings import DEFAULTS, Settings
from .models import load_once, package_file

#: side of the square the grey face crop is resized to before measuring sharpness
SHARPNESS_SIDE = 64
#: the shortest face (dlib box height, pixels of the scanned image) dlib's HOG detector finds
#: reliably: measured 55-70 px (scripts/measure_detection.py, "floor"); a property of the model,
#: not a policy
DETECTOR_MIN_FACE_PX = 60

@load_once
def _models():
    """face_recognition's API module, imported on first use (one copy per process)."""
    from PIL import ImageFile

    package_file("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat",
                 "face encoding")
    keep = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import face_recognition.api as fr
    except ImportError as exc:
        raise ModelUnavailable(
            f"the face models cannot be loaded ({exc}); run 'make install' again"
        ) from exc
    finally:
        # face_recognition switches on Pillow's "accept truncated images" for the whole process
        # when imported; photo intake relies on truncated files being refused.
        ImageFile.LOAD_TRUNCATED_IMAGES = keep
    return fr


@dataclass
class DetectedFace:
    """One face found in a photo.

    Coordinates are pixels of the ORIGINAL photo as displayed (EXIF orientation applied),
    whatever size it was analysed at.
    """

    #: (top, right, bottom, left), face_recognition's order
    box: tuple[int, int, int, int]
    height_px: int
    width_px: int
    #: variance of the Laplacian of the grey face, resized to 64x64 (higher is sharper)
    sharpness: float
    #: True unless the face is turned well away from the camera (see ``turn``)
    frontal: bool
    #: how far the nose sits from the midpoint of the eyes, as a share of the distance between
    #: the eyes: about 0 looking at the camera, 0.5 with the nose in line with one eye
    turn: float
    identifiable: bool
    #: why the face cannot be recognised, for office staff; None when identifiable
    why_not: str | None = None
    #: 128 numbers (face_recognition's encoding); only for identifiable faces, after encode()
    encoding: np.ndarray | None = None
    #: dlib's five landmarks in original pixels: right eye (2), left eye (2), base of nose
    landmarks: list[tuple[int, int]] = field(default_factory=list)
    #: dlib HOG detection score (higher is more certain)
    score: float = 0.0

    def as_dict(self) -> dict:
        """Plain JSON-ready values (no encoding)."""
        return {
            "box": list(self.box),
            "height_px": self.height_px,
            "width_px": self.width_px,
            "sharpness": round(self.sharpness, 1),
            "frontal": self.frontal,
            "turn": round(self.turn, 3),
            "identifiable": self.identifiable,
            "why_not": self.why_not,
        }


def analysis_side(settings: Settings = DEFAULTS) -> int:
    """Longest side to decode a photo at for :func:`detect` (``images.load(path, max_side=...)``)."""
    return settings.detect_max_side


def scan_factor(side: int, target: int, settings: Settings = DEFAULTS) -> float:
    """How much an image whose longest side is ``side`` is resized to be scanned at ``target``.

    Below 1 for larger images; above 1, but at most ``2 ** settings.detect_upsample``, for
    smaller ones; 1 otherwise.
    """
    if side > target:
        return target / side
    if side < target:
        return min(target / side, float(2 ** settings.detect_upsample))
    return 1.0


def box_iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    union = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / union if union > 0 else 0.0


def _scan_image(image, factor: float) -> np.ndarray:
    from PIL import Image

    if factor != 1.0:
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0 if factor < 1 else None)
    return np.asarray(image)


def face_sharpness(image, box_img: tuple[float, float, float, float]) -> float:
    """Variance of the Laplacian of the grey face crop resized to 64x64.

    ``image`` is a PIL RGB image, ``box_img`` (top, right, bottom, left) in its pixels. Resizing to
    a fixed size makes the figure comparable between faces of any size.
    """
    from PIL import Image

    top, right, bottom, left = box_img
    left, top = max(0, int(left)), max(0, int(top))
    right, bottom = min(image.width, int(round(right))), min(image.height, int(round(bottom)))
    if right - left < 2 or bottom - top < 2:
        return 0.0
    crop = image.crop((left, top, right, bottom)).convert("L")
    crop = crop.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    g = np.asarray(crop, dtype=np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def face_turn(points: list[tuple[float, float]]) -> float:
    """Sideways turn of a face from dlib's five landmarks (see :attr:`DetectedFace.turn`)."""
    p = np.asarray(points, dtype=np.float64)
    eye_a, eye_b, nose = p[0:2].mean(axis=0), p[2:4].mean(axis=0), p[4]
    across = eye_b - eye_a
    span = float(across @ across)
    if span <= 0:
        return 1.0
    return abs(float((nose - (eye_a + eye_b) / 2) @ across) / span)


def judge(height_px: int, sharpness: float, turn: float, settings: Settings = DEFAULTS) -> tuple[bool, str | None]:
    """Whether a face can be recognised, and if not why, in words for office staff."""
    need = settings.min_identifiable_face_px
    if height_px < need:
        return False, f"too small to recognise ({height_px} px tall; {need} needed)"
    if sharpness < settings.min_face_sharpness:
        return False, "too blurred to recognise"
    if turn > settings.max_face_turn:
        return False, "turned away from the camera"
    return True, None


def _scan(image, image_scale: float, factor: float, photo: Photo, settings: Settings) -> list[tuple[DetectedFace, float]]:
    """One detector pass over ``image`` (whose pixels times ``image_scale`` are original pixels)
    resized by ``factor``. Returns each face with its height in scanned pixels."""
    fr = _models()
    import dlib

    arr = _scan_image(image, factor)
    h, w = arr.shape[:2]
    rects, scores, _ = fr.face_detector.run(arr, 0, settings.detect_threshold)
    to_image = 1.0 / factor  # scan pixels -> pixels of ``image``
    to_orig = image_scale / factor  # scan pixels -> original pixels
    found = []
    for rect, score in zip(rects, scores):
        top, left = max(0, rect.top()), max(0, rect.left())
        bottom, right = min(h, rect.bottom()), min(w, rect.right())
        if bottom - top < 2 or right - left < 2:
            continue
        shape = fr.pose_predictor_5_point(arr, dlib.rectangle(left, top, right, bottom))
        pts = [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)]
        box = (
            max(0, round(top * to_orig)),
            min(photo.width, round(right * to_orig)),
            min(photo.height, round(bottom * to_orig)),
            max(0, round(left * to_orig)),
        )
        height_px, width_px = box[2] - box[0], box[1] - box[3]
        if score < 0 and height_px < settings.min_identifiable_face_px:
            # below dlib's own threshold, only faces big enough to recognise are worth the risk
            # of a false detection: small weak ones are mostly texture
            continue
        sharp = face_sharpness(image, tuple(v * to_image for v in (top, right, bottom, left)))
        turn = face_turn(pts)
        ok, why = judge(height_px, sharp, turn, settings)
        face = DetectedFace(
            box=box, height_px=height_px, width_px=width_px, sharpness=sharp,
            frontal=turn <= settings.max_face_turn, turn=turn, identifiable=ok, why_not=why,
            landmarks=[(round(x * to_orig), round(y * to_orig)) for x, y in pts], score=float(score),
        )
        found.append((face, float(bottom - top)))
    return found


def _larger_source(photo: Photo, side: int, settings: Settings):
    """(image, image_scale) of the photo decoded again at up to ``side`` from its file, when the
    original has more pixels than ``photo.image``; else the analysis image itself.

    The larger copy is kept on the photo (``photo._larger``) so detection's finer pass and the
    encodings of small faces decode the file once between them.
    """
    if photo.scale <= 1.0:
        return photo.image, photo.scale
    cached = getattr(photo, "_larger", None)
    if cached is not None and max(cached[0].size) >= min(side, max(photo.width, photo.height)):
        return cached
    if not photo.path.is_file():
        return photo.image, photo.scale
    try:
        again = load(photo.path, max_side=side, settings=settings)
    except ConsentError:  # the file changed or vanished since: use what we have
        return photo.image, photo.scale
    if max(again.image.size) <= max(photo.image.size):
        return photo.image, photo.scale
    photo._larger = (again.image, again.scale)
    return photo._larger


def detect(photo: Photo, settings: Settings = DEFAULTS) -> list[DetectedFace]:
    """Find every face in ``photo`` (from :func:`consent.images.load`); no encodings yet.

    A first pass scans the photo at ``detect_max_side``. When it finds no face, or its smallest
    face is within ``detect_fine_trigger`` times the smallest the detector can find (smaller
    faces may then be there, e.g. the back rows of a class photo), a finer pass scans at
    ``detect_fine_side``, decoding the photo's file again when the original is larger, and
    its faces are added to the first pass's.

    Returns faces in the original photo's coordinates, largest first, each judged identifiable
    or not (:func:`judge`).
    """
    image = photo.image
    first_factor = scan_factor(max(image.size), settings.detect_max_side, settings)
    found = _scan(image, photo.scale, first_factor, photo, settings)
    near_limit = settings.detect_fine_trigger * DETECTOR_MIN_FACE_PX
    fine_side = settings.detect_fine_side
    if fine_side > settings.detect_max_side and (not found or min(h for _, h in found) < near_limit):
        source, source_scale = _larger_source(photo, fine_side, settings)
        fine_factor = scan_factor(max(source.size), fine_side, settings)
        # scanned pixels per original pixel: worth a second pass only if clearly finer
        if fine_factor / source_scale > 1.2 * first_factor / photo.scale:
            fine = _scan(source, source_scale, fine_factor, photo, settings)
            extra = [
                (f, h) for f, h in found
                if all(box_iou(f.box, g.box) < 0.3 for g, _ in fine)
            ]
            found = fine + extra
    faces = [f for f, _ in found]
    faces.sort(key=lambda f: -f.height_px)
    return faces


def encode(photo: Photo, faces: list[DetectedFace], settings: Settings = DEFAULTS) -> None:
    """Fill ``.encoding`` (128 numbers) for every identifiable face in ``faces``; others stay None.

    Encodes from ``photo.image`` (the analysis image). Faces shorter there than
    ``encode_min_face_px`` are encoded from the photo's file decoded again at a size that makes
    them that tall (no larger than the original), when the original is larger.
    """
    todo = [f for f in faces if f.identifiable]
    if not todo:
        return
    need = settings.encode_min_face_px
    small = [f for f in todo if f.height_px / photo.scale < need]
    small_ids = {id(f) for f in small}
    groups = [((photo.image, photo.scale), [f for f in todo if id(f) not in small_ids])]
    if small:
        shortest = min(f.height_px for f in small) / photo.scale
        side = math.ceil(max(photo.image.size) * need / max(1.0, shortest))
        groups.append((_larger_source(photo, side, settings), small))
    fr = _models()
    import dlib

    for (image, scale), group in groups:
        if not group:
            continue
        arr = np.asarray(image)
        shapes = dlib.full_object_detections()
        for f in group:
            top, right, bottom, left = (round(v / scale) for v in f.box)
            shapes.append(fr.pose_predictor_5_point(arr, dlib.rectangle(left, top, right, bottom)))
        for f, vec in zip(group, fr.face_encoder.compute_face_descriptor(arr, shapes, 1)):
            f.encoding = np.array(vec)


def analyse(path: os.PathLike | str, settings: Settings = DEFAULTS) -> tuple[Photo, list[DetectedFace]]:
    """Load ``path`` at :func:`analysis_side`, detect its faces and encode the identifiable ones."""
    photo = load(path, max_side=analysis_side(settings), settings=settings)
    faces = detect(photo, settings)
    encode(photo, faces, settings)
    return photo, faces


def enrolment_quality(face: DetectedFace, settings: Settings = DEFAULTS) -> float:
    """A 0-1 score for a template face: size, sharpness and pose, each 0-1, multiplied.

    Size counts up to 150 px (the recogniser's own crop size), sharpness up to twice
    ``enrol_min_face_sharpness``; a face turned by ``max_face_turn`` scores half for pose.
    """
    size_q = min(1.0, face.height_px / 150.0)
    sharp_q = min(1.0, face.sharpness / (2.0 * settings.enrol_min_face_sharpness))
    pose_q = max(0.0, 1.0 - face.turn / (2.0 * settings.max_face_turn))
    return round(size_q * sharp_q * pose_q, 3)


def enrolment_encoding(path: os.PathLike | str, settings: Settings = DEFAULTS) -> tuple[np.ndarray, float]:
    """The encoding of the one clear face in an enrolment photo, and its quality (0-1).

    Faces shorter than ``enrol_background_face_ratio`` of the largest are background and
    ignored. Raises :class:`EnrolmentRefused` naming the file when there is no face, several
    faces, or the face is too small, too blurred or turned away; the errors of
    :func:`consent.images.load` when the file is not a readable photo.
    """
    photo = load(path, max_side=analysis_side(settings), settings=settings)
    found = detect(photo, settings)
    name = str(path)
    if not found:
        raise EnrolmentRefused(
            f"{name}: no face found; use a photo where the face is clear and looks at the camera"
        )
    main = found[0]  # largest first
    others = [f for f in found[1:] if f.height_px >= settings.enrol_background_face_ratio * main.height_px]
    if others:
        raise EnrolmentRefused(
            f"{name}: several faces ({1 + len(others)}) found; crop the photo to one person"
        )
    need = settings.enrol_min_face_px
    if main.height_px < need:
        raise EnrolmentRefused(
            f"{name}: face too small ({main.height_px} px; {need} needed); use a closer or larger photo"
        )
    if main.sharpness < settings.enrol_min_face_sharpness:
        raise EnrolmentRefused(f"{name}: face too blurred; use a sharper photo")
    if main.turn > settings.max_face_turn:
        raise EnrolmentRefused(
            f"{name}: face turned away from the camera; use a photo looking at the camera"
        )
    main.identifiable, main.why_not = True, None
    encode(photo, [main], settings)
    return main.encoding, enrolment_quality(main, settings)
