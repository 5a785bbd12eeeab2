"""What reading the text in the picture costs and finds, beside the rest of a check.

Photos: fixture photos enlarged to a 12-megapixel camera's 4000 px long side, each with a pupil's
name drawn on a badge, exercise book, whiteboard or printed shirt (tests/drawn_text.py) at a
letter size of 0.8%-3% of the long side, saved as JPEG in a temporary folder. Two sets: the kit
and group-photo fixtures (the settings were chosen on these) and the ``faces-wild`` photos with
other names, fonts and angles (never tuned on).

For each working size (640, 960, 1280; ``settings.text_side`` is the chosen one):

- the text reader as the check runs it (``consent.vision.text.read`` on the analysis image),
  best of REPEAT, and how many drawn names it read in full;
- the peer: rapidocr's own pipeline with its default settings on the same image.

Then whole checks of the first WHOLE_CHECKS photos of each set against a register with one enrolled person (so faces are
encoded and matched), without and with the text check, best of REPEAT, the cache off: the
share of a check the text reader takes, and whether a batch with it stays within 1.5 times its
time without it (the rule for ``text_check_batch``). ``python -m bench ocr`` runs it.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

from bench.timing import best_of, fixtures

REPEAT = 2
SIZES = (640, 960, 1280)
LETTER_SIZES = (0.008, 0.01, 0.012, 0.018, 0.03)
CAMERA_SIDE = 4000
BATCH_BUDGET = 1.5
#: photos of each set checked whole, with and without the text check
WHOLE_CHECKS = 8
DEV = (["Harry Patel", "Amelia Clarke", "Oliver Nowak", "Isla Murphy", "Jacob Evans"],
       ["sans-bold", "sans", "serif"])
HELD_OUT = (["Ruby Thompson", "Leo Kowalski", "Aisha Rahman", "Finley Doyle", "Chloe Bennett"],
            ["serif-italic", "serif", "sans"])


def make_photos(folder: Path, sources: list[Path], names: list[str], fonts: list[str], seed: int):
    """Camera-sized copies of ``sources`` with one drawn name each; [(path, name, letter size)]."""
    from tests.drawn_text import CARDS, draw

    rng = random.Random(seed)
    out = []
    for i, src in enumerate(sources):
        name = names[i % len(names)]
        size = LETTER_SIZES[i % len(LETTER_SIZES)]
        dst = folder / f"{seed}-{i:02d}.jpg"
        draw(src, dst, name, card=list(CARDS)[i % len(CARDS)], font=fonts[i % len(fonts)], size=size,
             angle=rng.choice([0, 5, -8, 12]), where=(rng.random(), rng.random()), long_side=CAMERA_SIDE)
        out.append((dst, name, size))
    return out


def read_names(photos, settings) -> tuple[float, int, dict]:
    """Total best-of time of the text reader, names read in full, and reads by letter size."""
    from consent import images
    from consent.rules.names import Text
    from consent.vision import faces, text

    total, found, by_size = 0.0, 0, {}
    for path, name, size in photos:
        photo = images.load(path, faces.analysis_side(settings), settings)
        dt, reading = best_of(lambda: text.read(photo.array(), photo.scale, settings), REPEAT)
        total += dt
        ok = Text(" ".join(line.text for line in reading.lines)).has(name)
        found += ok
        hit, n = by_size.get(size, (0, 0))
        by_size[size] = (hit + ok, n + 1)
    return total, found, by_size


def peer(photos, settings) -> float:
    """rapidocr with its own defaults on the same analysis images (best-of total)."""
    from rapidocr_onnxruntime import RapidOCR

    from consent import images
    from consent.vision import faces, text

    paths = text.model_paths()
    engine = RapidOCR(det_model_path=str(paths["det"]), cls_model_path=str(paths["cls"]),
                      rec_model_path=str(paths["rec"]))
    total = 0.0
    for path, _, _ in photos:
        bgr = images.load(path, faces.analysis_side(settings), settings).array()[:, :, ::-1].copy()
        dt, _ = best_of(lambda: engine(bgr), REPEAT)
        total += dt
    return total


def whole_checks(photos, db, settings) -> tuple[float, float]:
    """Best-of totals of whole checks without and with the text check (no cache)."""
    from consent.check import Checker

    off = Checker(db, settings, use_cache=False, text_check=False)
    on = Checker(db, settings, use_cache=False, text_check=True)
    on.check(photos[0][0], "website")  # models loaded outside the timings
    t_off = t_on = 0.0
    for path, _, _ in photos:
        t_off += best_of(lambda: off.check(path, "website"), REPEAT)[0]
        t_on += best_of(lambda: on.check(path, "website"), REPEAT)[0]
    return t_off, t_on


def enrolled_register(folder: Path) -> Path:
    from consent.images import file_hash
    from consent.register import Register
    from consent.vision import faces

    db = folder / "consent.db"
    with Register(db, user="bench") as reg:
        person = reg.add_person("B001", "Harry", "Patel")
        reg.record_consent(person, "biometric", "granted")
        reg.record_consent(person, "website", "granted")
        for photo in sorted((fixtures() / "people" / "train" / "obama").iterdir()):
            encoding, quality = faces.enrolment_encoding(photo)
            reg.add_template(person, encoding, file_hash(photo), quality)
    return db


def run() -> None:
    from consent.images import IMAGE_SUFFIXES
    from consent.settings import DEFAULTS
    from consent.vision import text
    from tests.drawn_text import missing_fonts

    base = fixtures()
    if not (base / "kit").is_dir() or not (base / "faces-wild").is_dir():
        raise SystemExit(f"fixtures not found at {base} (set CONSENT_FIXTURES)")
    if missing_fonts():
        raise SystemExit(f"fonts missing ({', '.join(missing_fonts())}): run 'make install'")

    def photos_in(folder, n):
        return sorted(p for p in (base / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]

    text.load()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        sets = [
            ("tuning set (kit + group fixtures)",
             make_photos(tmp, photos_in("kit", 10) + photos_in("faces", 5), *DEV, seed=1)),
            ("held-out set (faces-wild, other names and fonts)",
             make_photos(tmp, photos_in("faces-wild", 15), *HELD_OUT, seed=2)),
        ]
        print(f"drew {sum(len(p) for _, p in sets)} camera-sized photos in {time.perf_counter() - t:.0f}s")
        for label, photos in sets:
            n = len(photos)
            print(f"{label}: {n} photos, one drawn name each")
            t_peer = peer(photos, DEFAULTS)
            for side in SIZES:
                settings = dataclasses.replace(DEFAULTS, text_side=side)
                t_read, found, by_size = read_names(photos, settings)
                sizes = "  ".join(f"{s:.1%}: {h}/{k}" for s, (h, k) in sorted(by_size.items()))
                chosen = " (chosen)" if side == DEFAULTS.text_side else ""
                print(f"  text_side {side:>4}{chosen:9} {1000 * t_read / n:6.0f} ms/photo "
                      f"({t_read / t_peer:4.2f}x rapidocr defaults) | names read {found}/{n} | by letter size {sizes}")
            print(f"  rapidocr defaults        {1000 * t_peer / n:6.0f} ms/photo")
        photos = sets[0][1][:WHOLE_CHECKS] + sets[1][1][:WHOLE_CHECKS]
        db = enrolled_register(tmp)
        t_off, t_on = whole_checks(photos, db, DEFAULTS)
        n = len(photos)
        ratio = t_on / t_off
        print(f"whole check, {n} photos, text_side {DEFAULTS.text_side}: without text {1000 * t_off / n:.0f} ms/photo, "
              f"with text {1000 * t_on / n:.0f} ms/photo")
        print(f"  the text check is {(t_on - t_off) / t_on:.0%} of a whole check; a batch with it takes "
              f"{ratio:.2f}x its time without ({'within' if ratio <= BATCH_BUDGET else 'OVER'} the "
              f"{BATCH_BUDGET}x budget: text_check_batch {'on' if ratio <= BATCH_BUDGET else 'off'} by default)")
