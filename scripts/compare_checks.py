"""Every fixture photo checked through the library, written as one JSON: compare two runs.

The check's behaviour must not change when its code is rearranged. This script checks every
photo of the shared fixtures (``$CONSENT_FIXTURES``: faces/, faces-wild/, kit/, people/ and
metadata/: GPS, orientation, cameras, XMP, HEIC and the invalid and malformed files) as
``consent check --json`` would (``consent.batch.check_photo``, the one function behind every
check), each with a publication-safe copy:

1. ``empty``: without a register (every face unknown);
2. ``enrolled``: against a small register, the five people of people/train enrolled with every
   consent granted, analyses cached in it; then the people/test photos again (``again``: the
   cached analysis judged, as a re-run does) and with their unconsented faces blurred
   (``blurred``: one person's website consent withdrawn first);
3. ``bad``: files made here that must be refused, each with its own message (missing, empty,
   a folder, not a photo, a GIF, a JPEG and a PNG cut short).

Each result is the photo's JSON (``PhotoCheck.to_json``, with names) without its timings, with
the temporary folder written as ``<tmp>``, plus the SHA-256 of every copy written, so a copy
that changes by one byte is a difference too.

    python scripts/compare_checks.py --out build/checks.json
    python scripts/compare_checks.py --compare before.json     # exit 1 on any difference

(``make compare-checks``). About 10 minutes on two cores; the settings are the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: import the consent of this checkout
    sys.path.insert(0, str(ROOT))

PEOPLE = {  # enrolment folder -> (MIS id, forename, surname), as tests/test_check.py
    "obama": ("P001", "Barack", "Obama"),
    "biden": ("P002", "Joe", "Biden"),
    "kit_harington": ("P003", "Kit", "Harington"),
    "rose_leslie": ("P004", "Rose", "Leslie"),
    "alex_lacamoire": ("P005", "Alex", "Lacamoire"),
}
PUBLICATION = ("website", "social_media", "newsletter", "press")
#: the fixture folders whose photos are checked (people/train is the register's enrolment)
FOLDERS = ("faces", "faces-wild", "kit", "people/test", "metadata")
#: files in those folders that are not photos (annotations, labels, READMEs)
NOT_PHOTOS = {".xml", ".json", ".csv", ".md"}


def fixtures() -> Path:
    path = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    if not path.is_dir():
        sys.exit(f"fixtures not found at {path}: set CONSENT_FIXTURES")
    return path


def photos(root: Path) -> list[Path]:
    """Every file of :data:`FOLDERS` but annotations, in a stable order."""
    found = []
    for folder in FOLDERS:
        found += [p for p in sorted((root / folder).rglob("*"))
                  if p.is_file() and p.suffix.lower() not in NOT_PHOTOS]
    return found


def enrol(db: Path, root: Path) -> None:
    """The small register: the people of people/train, every consent granted."""
    from consent.images import file_hash
    from consent.register import Register
    from consent.vision import faces

    with Register(db, user="compare") as reg:
        for folder, (mis, first, last) in PEOPLE.items():
            person = reg.add_person(mis, first, last, year_group="6", form="6A")
            reg.record_consent(person, "biometric", "granted")
            for channel in PUBLICATION:
                reg.record_consent(person, channel, "granted")
            for photo in sorted((root / "people" / "train" / folder).iterdir()):
                encoding, quality = faces.enrolment_encoding(photo)
                reg.add_template(person, encoding, file_hash(photo), quality)


def bad_files(root: Path, folder: Path) -> list[Path]:
    """Files a check must refuse, each for its own reason (``missing.jpg`` is not made)."""
    from PIL import Image

    folder.mkdir()
    jpeg = (root / "people" / "test" / "obama1.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_bytes(b"not a photo, a note about one\n")
    (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "anim.gif")
    Image.new("RGB", (400, 300), (10, 200, 10)).save(folder / "whole.png")
    png = (folder / "whole.png").read_bytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    (folder / "a folder.jpg").mkdir()
    return [folder / n for n in ("missing.jpg", "empty.jpg", "notes.jpg", "cut.jpg", "anim.gif",
                                 "whole.png", "cut.png", "a folder.jpg")]


def record(result, root: Path, tmp: Path) -> dict:
    """One result as compared: its JSON without timings, temporary paths neutral (``tmp``: the
    temporary folder), and the
    SHA-256 of the copy it wrote."""
    data = result.to_json(names=True)
    data = json.loads(json.dumps(data).replace(str(tmp), "<tmp>").replace(str(root), "<fixtures>"))
    _drop_timings(data)
    if result.safe_copy and Path(result.safe_copy).is_file():
        data["safe_copy_sha256"] = hashlib.sha256(Path(result.safe_copy).read_bytes()).hexdigest()
    return data


def _drop_timings(value) -> None:
    if isinstance(value, dict):
        value.pop("timings", None)
        for v in value.values():
            _drop_timings(v)
    elif isinstance(value, list):
        for v in value:
            _drop_timings(v)


def run(root: Path, progress=print) -> dict:
    from consent.batch import BatchOptions, Job, check_photo
    from consent.check import Checker
    from consent.register import Register

    files = photos(root)
    out: dict[str, dict] = {"empty": {}, "enrolled": {}, "again": {}, "blurred": {}, "bad": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compare-checks-") as tmp:
        tmp = Path(tmp)
        safe = tmp / "safe"

        def check(checker, run_name, path, **options):
            rel = path.relative_to(tmp if run_name == "bad" else root).as_posix()
            job = Job(str(path), rel)
            result = check_photo(checker, job, BatchOptions(safe_dir=str(safe / run_name), **options))
            out[run_name][rel] = record(result, root, tmp)
            progress(f"{time.perf_counter() - started:6.0f}s {run_name:9} {rel}: {result.verdict}")

        checker = Checker(None, use_register=False, use_cache=False)
        for path in files:
            check(checker, "empty", path)
        for path in bad_files(root, tmp / "bad"):
            check(checker, "bad", path)

        db = tmp / "consent.db"
        enrol(db, root)
        checker = Checker(db)
        for path in files:
            check(checker, "enrolled", path)
        tests = [p for p in files if p.parent == root / "people" / "test"]
        for path in tests:
            check(checker, "again", path)
        with Register(db, user="compare") as reg:
            reg.record_consent("P002", "website", "withdrawn")
        for path in tests:
            check(checker, "blurred", path, channels=["website"], blur_unconsented=True)
    return {"fixtures": str(root), "photos": len(files), "runs": out}


def differences(before: dict, after: dict) -> list[str]:
    """Every photo whose result differs, with the first keys that differ."""
    found = []
    for name in sorted(set(before["runs"]) | set(after["runs"])):
        a, b = before["runs"].get(name, {}), after["runs"].get(name, {})
        for rel in sorted(set(a) | set(b)):
            if rel not in a or rel not in b:
                found.append(f"{name} {rel}: only in the {'after' if rel in b else 'before'} run")
            elif a[rel] != b[rel]:
                keys = sorted(k for k in set(a[rel]) | set(b[rel]) if a[rel].get(k) != b[rel].get(k))
                detail = "; ".join(f"{k}: {a[rel].get(k)!r} -> {b[rel].get(k)!r}"[:300] for k in keys)
                found.append(f"{name} {rel}: {detail}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build/compare-checks.json", help="where to write this run's JSON")
    parser.add_argument("--compare", metavar="BEFORE", help="a JSON of an earlier run to compare with")
    parser.add_argument("--quiet", action="store_true", help="no line per photo")
    args = parser.parse_args(argv)
    result = run(fixtures(), progress=(lambda line: None) if args.quiet else print)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    total = sum(len(r) for r in result["runs"].values())
    print(f"wrote {out}: {total} checks of {result['photos']} photos")
    if not args.compare:
        return 0
    found = differences(json.loads(Path(args.compare).read_text()), result)
    for line in found:
        print(line)
    print(f"{len(found)} difference(s) from {args.compare}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
