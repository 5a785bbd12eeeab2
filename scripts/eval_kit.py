"""Precision and recall of the PE-kit detector on the labelled kit fixtures.

``python -m scripts.eval_kit [FOLDER] [--sensitivity]`` (``make eval-kit``) runs
:func:`consent.vision.kit.assess` on every photo listed in ``FOLDER/labels.csv`` (default: the ``kit``
folder of ``CONSENT_FIXTURES`` or ``../shared/fixtures``), without a school kit profile, and
prints one row per photo (label, verdict, signals) and the precision and recall.

Labels: ``sportswear`` must be flagged (``pe_kit`` or ``exposure``), ``exposure`` likewise,
``everyday`` must not be, ``ambiguous`` is shown but not counted. ``--sensitivity`` also prints
the figures with each main threshold moved 20% down and up.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSITIVE = {"sportswear", "exposure"}
NEGATIVE = {"everyday"}
#: the thresholds whose sensitivity is reported
MAIN_THRESHOLDS = (
    "kit_surface_share",
    "kit_surface_min_saturation",
    "kit_surface_max_texture",
    "kit_line_min_length",
    "kit_skin_tolerance",
    "kit_skin_background_limit",
    "kit_bare_limb_share",
    "kit_bare_torso_share",
    "kit_score_threshold",
)


def default_folder() -> Path:
    base = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    return base / "kit"


@dataclass
class Sample:
    """One labelled photo, decoded at analysis size, with its faces found once."""

    name: str
    label: str
    note: str
    image: object  # numpy array
    faces: list
    context: str


@dataclass
class Result:
    rows: list = field(default_factory=list)  # (sample, assessment)
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def face_detector(settings):
    """The face detector the check pipeline uses, returning boxes in analysis coordinates.

    ``consent.vision.faces.detect`` when it exists (its boxes are in original coordinates: divided by
    the photo's scale here), else face_recognition's HOG detector at the same upsampling.
    Returns ``(name, detect(photo) -> list of boxes)``.
    """
    try:
        from consent.vision import faces as faces_mod

        detect = faces_mod.detect
    except (ImportError, AttributeError):
        detect = None
    if detect is not None:
        def from_pipeline(photo):
            found = detect(photo)
            return [tuple(int(round(c / photo.scale)) for c in f.box) for f in found]

        return "consent.vision.faces.detect", from_pipeline

    import face_recognition

    def from_face_recognition(photo):
        return face_recognition.face_locations(
            photo.array(), number_of_times_to_upsample=settings.detect_upsample
        )

    return "face_recognition.face_locations", from_face_recognition


def load_samples(folder: Path, settings) -> tuple[list[Sample], str]:
    """Decode every labelled photo and find its faces (once, for all settings tried)."""
    from consent.images import load

    labels = folder / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels}: not found; set CONSENT_FIXTURES to the shared fixtures")
    detector_name, detect = face_detector(settings)
    samples = []
    with open(labels, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = folder / row["file"]
            photo = load(path, settings.detect_max_side, settings)
            samples.append(
                Sample(
                    name=row["file"],
                    label=row["label"].strip(),
                    note=row.get("note", ""),
                    image=photo.array(),
                    faces=[tuple(int(v) for v in f) for f in detect(photo)],
                    context=f"{folder.name} {Path(row['file']).stem}",
                )
            )
    return samples, detector_name


def evaluate(samples: list[Sample], settings) -> Result:
    """Run the detector on every sample (no kit profile) and count hits and misses."""
    from consent.vision.kit import assess

    result = Result()
    for s in samples:
        a = assess(s.image, s.faces, s.context, profile=None, settings=settings)
        result.rows.append((s, a))
        flagged = a.pe_kit or a.exposure
        if s.label in POSITIVE:
            result.tp += flagged
            result.fn += not flagged
        elif s.label in NEGATIVE:
            result.fp += flagged
            result.tn += not flagged
    return result


def verdict(a) -> str:
    return "exposure" if a.exposure else "pe_kit" if a.pe_kit else "-"


def print_table(result: Result, out=sys.stdout) -> None:
    print(f"{'photo':<32} {'label':<10} {'verdict':<9} {'ok':<3} {'score':>5}  signals", file=out)
    for s, a in result.rows:
        flagged = a.pe_kit or a.exposure
        ok = "" if s.label not in POSITIVE | NEGATIVE else "yes" if flagged == (s.label in POSITIVE) else "NO"
        print(
            f"{s.name:<32} {s.label:<10} {verdict(a):<9} {ok:<3} {a.score:>5.2f}  "
            f"{'; '.join(a.signals) or '-'}",
            file=out,
        )


def summary(result: Result) -> str:
    return (
        f"precision {result.precision:.2f} ({result.tp}/{result.tp + result.fp})  "
        f"recall {result.recall:.2f} ({result.tp}/{result.tp + result.fn})  "
        f"false alarms {result.fp}/{result.fp + result.tn}"
    )


def sensitivity(samples: list[Sample], settings, out=sys.stdout) -> None:
    """Precision and recall with each main threshold at 80% and 120% of its value."""
    print("\nsensitivity (each threshold alone at -20% and +20%):", file=out)
    for name in MAIN_THRESHOLDS:
        value = getattr(settings, name)
        for factor in (0.8, 1.2):
            changed = dataclasses.replace(settings, **{name: type(value)(value * factor)})
            r = evaluate(samples, changed)
            print(f"  {name:<28} {value * factor:>7.3f}  {summary(r)}", file=out)


def main(argv: list[str] | None = None) -> int:
    from consent import settings as settings_mod

    parser = argparse.ArgumentParser(prog="python -m scripts.eval_kit", description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    parser.add_argument("--sensitivity", action="store_true", help="also move each main threshold by 20%%")
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    settings = settings_mod.DEFAULTS
    try:
        samples, detector_name = load_samples(folder, settings)
    except (FileNotFoundError, OSError) as exc:
        print(f"eval-kit: {exc}", file=sys.stderr)
        return 2
    result = evaluate(samples, settings)
    print(f"kit fixtures: {folder} ({len(samples)} photos; faces from {detector_name}; no kit profile)\n")
    print_table(result)
    print("\n" + summary(result))
    print("targets: recall >= 0.85 at precision >= 0.75")
    if args.sensitivity:
        sensitivity(samples, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
