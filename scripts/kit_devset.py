"""The kit check's development set: the hard cases of issue 30, made from fixture photos.

``python -m scripts.kit_devset OUT`` writes the photos and ``OUT/labels.csv`` (``make eval-kit``
builds them in a temporary folder and judges them after the kit fixtures). Nothing is committed
but this recipe: every photo is cut, scaled or pasted from ``$CONSENT_FIXTURES/kit``,
``people/train`` and ``metadata/gps`` (none of them in ``kit_unseen_labels.csv``), and labelled
here, by the same rules as the unseen list (``sportswear``/``exposure`` must be flagged,
``everyday``/``nobody`` must not; ``nobody`` photos are also judged captioned "PE lesson").

The cases, after the misses and false alarms the issue names:

- a small figure in a wide field: a player scaled to a fifth and pasted on a big field made
  from the grass (or court, or night) around them; a crop of the players alone;
- close-ups of people in everyday clothes: the enrolment portraits, a man in a plain T-shirt
  moved onto an orange wall, seated cadets, seated women, a man on the phone;
- nobody: the empty fields the small figures were pasted on, and two park photos.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np

#: (name, label, note, recipe): the recipe names a function below and its arguments
CASES = [
    ("small_catcher_field.jpg", "sportswear", "child catching a ball, a fifth of the size, in a wide field",
     ("paste", "kit/COCO_val2014_000000000474.jpg", (0, 0, 90, 90), 0.2, (1600, 1000), (0.62, 0.55))),
    ("small_tennis_court.jpg", "sportswear", "tennis player small on a wide court",
     ("paste", "kit/COCO_val2014_000000000415.jpg", (220, 420, 350, 500), 0.3, (1400, 900), (0.3, 0.45))),
    ("small_thrower_night.jpg", "sportswear", "man in shorts throwing, small in a dark field",
     ("paste", "kit/COCO_val2014_000000000589.jpg", (0, 0, 120, 100), 0.35, (1500, 1000), (0.7, 0.6))),
    ("batter_and_catcher.jpg", "sportswear", "baseball players without the stadium crowd",
     ("crop", "kit/COCO_val2014_000000000544.jpg", (0.0, 0.6, 1.0, 1.0))),
    ("two_ballplayers.jpg", "sportswear", "two baseball players in kit, cropped close",
     ("crop", "kit/COCO_val2014_000000000192.jpg", (0.4, 0.25, 0.8, 1.0))),
    ("catcher_left.jpg", "sportswear", "baseball catcher and umpire, left half",
     ("crop", "kit/COCO_val2014_000000000488.jpg", (0.0, 0.2, 0.5, 1.0))),
    ("tshirt_orange_wall.jpg", "everyday", "man in a plain T-shirt against an orange wall",
     ("border", "kit/COCO_val2014_000000000294.jpg", (0.0, 0.0, 0.55, 1.0), (226, 118, 42))),
    ("seated_cadets.jpg", "everyday", "seated cadets in uniform, cropped close",
     ("crop", "kit/COCO_val2014_000000000328.jpg", (0.3, 0.0, 1.0, 1.0))),
    ("seated_woman.jpg", "everyday", "woman seated in a dress",
     ("crop", "kit/COCO_val2014_000000000536.jpg", (0.55, 0.2, 1.0, 1.0))),
    ("man_on_phone.jpg", "everyday", "man in a jacket on the phone, close",
     ("crop", "kit/COCO_val2014_000000000395.jpg", (0.2, 0.1, 0.95, 1.0))),
    ("portrait_alex.jpg", "everyday", "portrait", ("copy", "people/train/alex_lacamoire/img1.jpg")),
    ("portrait_biden.jpg", "everyday", "portrait", ("copy", "people/train/biden/biden.jpg")),
    ("portrait_biden2.jpg", "everyday", "portrait", ("copy", "people/train/biden/biden2.jpg")),
    ("portrait_john1.jpg", "everyday", "portrait", ("copy", "people/train/kit_harington/john1.jpeg")),
    ("portrait_john2.jpg", "everyday", "portrait", ("copy", "people/train/kit_harington/john2.jpeg")),
    ("portrait_obama.jpg", "everyday", "portrait", ("copy", "people/train/obama/obama.jpg")),
    ("portrait_obama2.jpg", "everyday", "portrait", ("copy", "people/train/obama/obama2.jpg")),
    ("portrait_rose1.jpg", "everyday", "portrait, bare shoulders", ("copy", "people/train/rose_leslie/img1.jpg")),
    ("portrait_rose2.jpg", "everyday", "portrait", ("copy", "people/train/rose_leslie/img2.jpg")),
    ("empty_field.jpg", "nobody", "the field the catcher was pasted on, empty",
     ("paste", "kit/COCO_val2014_000000000474.jpg", (0, 0, 90, 90), 0.0, (1600, 1000), (0.5, 0.5))),
    ("empty_court.jpg", "nobody", "the court the tennis player was pasted on, empty",
     ("paste", "kit/COCO_val2014_000000000415.jpg", (220, 420, 350, 500), 0.0, (1400, 900), (0.5, 0.5))),
    ("park_path.jpg", "nobody", "park path, no one", ("copy", "metadata/gps/DSCN0012.jpg")),
    ("park_tree.jpg", "nobody", "park with a bench, no one", ("copy", "metadata/gps/DSCN0021.jpg")),
]


def _open(base: Path, rel: str):
    from PIL import Image, ImageOps

    return ImageOps.exif_transpose(Image.open(base / rel)).convert("RGB")


def _crop(im, box):
    w, h = im.size
    return im.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def make(base: Path, recipe):
    """One development photo (a PIL image) from its recipe."""
    from PIL import Image, ImageFilter

    kind, rel, *args = recipe
    im = _open(base, rel)
    if kind == "copy":
        return im
    if kind == "crop":
        return _crop(im, args[0])
    if kind == "border":  # the person's part of the photo, on a wide plain wall of one colour
        part = _crop(im, args[0])
        canvas = Image.new("RGB", (part.width * 3, round(part.height * 1.4)), args[1])
        canvas.paste(part, (part.width, canvas.height - part.height))
        return canvas
    if kind == "paste":  # a field from a patch of the photo's ground, the photo small on it
        patch_box, share, size, where = args
        patch = im.crop(patch_box)
        field = patch.resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(3))
        noise = np.random.default_rng(30).normal(0, 6, (size[1], size[0], 3))
        field = Image.fromarray(np.clip(np.asarray(field, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
        if share > 0:
            # the photo, its width ``share`` of the field's
            small = im.resize((round(size[0] * share), round(size[0] * share * im.height / im.width)))
            x = round(where[0] * size[0] - small.width / 2)
            y = round(where[1] * size[1] - small.height / 2)
            field.paste(small, (x, y))
        return field
    raise ValueError(f"unknown recipe {kind!r}")


def build(out: Path, base: Path) -> Path:
    """Write every case into ``out`` and its ``labels.csv``; returns the labels file."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "note"])
        for i, (name, label, note, recipe) in enumerate(CASES, 1):
            # numbered, not named: the kit check reads file names ("tennis" is a sport word)
            make(base, recipe).save(out / f"dev{i:02d}.jpg", quality=92)
            writer.writerow([f"dev{i:02d}.jpg", label, f"{name[:-4]}: {note}"])
    return out / "labels.csv"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m scripts.kit_devset OUT", file=sys.stderr)
        return 2
    base = Path(os.environ.get("CONSENT_FIXTURES") or Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures")
    if not (base / "kit").is_dir():
        print(f"kit_devset: {base / 'kit'}: not found; set CONSENT_FIXTURES", file=sys.stderr)
        return 2
    print(build(Path(argv[0]), base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
