"""``consent strip`` beside exiftool on every metadata fixture: time, leaks, ICC, orientation.

Both tools run as separate processes over the same files, in alternating order, three rounds;
the best round of each is compared. exiftool runs once for all files:
``exiftool -q -q -o OUT/%d%f.%e -all= --icc_profile:all -CommonIFD0= -tagsfromfile @
-Orientation FILES...`` (delete everything, keep the ICC profile, restore Orientation).
Then exiftool reads both sets of outputs and counts the files where it still sees GPS, XMP,
IPTC, maker notes, a thumbnail or preview, or a comment; Pillow checks the ICC profile, the
displayed orientation and, for JPEG, that the picture decodes to the original's pixels.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
CATEGORIES = ("GPS", "XMP", "IPTC", "maker notes", "thumbnail", "comment")
THUMBNAIL_TAGS = {"ThumbnailImage", "ThumbnailOffset", "ThumbnailLength", "PreviewImage",
                  "PreviewImageStart", "PreviewImageLength", "JpgFromRaw", "OtherImage"}


def fixtures() -> Path:
    base = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    folder = base / "metadata"
    if not folder.is_dir():
        raise SystemExit(f"metadata fixtures not found at {folder} (set CONSENT_FIXTURES)")
    return folder


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run ``cmd``; returns (wall seconds, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def output_of(base: Path, rel: Path) -> Path | None:
    """The output written for ``rel`` under ``base`` (its ending may differ: HEIC -> jpg)."""
    found = sorted((base / rel.parent).glob(f"{rel.stem}.*"))
    return found[0] if found else None


def leak_categories(record: dict, path: Path) -> set[str]:
    """What exiftool (``-a -G0:1 -j``) still sees in one output file."""
    found = set()
    for key, value in record.items():
        parts = key.split(":")
        if len(parts) < 2:
            continue
        family0, tag = parts[0], parts[-1]
        family1 = parts[1] if len(parts) == 3 else family0
        if tag.startswith("GPS") or family1 == "GPS":
            found.add("GPS")
        if family0 == "XMP":
            found.add("XMP")
        if family0 == "IPTC":
            found.add("IPTC")
        if family0 == "MakerNotes":
            found.add("maker notes")
        if tag in THUMBNAIL_TAGS or family1.startswith(("MPImage", "MPF")):
            found.add("thumbnail")
        if tag in ("Comment", "UserComment", "XPComment") and str(value).strip():
            found.add("comment")
    if path.suffix.lower() in (".heic", ".heif"):  # exiftool lists no HEIF thumbnail tag
        from PIL import Image

        with Image.open(path) as img:
            if img.info.get("thumbnails"):
                found.add("thumbnail")
    return found


def upright_grey(img):
    import numpy as np
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img).convert("L")
    small = img.resize((80, 60) if img.width > img.height else (60, 80))
    arr = np.asarray(small, dtype=float)
    return arr - arr.mean()


def quality(files: list[Path], folder: Path, base: Path, records: dict) -> dict:
    """Leak counts, ICC kept, orientation right and identical JPEG pixels for one tool."""
    import numpy as np
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    counts = {c: 0 for c in CATEGORIES}
    result = {"written": 0, "leaky": 0, "icc": [0, 0], "upright": [0, 0], "pixels": [0, 0]}
    for rel in files:
        src, out = folder / rel, output_of(base, rel)
        if out is None:
            continue
        result["written"] += 1
        leaked = leak_categories(records.get(str(out), {}), out)
        result["leaky"] += bool(leaked)
        for category in leaked:
            counts[category] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(src) as a, Image.open(out) as b:
                icc = a.info.get("icc_profile")
                if icc:
                    result["icc"][1] += 1
                    result["icc"][0] += b.info.get("icc_profile") == icc
                rotated = rel.parent.name == "orientation" or a.format == "HEIF" and (
                    a.info.get("original_orientation") or 1) != 1
                if rotated:
                    ref = a if a.format == "HEIF" else Image.open(src.with_name(
                        src.name.split("_")[0] + "_1.jpg"))
                    result["upright"][1] += 1
                    result["upright"][0] += (
                        np.abs(upright_grey(b) - upright_grey(ref)).mean() < 10)
                if a.format in ("JPEG", "MPO"):
                    result["pixels"][1] += 1
                    result["pixels"][0] += b.format == "JPEG" and np.array_equal(
                        np.asarray(a), np.asarray(b))
    result["leaks"] = counts
    return result


def run() -> None:
    folder = fixtures()
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        raise SystemExit("exiftool is not installed (make system-tools)")
    consent = ROOT / ".venv" / "bin" / "consent"
    if not consent.exists():
        raise SystemExit(f"{consent} not found; run make install")
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    print(f"{len(files)} photos in {folder}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        times = {"consent": [], "exiftool": []}
        for round_ in range(ROUNDS):
            out_c, out_e = tmp / f"consent{round_}", tmp / f"exiftool{round_}"
            runs = {
                "consent": lambda: timed([str(consent), "strip", str(folder), "--out",
                                          str(out_c)]),
                "exiftool": lambda: timed([exiftool, "-q", "-q", "-o", f"{out_e}/%d%f.%e",
                                           "-all=", "--icc_profile:all", "-CommonIFD0=",
                                           "-tagsfromfile", "@", "-Orientation",
                                           *map(str, files)], cwd=folder),
            }
            order = ["consent", "exiftool"] if round_ % 2 == 0 else ["exiftool", "consent"]
            for name in order:
                times[name].append(runs[name]())
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {times[name][-1][0]:.2f} s" for name in order))
        best = {name: min(t[0] for t in runs_) for name, runs_ in times.items()}
        cpu = {name: min(t[1] for t in runs_) for name, runs_ in times.items()}
        print(f"time (best of {ROUNDS}): consent {best['consent']:.2f} s wall / "
              f"{cpu['consent']:.2f} s CPU, exiftool {best['exiftool']:.2f} s wall / "
              f"{cpu['exiftool']:.2f} s CPU")
        print(f"ratio consent/exiftool: {best['consent'] / best['exiftool']:.2f}x wall time, "
              f"{cpu['consent'] / cpu['exiftool']:.2f}x CPU time (below 1: consent is faster)")

        outputs = {"consent": tmp / "consent0" / folder.name, "exiftool": tmp / "exiftool0"}
        for name, base in outputs.items():
            written = [p for p in base.rglob("*") if p.is_file()]
            proc = subprocess.run([exiftool, "-a", "-G0:1", "-j", *map(str, written)],
                                  capture_output=True, text=True)
            records = {r["SourceFile"]: r for r in json.loads(proc.stdout or "[]")}
            q = quality(files, folder, base, records)
            leaks = ", ".join(f"{c} {n}" for c, n in q["leaks"].items())
            print(f"{name}: {q['written']}/{len(files)} written; files leaking: {q['leaky']} "
                  f"({leaks}); ICC kept {q['icc'][0]}/{q['icc'][1]}; orientation right "
                  f"{q['upright'][0]}/{q['upright'][1]}; JPEG pixels identical "
                  f"{q['pixels'][0]}/{q['pixels'][1]}")
