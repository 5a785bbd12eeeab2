"""Read the text written in a photo: names on badges, bibs, exercise books, whiteboards, shirts.

The models are PaddleOCR's PP-OCRv4 text detector and recogniser and its text-orientation
classifier, as shipped inside the ``rapidocr-onnxruntime`` wheel (Apache-2.0) and run by
``onnxruntime`` on the CPU; nothing is downloaded. The engine is built on first use, once per
process (:func:`consent.vision.models.load_once`); a missing or broken model file raises
:class:`~consent.errors.ModelUnavailable` and the check says the text could not be read.

How a photo is read (measured by ``python -m bench ocr``; figures in the README):
detection runs on a copy whose longest side is ``settings.text_side`` (most of the cost), and
each line found is then recognised from the larger picture the check already decoded (the
analysis image), so a name detected at the working size is read at up to the analysis
resolution. Text smaller than about 1% of the photo's longest side is not found at the default
size; handwriting is read far less reliably than print.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelUnavailable
from ..results import box_from_json, box_json
from ..settings import DEFAULTS, Settings
from .models import broken, load_once, model_threads, onnx_proto, onnx_session, package_file

log = logging.getLogger(__name__)

#: the package the model files ship in, installed by name (pyproject.toml)
MODEL_PACKAGE = "rapidocr_onnxruntime"
#: each model: (file inside the package, what it is called in messages)
MODEL_FILES = {
    "det": ("models/ch_PP-OCRv4_det_infer.onnx", "text detection"),
    "cls": ("models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "text orientation"),
    "rec": ("models/ch_PP-OCRv4_rec_infer.onnx", "text recognition"),
}
#: the detector needs sides that are multiples of this
_DET_STRIDE = 32


@dataclass
class TextLine:
    """One line of text read in the picture."""

    text: str
    #: the recogniser's mean character confidence (0-1)
    confidence: float
    #: (top, right, bottom, left) in original upright picture pixels, like face boxes
    box: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 3), "box": box_json(self.box)}

    @classmethod
    def from_json(cls, data: dict) -> "TextLine":
        return cls(data["text"], float(data["confidence"]), box_from_json(data["box"]))


@dataclass
class TextReading:
    """What the text reader found in one photo, or why it could not read it."""

    lines: list[TextLine] = field(default_factory=list)
    #: why the text could not be read (a missing or broken model); None when it was read
    error: str | None = None

    def to_json(self) -> dict:
        return {"lines": [line.to_json() for line in self.lines], "error": self.error}

    @classmethod
    def from_json(cls, data: dict) -> "TextReading":
        return cls([TextLine.from_json(line) for line in data["lines"]], data.get("error"))


def model_paths() -> dict:
    """The model files, found in the installed package (raises ModelUnavailable)."""
    return {key: package_file(MODEL_PACKAGE, rel, what) for key, (rel, what) in MODEL_FILES.items()}


@load_once
def _engine():
    """rapidocr's engine over the packaged models, built once per process."""
    paths = model_paths()
    try:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.utils import infer_engine
    except ImportError as exc:
        raise ModelUnavailable(
            f"the text reader cannot be loaded ({exc}); run 'make install' again"
        ) from exc
    # the same models with their graphs simplified (consent.vision.graph: the same outputs
    # within 2e-5, about 0.65x the detector's and 0.55x the recogniser's time), handed to
    # rapidocr as it builds its engine so that it does not build sessions of its own as well
    sessions = {str(paths[key]): _simplified(paths[key], what) for key, (_, what) in MODEL_FILES.items()}
    try:
        with _sessions_given(infer_engine, sessions):
            # detection limit: no resizing by the engine, this module sizes the picture itself
            engine = RapidOCR(
                det_model_path=str(paths["det"]), cls_model_path=str(paths["cls"]),
                rec_model_path=str(paths["rec"]), det_limit_type="max", det_limit_side_len=1 << 20,
            )
    except Exception as exc:  # a rapidocr that no longer builds its engine this way
        raise ModelUnavailable(
            f"the text reader cannot be loaded ({_first_line(exc)}); run 'make install' again"
        ) from exc
    _fast_detector_input(engine.text_det)
    return engine


@contextmanager
def _sessions_given(infer_engine, sessions: dict):
    """While rapidocr builds its engine, its ``InferenceSession(model_path, ...)`` returns the
    session already built for that file (``sessions``, by path) instead of loading it again."""
    built = infer_engine.InferenceSession
    infer_engine.InferenceSession = lambda model_path, *args, **kwargs: sessions[str(model_path)]
    try:
        yield
    finally:
        infer_engine.InferenceSession = built


def _fast_detector_input(text_det) -> None:
    """Make rapidocr's detector input (the picture resized to multiples of 32, then
    ``(x / 255 - mean) / std`` as one float32 NCHW array) in one OpenCV call: the same numbers
    to float32 rounding, in about 5 ms at 960 px instead of 35 (rapidocr computes it in float64
    numpy). Left as it is when the channels do not share one ``std``."""
    import cv2

    std, mean = np.asarray(text_det.std, dtype=np.float64), np.asarray(text_det.mean, dtype=np.float64)
    if std.shape != (3,) or mean.shape != (3,) or not np.all(std == std[0]) or std[0] <= 0:
        return
    scale, offset = 1.0 / (255.0 * std[0]), tuple(255.0 * mean)
    packaged = text_det.get_preprocess

    def get_preprocess(max_wh):
        resize = packaged(max_wh).resize  # to the detector's multiples of 32, as rapidocr does

        def prepare(img):
            resized = resize(img)
            return None if resized is None else cv2.dnn.blobFromImage(resized, scale, None, offset)

        return prepare

    text_det.get_preprocess = get_preprocess


def _simplified(path, what: str):
    """An onnxruntime session for the model at ``path`` after :func:`consent.vision.graph.simplify`.

    The rewrites only speed the model up: if they fail on a graph they do not expect, the
    model runs as shipped (and a file that cannot be read at all is a broken model)."""
    from .graph import simplify

    try:
        model = onnx_proto().ModelProto()
        model.ParseFromString(path.read_bytes())
    except Exception as exc:  # a damaged file: protobuf raises its own types
        raise broken(path, what, MODEL_PACKAGE, _first_line(exc)) from exc
    try:
        simplify(model)
        return onnx_session(path, what, MODEL_PACKAGE, data=model.SerializeToString(), threads=model_threads())
    except Exception as exc:
        log.warning("the %s model runs as shipped: its graph could not be simplified (%s)", what, _first_line(exc))
        return onnx_session(path, what, MODEL_PACKAGE, threads=model_threads())


def load() -> None:
    """Load the models now (benchmarks and workers warming up); raises ModelUnavailable."""
    _engine()


def read(image: np.ndarray, scale: float = 1.0, settings: Settings = DEFAULTS) -> TextReading:
    """Read the text in an RGB picture (``uint8``, height x width x 3).

    ``scale`` turns picture coordinates into original ones (``Photo.scale``). Lines whose
    confidence is below ``settings.text_min_confidence`` are left out. Raises
    :class:`ModelUnavailable` when the models cannot be loaded.
    """
    import cv2

    engine = _engine()
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    h, w = bgr.shape[:2]
    # the working size both ways: small photos are enlarged so small text is still found
    k = settings.text_side / max(h, w)
    small = cv2.resize(bgr, (max(_DET_STRIDE, round(w * k)), max(_DET_STRIDE, round(h * k))),
                       interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    quads, _ = engine.auto_text_det(small)
    if quads is None or not len(quads):
        return TextReading()
    fx, fy = w / small.shape[1], h / small.shape[0]
    quads = [(q * np.array([fx, fy], dtype=np.float32)).astype(np.float32) for q in quads]
    crops = engine.get_crop_img_list(bgr, quads)
    crops, _, _ = engine.text_cls(crops)
    recognised, _ = engine.text_rec(crops)
    lines = []
    for quad, (text, confidence) in zip(quads, recognised):
        text = " ".join(text.split())
        if not text or confidence < settings.text_min_confidence:
            continue
        xs, ys = quad[:, 0] * scale, quad[:, 1] * scale
        box = (int(ys.min()), int(round(xs.max())), int(round(ys.max())), int(xs.min()))
        lines.append(TextLine(text, float(confidence), box))
    return TextReading(lines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
