"""Memory: a budget every format respects (issue 27).

Each hostile file (a few KB that decode to gigabytes), made here, is checked with a safe copy in
a fresh Python process warmed up first by checking a real photo (the models loaded, the
detector's buffers made), as the web server's check thread and the batch workers do; the rise
of the process's peak memory (``VmHWM`` in ``/proc/self/status``) over that one check is the
figure. Every file must raise it by less than 600 MB, refused or checked; a legitimate
48-megapixel photo is still checked and its faces found.

``python -m tests.test_memory_budget [folder]`` prints the table for every file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, fixture_dir

#: the most one check may raise a warm process's peak memory (issue 27's goal)
GOAL_MB = 600

#: a fresh process: warm up on ``warm`` (models loaded), then one check of ``path`` with a safe
#: copy, by ``Checker.check`` ("check": the web app's check thread, the CLI) or by
#: ``consent.batch.check_photo`` in a batch worker's checker ("batch"); prints the peak's rise
CHILD = r"""
import json, sys, tempfile
from pathlib import Path

def peak_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

mode, path, warm = sys.argv[1:4]
from consent import batch
from consent.settings import Settings

out = Path(tempfile.mkdtemp())
batch._init_worker(None, Settings(), False, True, False)
checker = batch._checker
checker.check(warm, safe_dir=out / "warm")
before = peak_kb()
if mode == "batch":
    result = batch.check_photo(checker, batch.Job(path, Path(path).name),
                               batch.BatchOptions(safe_dir=str(out / "batch")))
else:
    result = checker.check(path, safe_dir=out / "check")
after = peak_kb()
print(json.dumps({"rise_mb": (after - before) / 1024, "before_mb": before / 1024,
                  "error": result.error, "error_code": result.error_code,
                  "faces": len(result.faces), "safe_copy": bool(result.safe_copy)}))
"""


def peak_rise(path: Path, mode: str = "check") -> dict:
    """What one check of ``path`` (``mode``: "check" or "batch") does to a warm process's peak."""
    warm = fixture_dir("faces") / "bald_guys.jpg"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(warm)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the hostile files of issue 27, and a few more formats -------------------------------------
def _solid(mode: str, size: tuple[int, int], colour):
    from PIL import Image

    return Image.new(mode, size, colour)


def lossless_webp(path: Path) -> Path:
    _solid("RGB", (9900, 9900), (90, 140, 200)).save(path, "WEBP", lossless=True, method=0)
    return path


def rgba_webp(path: Path) -> Path:
    _solid("RGBA", (7000, 7000), (90, 140, 200, 128)).save(path, "WEBP", lossless=True, method=0)
    return path


def lossy_webp(path: Path) -> Path:
    _solid("RGB", (9900, 9900), (90, 140, 200)).save(path, "WEBP", quality=50, method=0)
    return path


def palette_png(path: Path) -> Path:
    img = _solid("P", (8900, 8900), 1)
    img.putpalette([0, 0, 0, 90, 140, 200] + [0] * 762)
    img.save(path, "PNG", transparency=0)
    return path


def rgb_png(path: Path) -> Path:
    _solid("RGB", (9950, 9950), (90, 140, 200)).save(path, "PNG")
    return path


def png_16bit(path: Path) -> Path:
    _solid("I;16", (6600, 6600), 40000).save(path, "PNG")
    return path


def big_tiff(path: Path) -> Path:
    _solid("RGB", (9900, 9900), (90, 140, 200)).save(path, "TIFF", compression="tiff_deflate")
    return path


def progressive_jpeg(path: Path) -> Path:
    _solid("RGB", (9950, 9950), (90, 140, 200)).save(path, "JPEG", quality=90, progressive=True,
                                                      subsampling=0)
    return path


def heic(path: Path) -> Path:
    from consent.images import _register_heif

    _register_heif()
    _solid("RGB", (9900, 9900), (90, 140, 200)).save(path, "HEIF", quality=50)
    return path


def photo_48mp(path: Path) -> Path:
    """An 8000 x 6000 JPEG (48 megapixels, as a phone's main camera takes) with a real photo of
    people in it: faces/bald_guys.jpg at three times its size."""
    from PIL import Image

    canvas = _solid("RGB", (8000, 6000), (120, 130, 110))
    with Image.open(fixture_dir("faces") / "bald_guys.jpg") as group:
        big = group.convert("RGB").resize((group.width * 3, group.height * 3), Image.Resampling.BILINEAR)
    canvas.paste(big, ((8000 - big.width) // 2, (6000 - big.height) // 2))
    del big
    canvas.save(path, "JPEG", quality=90)
    return path


HOSTILE = {
    "lossless WebP 9900x9900": ("lossless.webp", lossless_webp),
    "WebP RGBA 7000x7000": ("rgba.webp", rgba_webp),
    "lossy WebP 9900x9900": ("lossy.webp", lossy_webp),
    "palette PNG + transparency 79 MP": ("palette.png", palette_png),
    "RGB PNG 99 MP": ("rgb.png", rgb_png),
    "16-bit PNG 44 MP": ("grey16.png", png_16bit),
    "TIFF 98 MP": ("big.tif", big_tiff),
    "progressive JPEG 99 MP": ("progressive.jpg", progressive_jpeg),
    "HEIC 98 MP": ("big.heic", heic),
}


def make(folder: Path, label: str) -> Path:
    name, maker = HOSTILE[label]
    path = folder / name
    if not path.exists():
        try:
            maker(path)
        except (ImportError, OSError, KeyError) as exc:  # a codec this Pillow lacks
            pytest.skip(f"cannot write {label} here ({exc})")
    return path


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/consent-memory")
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(label, make(folder, label)) for label in HOSTILE]
    rows.append(("48 MP JPEG with faces", folder / "48mp.jpg"))
    if not rows[-1][1].exists():
        photo_48mp(rows[-1][1])
    modes = sys.argv[2:] or ["check"]
    for label, path in rows:
        for mode in modes:
            got = peak_rise(path, mode)
            print(f"| {label} | {path.stat().st_size / 1024:,.1f} KB | {mode} | {got['rise_mb']:+,.0f} MB | "
                  f"{got['error_code'] or 'checked'} | faces {got['faces']} |", flush=True)
