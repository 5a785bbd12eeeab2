"""Measure face detection and identifiability on the shared fixtures; the figures behind the
``faces`` settings in ``consent/settings.py``.

    .venv/bin/python -m scripts.measure_detection [--fixtures DIR] [--section NAME ...]

Sections (all by default):

* ``originals``: recall, precision and time per photo on ``faces/*.jpg`` against the imglab XML
  ground truth (IoU >= 0.3; ``ignore`` boxes neither count nor miss), for several detection sizes
  and upsampling limits, as ``consent.vision.faces.detect`` runs them.
* ``enlarged``: the same photos enlarged to 12 megapixels (JPEG, in a temporary folder), decoded
  by ``consent.images.load`` at each detection size (JPEG DCT scaling), with decode and detection
  time, beside the way the face_recognition command line does it (full decode, shrink to 1600,
  one upsampling step).
* ``mosaic``: the nine photos tiled into one 12-megapixel picture, so their faces are as small
  as in a class photo, where the second, finer detection pass matters.
* ``floor``: the smallest face the detector finds, in pixels of the image it scans.
* ``size``: whether the recogniser still matches each known face in ``people/test`` to its own
  enrolment photos when the face is shrunk to N pixels (the identifiable-size threshold).
* ``blur``: the same under Gaussian blur, with the sharpness figure ``consent.vision.faces`` computes
  (the sharpness threshold).

Times are CPU milliseconds per photo of this one process (decode, detect, and encode only where
the row says so), steadier than wall-clock time on a shared machine; compare rows of one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.peers import face_recognition_cli_image  # noqa: E402
from consent.vision import faces
from consent import images  # noqa: E402
from consent.settings import DEFAULTS  # noqa: E402

#: a detection matches a ground-truth box when their intersection over union is at least this
IOU_MATCH = 0.3
TWELVE_MP = 12_000_000


@dataclasses.dataclass
class Truth:
    """Ground-truth face boxes of one photo: (top, left, bottom, right) and whether ignored."""

    file: str
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]
    ignore: list[bool]

    def scaled(self, s: float) -> "Truth":
        return Truth(self.file, round(self.width * s), round(self.height * s),
                     [tuple(v * s for v in b) for b in self.boxes], list(self.ignore))


def read_imglab(*xml_paths: os.PathLike | str) -> list[Truth]:
    """Ground truth from dlib imglab XML files (``<image file><box top left width height>``)."""
    out = []
    for xml_path in xml_paths:
        for image in ET.parse(xml_path).getroot().iter("image"):
            boxes, ignore = [], []
            for b in image.iter("box"):
                t, l = float(b.get("top")), float(b.get("left"))
                boxes.append((t, l, t + float(b.get("height")), l + float(b.get("width"))))
                ignore.append(b.get("ignore") == "1")
            out.append(Truth(image.get("file"), int(image.get("width") or 0),
                             int(image.get("height") or 0), boxes, ignore))
    return out


def fixture_truth(faces_dir: Path) -> list[Truth]:
    return read_imglab(faces_dir / "training.xml", faces_dir / "testing.xml")


def iou(a, b) -> float:
    """Intersection over union of two (top, left, bottom, right) boxes (the XML's order)."""
    return faces.box_iou((a[0], a[3], a[2], a[1]), (b[0], b[3], b[2], b[1]))


def score(found: list[faces.DetectedFace], truth: Truth) -> tuple[int, int, int]:
    """(true positives, false positives, misses) of detections against one photo's truth.

    Greedy best-IoU matching, each truth box used once; a detection on an ``ignore`` box counts
    neither way and a missed ``ignore`` box is not a miss.
    """
    used: set[int] = set()
    tp = fp = 0
    for f in found:
        top, right, bottom, left = f.box
        best, best_iou = None, 0.0
        for i, g in enumerate(truth.boxes):
            if i not in used and (v := iou((top, left, bottom, right), g)) > best_iou:
                best, best_iou = i, v
        if best is not None and best_iou >= IOU_MATCH:
            used.add(best)
            tp += not truth.ignore[best]
        else:
            fp += 1
    counted = sum(1 for ig in truth.ignore if not ig)
    return tp, fp, counted - tp


def enlarge_to(src: Path, dest: Path, pixels: int = TWELVE_MP, quality: int = 90) -> float:
    """Write ``src`` enlarged to about ``pixels`` pixels as a JPEG at ``dest``; returns the factor."""
    from PIL import Image

    with Image.open(src) as im:
        s = math.sqrt(pixels / (im.width * im.height))
        big = im.convert("RGB").resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
    big.save(dest, quality=quality)
    return s


#: CPU time of this process: steadier than wall-clock time on a machine shared with other work
clock = time.process_time


def mosaic(truths: list[Truth], src_dir: Path, dest: Path, cols: int = 3, rows: int = 3,
           tile: tuple[int, int] = (1333, 1000), quality: int = 90) -> Truth:
    """A class-photo-like 12-megapixel JPEG: the annotated photos side by side in a grid, each
    enlarged to fill its tile (about 2.7 times, so the smallest faces are about 100 px tall,
    2.5% of the longest side); returns its ground truth."""
    from PIL import Image

    canvas = Image.new("RGB", (cols * tile[0], rows * tile[1]), (128, 128, 128))
    boxes, ignore = [], []
    for i, t in enumerate(truths[: cols * rows]):
        with Image.open(src_dir / t.file) as im:
            s = min(tile[0] / im.width, tile[1] / im.height)
            im = im.convert("RGB").resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
        x = (i % cols) * tile[0] + (tile[0] - im.width) // 2
        y = (i // cols) * tile[1] + (tile[1] - im.height) // 2
        canvas.paste(im, (x, y))
        boxes += [(b[0] * s + y, b[1] * s + x, b[2] * s + y, b[3] * s + x) for b in t.boxes]
        ignore += t.ignore
    canvas.save(dest, quality=quality)
    return Truth(dest.name, canvas.width, canvas.height, boxes, ignore)


def evaluate(photos: list[tuple[Path, Truth]], settings, encode: bool = False) -> dict:
    """Detect with ``settings`` on each (path, truth), and encode when asked; totals, rates and
    CPU milliseconds per photo."""
    tp = fp = fn = 0
    decode = detect = enc = 0.0
    for path, truth in photos:
        t0 = clock()
        photo = images.load(path, max_side=faces.analysis_side(settings), settings=settings)
        t1 = clock()
        found = faces.detect(photo, settings)
        t2 = clock()
        if encode:
            faces.encode(photo, found, settings)
        t3 = clock()
        decode, detect, enc = decode + t1 - t0, detect + t2 - t1, enc + t3 - t2
        a, b, c = score(found, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    return _rates(tp, fp, fn, decode, detect, enc, len(photos))


def _rates(tp, fp, fn, decode, detect, enc, n) -> dict:
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp),
        "decode_ms": 1000 * decode / n, "detect_ms": 1000 * detect / n, "encode_ms": 1000 * enc / n,
    }


def _row(label: str, r: dict) -> str:
    return (f"| {label} | {r['tp']}/{r['tp'] + r['fn']} | {r['fp']} | {r['recall']:.3f} | "
            f"{r['precision']:.3f} | {r['decode_ms']:.0f} | {r['detect_ms']:.0f} | "
            f"{r['encode_ms']:.0f} |")


HEADER = ("| setting | found | false | recall | precision | decode | detect | encode all |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")


def section_originals(fx: Path) -> None:
    truths = fixture_truth(fx / "faces")
    photos = [(fx / "faces" / t.file, t) for t in truths]
    print("\n## Originals (faces/*.jpg, 360-500 px, 43 annotated faces)\n")
    print(HEADER)
    faces.detect(images.load(photos[0][0]))  # load the models outside the timings
    for side, up in [(2000, 0), (2000, 1), (2000, 2), (1000, 2), (1600, 2)]:
        s = dataclasses.replace(DEFAULTS, detect_max_side=side, detect_upsample=up)
        print(_row(f"detect_max_side={side} detect_upsample={up}", evaluate(photos, s)), flush=True)


def section_enlarged(fx: Path) -> None:
    truths = fixture_truth(fx / "faces")
    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for t in truths:
            dest = Path(tmp) / t.file
            s = enlarge_to(fx / "faces" / t.file, dest)
            photos.append((dest, t.scaled(s)))
        print("\n## Enlarged to 12 megapixels (about 4000x3000 JPEG, q90)\n")
        print(HEADER)
        faces.detect(images.load(photos[0][0], max_side=500))
        for side in (800, 900, 1000, 1200, 1600, 2000, 2400):
            s = dataclasses.replace(DEFAULTS, detect_max_side=side, detect_fine_side=0)
            print(_row(f"detect_max_side={side}", evaluate(photos, s)), flush=True)
        print(_row(f"defaults ({DEFAULTS.detect_max_side}, fine pass when needed)", evaluate(photos, DEFAULTS)),
              flush=True)
        print(_row("defaults, encoding every identifiable face",
                   evaluate(photos, DEFAULTS, encode=True)), flush=True)
        print(_row("face_recognition CLI way: full decode, shrink to 1600, upsample 1, encode all",
                   _cli_way(photos)), flush=True)


def section_mosaic(fx: Path) -> None:
    truths = fixture_truth(fx / "faces")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "mosaic.jpg"
        photos = [(dest, mosaic(truths, fx / "faces", dest))]
        faces.detect(images.load(dest, max_side=500))  # load the models outside the timings
        print("\n## Class-photo scale: the 9 photos in a 3x3 grid, 4000x3000 JPEG (faces 96-290 px, "
              "2.4-7% of the longest side)\n")
        print(HEADER)
        for label, s in [
            ("first pass only (detect_fine_side=0)", dataclasses.replace(DEFAULTS, detect_fine_side=0)),
            ("first pass at 2000 only", dataclasses.replace(DEFAULTS, detect_max_side=2000, detect_fine_side=0)),
            (f"defaults: first pass, then fine pass at {DEFAULTS.detect_fine_side}", DEFAULTS),
            ("defaults, encoding every identifiable face", None),
        ]:
            r = evaluate(photos, s) if s else evaluate(photos, DEFAULTS, encode=True)
            print(_row(label, r), flush=True)
        print(_row("face_recognition CLI way, encode all", _cli_way(photos)), flush=True)
        print("\nEncodings against those made from the full 12-megapixel picture (distance; the "
              f"match threshold is {DEFAULTS.match_threshold}):\n")
        dev = encoding_deviation(dest)
        print("| faces in the 1600-px analysis image | count | analysis image only | "
              "re-decoded larger (default) |\n| --- | --- | --- | --- |")
        for label, rows in (("shorter than encode_min_face_px", [d for d in dev if d[0]]),
                            ("at least encode_min_face_px", [d for d in dev if not d[0]])):
            if rows:
                print(f"| {label} | {len(rows)} | {np.mean([d[2] for d in rows]):.3f} | "
                      f"{np.mean([d[1] for d in rows]):.3f} |")


def encoding_deviation(path: Path, settings=DEFAULTS) -> list[tuple[bool, float, float]]:
    """For each identifiable face of ``path`` analysed with ``settings``: (small in the analysis
    image, distance of the default encoding from the full-resolution one, distance of the
    analysis-image-only encoding from it)."""
    photo, found = faces.analyse(path, settings)
    full = images.load(path, settings=settings)
    ref = [dataclasses.replace(f, encoding=None) for f in found]
    faces.encode(full, ref, settings)
    plain = [dataclasses.replace(f, encoding=None) for f in found]
    faces.encode(photo, plain, dataclasses.replace(settings, encode_min_face_px=0))
    return [
        (f.height_px / photo.scale < settings.encode_min_face_px,
         float(np.linalg.norm(f.encoding - r.encoding)), float(np.linalg.norm(p.encoding - r.encoding)))
        for f, r, p in zip(found, ref, plain) if f.encoding is not None
    ]


def _cli_way(photos) -> dict:
    """As face_recognition_cli.test_image: load_image_file, thumbnail 1600 LANCZOS, upsample 1."""
    fr = faces._models()
    tp = fp = fn = 0
    decode = detect = enc = 0.0
    for path, truth in photos:
        t0 = clock()
        arr, scale = face_recognition_cli_image(path)
        t1 = clock()
        locs = fr.face_locations(arr, number_of_times_to_upsample=1)
        t2 = clock()
        fr.face_encodings(arr, known_face_locations=locs)
        t3 = clock()
        decode, detect, enc = decode + t1 - t0, detect + t2 - t1, enc + t3 - t2
        found = [faces.DetectedFace(box=tuple(round(v * scale) for v in loc), height_px=0, width_px=0,
                                    sharpness=0.0, frontal=True, turn=0.0, identifiable=True)
                 for loc in locs]
        a, b, c = score(found, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    return _rates(tp, fp, fn, decode, detect, enc, len(photos))


def section_floor(fx: Path) -> None:
    """Enlarge the originals by a factor f and scan with no further upsampling: the 37-px faces
    are 37*f px tall in the scanned image."""
    truths = fixture_truth(fx / "faces")
    photos = [(fx / "faces" / t.file, t) for t in truths]
    print("\n## Detection floor: originals enlarged by f, scanned as they are\n")
    print("| f | smallest annotated face in scan (px) | found | recall |\n| --- | --- | --- | --- |")
    for f in (1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.4):
        s = dataclasses.replace(DEFAULTS, detect_max_side=10_000, detect_upsample=0)
        tp = fn = 0
        for path, truth in photos:
            photo = images.load(path)
            w, h = photo.image.size
            photo.image = photo.image.resize((round(w * f), round(h * f)))
            photo.scale = photo.width / photo.image.width
            a, _, c = score(faces.detect(photo, s), truth)
            tp, fn = tp + a, fn + c
        print(f"| {f} | {37 * f:.0f} | {tp}/{tp + fn} | {tp / (tp + fn):.3f} |", flush=True)


def _people(fx: Path):
    """Enrolment encodings per person, and the known faces of people/test with their person."""
    train = {}
    for d in sorted((fx / "people" / "train").iterdir()):
        train[d.name] = [faces.enrolment_encoding(p)[0] for p in sorted(d.iterdir())]
    known = []
    for p in sorted((fx / "people" / "test").iterdir()):
        photo, found = faces.analyse(p)
        for f in found:
            dist = {k: min(np.linalg.norm(v - f.encoding) for v in vs) for k, vs in train.items()}
            who = min(dist, key=dist.get)
            if dist[who] <= DEFAULTS.match_threshold:
                known.append((p, f, who))
    return train, known


def _encode_variant(path: Path, face: faces.DetectedFace, height: int, blur: float = 0.0):
    """Encoding and sharpness of ``face`` with its photo shrunk so the face is ``height`` px tall,
    then blurred with a Gaussian of ``blur`` % of the face height."""
    from PIL import Image, ImageFilter

    full = images.load(path)
    s = min(1.0, height / face.height_px)
    im = full.image
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    if blur:
        im = im.filter(ImageFilter.GaussianBlur(blur * face.height_px * s / 100))
    small = images.Photo(path=path, format="JPEG", width=im.width, height=im.height, orientation=1,
                         image=im, scale=1.0)
    t, r, b, l = (round(v * s) for v in face.box)
    f = dataclasses.replace(face, box=(t, r, b, l), identifiable=True, encoding=None)
    faces.encode(small, [f])
    return f.encoding, faces.face_sharpness(im, (t, r, b, l))


def _verdict(enc, who, train) -> tuple[float, float, bool]:
    dist = {k: min(np.linalg.norm(v - enc) for v in vs) for k, vs in train.items()}
    own = dist[who]
    other = min(v for k, v in dist.items() if k != who)
    return own, other, own <= DEFAULTS.match_threshold and own + DEFAULTS.match_margin < other


def section_size(fx: Path) -> None:
    train, known = _people(fx)
    print(f"\n## Recognition against face height ({len(known)} known faces in people/test; "
          f"match: own distance <= {DEFAULTS.match_threshold} and {DEFAULTS.match_margin} clear "
          "of anyone else)\n")
    print("| face height px | matched | worst own distance | nearest other person |\n| --- | --- | --- | --- |")
    for h in (16, 20, 24, 28, 32, 36, 40, 48, 64, 80, 150):
        rows = [_verdict(_encode_variant(p, f, h)[0], who, train) for p, f, who in known]
        print(f"| {h} | {sum(ok for *_, ok in rows)}/{len(rows)} | {max(r[0] for r in rows):.2f} | "
              f"{min(r[1] for r in rows):.2f} |", flush=True)


def section_blur(fx: Path) -> None:
    train, known = _people(fx)
    print("\n## Recognition against blur (faces 100 px tall; Gaussian sigma as % of face height)\n")
    print("| sigma % | matched | worst own distance | sharpness of matched (min) | "
          "sharpness of unmatched (max) |\n| --- | --- | --- | --- | --- |")
    for sigma in (0, 1, 1.5, 2, 2.5, 3, 4, 6):
        rows = []
        for p, f, who in known:
            enc, sharp = _encode_variant(p, f, 100, sigma)
            rows.append((*_verdict(enc, who, train), sharp))
        ok = [r[3] for r in rows if r[2]]
        bad = [r[3] for r in rows if not r[2]]
        print(f"| {sigma} | {len(ok)}/{len(rows)} | {max(r[0] for r in rows):.2f} | "
              f"{min(ok) if ok else float('nan'):.0f} | {max(bad) if bad else float('nan'):.0f} |",
              flush=True)


SECTIONS = {"originals": section_originals, "enlarged": section_enlarged, "mosaic": section_mosaic,
            "floor": section_floor,
            "size": section_size, "blur": section_blur}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", default=os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--section", action="append", choices=sorted(SECTIONS))
    args = ap.parse_args(argv)
    fx = Path(args.fixtures)
    print(f"# Face detection measurements (defaults: detect_max_side={DEFAULTS.detect_max_side}, "
          f"detect_upsample={DEFAULTS.detect_upsample}, min_identifiable_face_px="
          f"{DEFAULTS.min_identifiable_face_px}, min_face_sharpness={DEFAULTS.min_face_sharpness})")
    for name in args.section or SECTIONS:
        SECTIONS[name](fx)


if __name__ == "__main__":
    main()
