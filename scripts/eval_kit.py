"""Precision and recall of the PE-kit check, on the kit fixtures and on photos it was not tuned on.

``python -m scripts.eval_kit [--folder FOLDER] [--no-unseen]`` (``make eval-kit``) finds faces
with the check pipeline's detector, measures every photo once (:func:`consent.vision.kit.measure`:
the scene model, skin, no school kit profile) and decides with the words a school would have
(:func:`consent.vision.kit.decide`; the context is the folder and file name). It prints:

1. every photo of ``FOLDER/labels.csv`` (default: the ``kit`` fixtures) with its label, verdict,
   sport score (the scene model's summed sport probability, the ``pe_kit`` signal), the
   threshold in force, the faces found and the signals, so a reader sees the margins;
2. precision and recall there with the settings in force;
3. leave-one-out: for each photo, ``kit_scene_threshold`` is chosen again on the other photos
   alone (the middle of the widest gap among the thresholds with the best F1) and that photo is
   judged with it; the pooled precision and recall show how much of (2) is fitted to the photos;
4. the same table and figures for the photos listed in ``scripts/kit_unseen_labels.csv``:
   fixtures from other folders (``faces-wild``, ``faces``, ``people``, ``metadata/cameras``),
   labelled for this evaluation and never used to choose a setting. ``nobody`` (no person in
   the photo) and ``everyday`` must not be flagged, ``sportswear`` and ``exposure`` must be;
   ``ambiguous`` is shown but not counted. Each is also judged with the caption "PE lesson",
   as a school's folder of that name would be: a photo with nobody in it must stay unflagged.
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
UNSEEN_LABELS = Path(__file__).resolve().parent / "kit_unseen_labels.csv"
POSITIVE = {"sportswear", "exposure"}
NEGATIVE = {"everyday", "nobody"}


def fixtures_root() -> Path:
    return Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")


def default_folder() -> Path:
    return fixtures_root() / "kit"


@dataclass
class Sample:
    """One labelled photo, measured once (faces found, picture measured)."""

    name: str
    label: str
    note: str
    faces: int
    measures: object  # consent.vision.kit.KitMeasures
    context: str


@dataclass
class Result:
    rows: list = field(default_factory=list)  # (sample, assessment)
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, sample: Sample, assessment) -> None:
        self.rows.append((sample, assessment))
        flagged = assessment.pe_kit or assessment.exposure or assessment.unknown
        if sample.label in POSITIVE:
            self.tp += flagged
            self.fn += not flagged
        elif sample.label in NEGATIVE:
            self.fp += flagged
            self.tn += not flagged

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def face_detector(settings):
    """The check pipeline's face detector, returning the boxes the pipeline gives the kit check
    (``faces.hog_like_box``, in analysis-image coordinates: the boxes the body regions were
    calibrated on; CenterFace's own boxes sit a little higher and wider)."""
    from consent.vision import faces as faces_mod

    def detect(photo):
        return [faces_mod.hog_like_box(f, photo.scale) for f in faces_mod.detect(photo, settings)]

    return detect


def read_labels(path: Path, base: Path) -> list[tuple[Path, str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(base / row["file"], row["label"].strip(), row.get("note", "")) for row in csv.DictReader(fh)]


def load_samples(labelled: list[tuple[Path, str, str]], settings) -> list[Sample]:
    """Decode every labelled photo as the pipeline does, find its faces and measure it, once."""
    from consent.images import load
    from consent.vision import faces as faces_mod
    from consent.vision.kit import measure

    detect = face_detector(settings)
    samples = []
    for path, label, note in labelled:
        photo = load(path, faces_mod.analysis_side(settings), settings)
        boxes = detect(photo)
        samples.append(Sample(
            name=f"{path.parent.name}/{path.name}", label=label, note=note, faces=len(boxes),
            measures=measure(photo.array(), boxes, profile=None, settings=settings),
            context=f"{path.parent.name} {path.stem}",
        ))
    return samples


def evaluate(samples: list[Sample], settings, context: str | None = None) -> Result:
    """Decide every sample with ``settings`` (and its own context, or ``context``) and count."""
    from consent.vision.kit import decide

    result = Result()
    for s in samples:
        result.add(s, decide(s.measures, s.context if context is None else context, settings))
    return result


def verdict(a) -> str:
    return "unknown" if a.unknown else "exposure" if a.exposure else "pe_kit" if a.pe_kit else "-"


def flagged_people(s: Sample, a) -> list[dict]:
    """The people of a sample flagged on their own body (sport or swimwear at the thresholds
    ``a`` was decided with)."""
    thr = a.details.get("person_threshold", float("inf"))
    return [r for r in s.measures.persons if (r.get("sport") or 0) >= thr]


def people_summary(result: Result) -> str:
    """Person-level figures: people found, and how many were flagged, in which photos."""
    found = sum(s.faces for s, _ in result.rows)
    flagged = [(s, flagged_people(s, a)) for s, a in result.rows]
    by_label = {}
    for s, people in flagged:
        n = by_label.setdefault(s.label, [0, 0, 0])
        n[0] += s.faces
        n[1] += len(people)
        n[2] += bool(people)
    parts = ", ".join(f"{label}: {n[1]} of {n[0]} people in {n[2]} photos" for label, n in sorted(by_label.items()))
    return f"people found {found}; flagged on their own body: {sum(len(p) for _, p in flagged)} ({parts})"


def print_table(result: Result, out=sys.stdout) -> None:
    print(f"{'photo':<44} {'label':<10} {'verdict':<8} {'ok':<3} {'sport':>6} {'thr':>5} {'faces':>5} {'pp':>3}  signals", file=out)
    for s, a in result.rows:
        flagged = a.pe_kit or a.exposure or a.unknown
        ok = "" if s.label not in POSITIVE | NEGATIVE else "yes" if flagged == (s.label in POSITIVE) else "NO"
        threshold = a.details.get("threshold", float("nan"))
        person = "" if s.faces or a.details.get("person_like") else " (no person)"
        print(
            f"{s.name[-44:]:<44} {s.label:<10} {verdict(a):<8} {ok:<3} {a.score:>6.3f} {threshold:>5.2f} "
            f"{s.faces:>5} {len(flagged_people(s, a)):>3}  {'; '.join(a.signals) or '-'}{person}",
            file=out,
        )


def summary(result: Result) -> str:
    return (
        f"precision {result.precision:.2f} ({result.tp}/{result.tp + result.fp})  "
        f"recall {result.recall:.2f} ({result.tp}/{result.tp + result.fn})  "
        f"false alarms {result.fp}/{result.fp + result.tn}"
    )


def scene_score(s: Sample) -> float | None:
    return s.measures.scene["sport"] if s.measures.scene else None


def person_score(s: Sample) -> float | None:
    """The highest sport score read on one person's body in the photo (None: nobody judged)."""
    return max((r.get("sport") or 0.0 for r in s.measures.persons), default=None)


def choose_threshold(samples: list[Sample], settings, name: str = "kit_scene_threshold", score=scene_score) -> float:
    """The threshold ``name`` with the best F1 on ``samples`` (the other settings as in
    ``settings``); among equals, the middle of the widest run of candidate thresholds (the
    largest margin either side). ``score`` gives the value the threshold is compared with."""
    scores = sorted({round(v, 4) for s in samples if (v := score(s)) is not None} | {0.0, 1.0})
    candidates = [(a + b) / 2 for a, b in zip(scores, scores[1:])]

    def f1(threshold):
        r = evaluate(samples, dataclasses.replace(settings, **{name: threshold}))
        return 2 * r.tp / (2 * r.tp + r.fp + r.fn) if r.tp else 0.0

    rated = [(round(f1(t), 6), t) for t in candidates]
    best = max(f for f, _ in rated)
    # consecutive candidates with the best F1 form runs; take the middle of the widest run
    runs, run = [], []
    for (f, t), edge in zip(rated, zip(scores, scores[1:])):
        if f == best:
            run.append(edge)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    widest = max(runs, key=lambda r: r[-1][1] - r[0][0])
    return (widest[0][0] + widest[-1][1]) / 2


def choose_both(samples: list[Sample], settings):
    """The scene threshold on its own (no one judged on their own body, as it was calibrated
    before people were), then the per-person threshold given it, each by
    :func:`choose_threshold` on ``samples``: the settings with both replaced. (Choosing the
    scene threshold with the per-person signal on leaves a wide plateau whose middle, about 0.5,
    is then a threshold fitted to the photos the people already catch.)"""
    scene = choose_threshold(samples, dataclasses.replace(settings, kit_person_sport_threshold=2.0))
    settings = dataclasses.replace(settings, kit_scene_threshold=scene)
    person = choose_threshold(samples, settings, "kit_person_sport_threshold", person_score)
    return dataclasses.replace(settings, kit_person_sport_threshold=person)


def leave_one_out(samples: list[Sample], settings) -> tuple[Result, list]:
    """Each sample judged with both thresholds chosen on all the others."""
    from consent.vision.kit import decide

    result, chosen = Result(), []
    for i, s in enumerate(samples):
        fitted = choose_both(samples[:i] + samples[i + 1:], settings)
        chosen.append(fitted)
        result.add(s, decide(s.measures, s.context, fitted))
    return result, chosen


def report_set(title: str, samples: list[Sample], settings) -> None:
    """Table, figures, person-level figures and the 'PE lesson' check for one set of photos."""
    result = evaluate(samples, settings)
    print(f"\n{title} ({len(samples)} photos):\n")
    print_table(result)
    print(f"\n{title}, settings in force: " + summary(result))
    print("  " + people_summary(result))
    pe = evaluate(samples, settings, context="PE lesson")
    nobody = [(s, a) for s, a in pe.rows if s.label == "nobody"]
    flagged = [s.name for s, a in nobody if a.pe_kit or a.exposure]
    print(f"the same, every photo captioned 'PE lesson': {summary(pe)}; photos with nobody "
          f"in them flagged: {len(flagged)} of {len(nobody)}{' (' + ', '.join(flagged) + ')' if flagged else ''}")


def main(argv: list[str] | None = None) -> int:
    from consent import settings as settings_mod

    parser = argparse.ArgumentParser(prog="python -m scripts.eval_kit", description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=None, help="a folder with labels.csv (default: the kit fixtures)")
    parser.add_argument("--no-unseen", action="store_true", help="skip the photos of scripts/kit_unseen_labels.csv")
    parser.add_argument("--no-dev", action="store_true", help="skip the development set (scripts/kit_devset.py)")
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    settings = settings_mod.DEFAULTS
    labels = folder / "labels.csv"
    if not labels.is_file():
        print(f"eval-kit: {labels}: not found; set CONSENT_FIXTURES to the shared fixtures", file=sys.stderr)
        return 2
    samples = load_samples(read_labels(labels, folder), settings)
    result = evaluate(samples, settings)
    print(f"kit fixtures: {folder} ({len(samples)} photos; faces from consent.vision.faces.detect; "
          f"no kit profile; kit_scene_threshold {settings.kit_scene_threshold})\n")
    print_table(result)
    print("\nsettings in force: " + summary(result))
    print("  " + people_summary(result))
    fitted = choose_both(samples, settings)
    print(f"thresholds the same procedure chooses on all {len(samples)} photos: scene "
          f"{fitted.kit_scene_threshold:.3f}, person {fitted.kit_person_sport_threshold:.3f} "
          f"(in force: {settings.kit_scene_threshold}, {settings.kit_person_sport_threshold})")
    loo, chosen = leave_one_out(samples, settings)
    scene_t = [c.kit_scene_threshold for c in chosen]
    person_t = [c.kit_person_sport_threshold for c in chosen]
    print(f"leave-one-out:     {summary(loo)}  (thresholds chosen without the photo: scene "
          f"{min(scene_t):.3f} to {max(scene_t):.3f}, person {min(person_t):.3f} to {max(person_t):.3f})")
    wrong = [s.name for s, a in loo.rows if s.label in POSITIVE | NEGATIVE
             and (a.pe_kit or a.exposure) != (s.label in POSITIVE)]
    print(f"  misjudged when left out: {', '.join(wrong) or 'none'}")

    if not args.no_dev:
        import tempfile

        from scripts.kit_devset import build

        with tempfile.TemporaryDirectory(prefix="devset-") as tmp:
            dev_labels = build(Path(tmp), fixtures_root())
            dev = load_samples(read_labels(dev_labels, Path(tmp)), settings)
        for s in dev:  # named by what they show (the files are numbered)
            s.name = "dev/" + s.note.split(":")[0]
        report_set("development set (scripts/kit_devset.py: the issue's hard cases, made from fixtures)", dev, settings)

    if not args.no_unseen:
        base = fixtures_root()
        unseen = load_samples(read_labels(UNSEEN_LABELS, base), settings)
        report_set(f"photos never used to choose a setting ({UNSEEN_LABELS.name})", unseen, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
