"""What the PE-kit check adds to a photo's check time, beside face detection on the same photos.

For every photo of the labelled kit fixtures (and, as a second set, the group photos of the
``faces`` fixtures, where many faces mean many bodies to measure), decoded as the pipeline
decodes it, this times:

- face detection, as the check pipeline runs it (``consent.faces.detect``);
- the kit check, as the pipeline runs it (``kit.assess(photo.array(), boxes, context)``,
  the array conversion included).

Each is the best of a few runs per photo; the figures are the mean per photo and the ratio
kit / face detection (the kit check must add under 20%). ``python -m bench kit`` runs it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 3
TARGET = 0.20


def fixtures() -> Path:
    return Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")


def best_of(fn, repeat: int = REPEAT):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(paths, settings) -> tuple[float, float, int, int]:
    """Total best-of times (face detection, kit check) over ``paths``, photos and faces counted."""
    from consent import faces, kit
    from consent.images import load

    t_faces = t_kit = 0.0
    n_faces = 0
    for path in paths:
        photo = load(path, faces.analysis_side(settings), settings)
        dt, found = best_of(lambda: faces.detect(photo, settings))
        t_faces += dt
        boxes = [tuple(round(v / photo.scale) for v in f.box) for f in found]
        n_faces += len(boxes)
        context = f"{path.parent.name} {path.name}"
        dt, _ = best_of(lambda: kit.assess(photo.array(), boxes, context=context, settings=settings))
        t_kit += dt
    return t_faces, t_kit, len(paths), n_faces


def report(name: str, t_faces: float, t_kit: float, n: int, n_faces: int) -> float:
    ratio = t_kit / t_faces if t_faces else float("inf")
    print(
        f"{name:<16} {n:>3} photos {n_faces:>4} faces | face detection {1000 * t_faces / n:7.1f} ms/photo"
        f" | kit check {1000 * t_kit / n:6.1f} ms/photo | kit / faces {ratio:6.1%}"
        f" ({'under' if ratio < TARGET else 'OVER'} the {TARGET:.0%} budget)"
    )
    return ratio


def run() -> None:
    from consent import faces
    from consent.images import IMAGE_SUFFIXES
    from consent.settings import DEFAULTS

    base = fixtures()
    kit_dir = base / "kit"
    if not kit_dir.is_dir():
        raise SystemExit(f"kit fixtures not found at {kit_dir} (set CONSENT_FIXTURES)")
    faces._models()  # load the face models once, outside the timings
    sets = [("kit fixtures", kit_dir)]
    if (base / "faces").is_dir():
        sets.append(("group photos", base / "faces"))
    total_faces = total_kit = 0.0
    for name, folder in sets:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        t_faces, t_kit, n, n_faces = measure(paths, DEFAULTS)
        report(name, t_faces, t_kit, n, n_faces)
        total_faces += t_faces
        total_kit += t_kit
    print(f"kit check adds {total_kit / total_faces:.1%} to face detection over all photos "
          f"(target: under {TARGET:.0%})")
