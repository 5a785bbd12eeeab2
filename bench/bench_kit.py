"""What the PE-kit check adds to a photo's check time, beside face detection on the same photos.

For every photo of the labelled kit fixtures (and, as a second set, the group photos of the
``faces`` fixtures, where many faces mean many bodies to measure), decoded as the pipeline
decodes it, this times:

- face detection, as the check pipeline runs it (``consent.vision.faces.detect``), and plain
  ``face_recognition.face_locations`` (HOG, one upsampling) on the same analysis image, the
  cheaper peer (so the ratio holds however the pipeline's detector is tuned);
- the kit check, as the pipeline runs it (``kit.assess(photo.array(), boxes, context)``,
  the array conversion included): the scene model (MobileNetV2 on onnxruntime: one
  224 x 224 centre crop for the scene, and, when there are faces, one run on the whole photo,
  shorter side 256, read over each person's body) plus the skin and kit-colour measures below
  each face; and the scene model's part alone (``scene.analyse``).

The scene model is built once before the timings (a worker process pays that once: its
build time is printed too).

Each is the best of a few runs per photo; the figures are the mean per photo and the ratio
kit / face detection (the kit check must add under 10%). ``python -m bench kit`` runs it.
"""

from __future__ import annotations

from bench.timing import best_of

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 3
TARGET = 0.10


def fixtures() -> Path:
    return Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")


def measure(paths, settings) -> tuple[float, float, float, float, int, int]:
    """Total best-of times (pipeline face detection, face_locations, kit check, scene model
    alone) over ``paths``, photos and faces counted."""
    import face_recognition

    from consent.vision import faces, kit, scene
    from consent.images import load

    t_faces = t_plain = t_kit = t_scene = 0.0
    n_faces = 0
    for path in paths:
        photo = load(path, faces.analysis_side(settings), settings)
        dt, found = best_of(lambda: faces.detect(photo, settings), REPEAT)
        t_faces += dt
        array = photo.array()
        dt, _ = best_of(lambda: face_recognition.face_locations(array, number_of_times_to_upsample=1), REPEAT)
        t_plain += dt
        boxes = [tuple(round(v / photo.scale) for v in f.box) for f in found]
        n_faces += len(boxes)
        context = f"{path.parent.name} {path.name}"
        dt, _ = best_of(lambda: kit.assess(photo.array(), boxes, context=context, settings=settings), REPEAT)
        t_kit += dt
        bodies = [kit._body_box(tuple(int(v) for v in b), array.shape[1], array.shape[0]) for b in boxes]
        dt, _ = best_of(lambda: scene.analyse(photo.array(), bodies), REPEAT)
        t_scene += dt
    return t_faces, t_plain, t_kit, t_scene, len(paths), n_faces


def report(name: str, t_faces: float, t_plain: float, t_kit: float, t_scene: float, n: int, n_faces: int) -> None:
    print(f"{name}: {n} photos, {n_faces} faces; kit check {1000 * t_kit / n:.1f} ms/photo "
          f"(of which the scene model {1000 * t_scene / n:.1f} ms)")
    for peer, t in (("consent.vision.faces.detect", t_faces), ("face_recognition.face_locations", t_plain)):
        ratio = t_kit / t if t else float("inf")
        print(
            f"  {peer:<32} {1000 * t / n:7.1f} ms/photo | kit / detection {ratio:6.1%}"
            f" ({'under' if ratio < TARGET else 'OVER'} the {TARGET:.0%} budget)"
        )


def run() -> None:
    from consent.vision import faces
    from consent.images import IMAGE_SUFFIXES
    from consent.settings import DEFAULTS

    base = fixtures()
    kit_dir = base / "kit"
    if not kit_dir.is_dir():
        raise SystemExit(f"kit fixtures not found at {kit_dir} (set CONSENT_FIXTURES)")
    from consent.vision import scene

    faces.load_models()  # load the face models once, outside the timings
    start = time.perf_counter()
    scene.session()  # and build the scene model once, as a worker does on its first photo
    print(f"scene model built in {time.perf_counter() - start:.2f}s (once per process)")
    sets = [("kit fixtures", kit_dir)]
    if (base / "faces").is_dir():
        sets.append(("group photos", base / "faces"))
    totals = [0.0, 0.0, 0.0]
    for name, folder in sets:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        t_faces, t_plain, t_kit, t_scene, n, n_faces = measure(paths, DEFAULTS)
        report(name, t_faces, t_plain, t_kit, t_scene, n, n_faces)
        totals = [a + b for a, b in zip(totals, (t_faces, t_plain, t_kit))]
    print(f"over all photos the kit check adds {totals[2] / totals[0]:.1%} to the pipeline's face "
          f"detection and {totals[2] / totals[1]:.1%} to face_locations (target: under {TARGET:.0%})")
