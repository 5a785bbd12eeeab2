"""Fuzzing the intake: a few hundred damaged copies of real photos (byte flips, truncations,
corrupted length fields; fixed seed, made here, never committed) through intake (the decode
every check starts with), the metadata scan and the safe copy.

Expected: every file is either handled or refused with a clear message, never a traceback;
none takes over 30 s; no original changes; exiftool finds nothing identifying in any copy.
"""

from __future__ import annotations

import json
import random
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from consent.images import file_hash

from tests.conftest import fixture_dir
from tests.test_metadata import EXIFTOOL, exiftool_records, leaks

SEED = 20261201
HANG_S = 30
MUTANTS_PER_SEED = 36

#: small real photos with plenty of metadata to damage
FIXTURES = ["cameras/Canon_40D.jpg", "cameras/Nikon_D70.jpg", "xmp/BlueSquare.jpg",
            "heic/samplefilehub.heif", "gps/DSCN0029.jpg", "malformed/32-lens_data.jpeg"]

#: where length fields sit: (pattern, offset of the field from the match, size, byte order)
LENGTH_FIELDS = [
    (re.compile(rb"\xff[\xc0-\xfe]", re.S), 2, 2, "big"),  # JPEG segment lengths
    (re.compile(rb"IHDR|IDAT|tEXt|zTXt|iTXt|eXIf|iCCP|IEND"), -4, 4, "big"),  # PNG chunks
    (re.compile(rb"VP8 |VP8L|VP8X|EXIF|XMP |ICCP|RIFF"), 4, 4, "little"),  # WebP chunks
    (re.compile(rb"ftyp|meta|iloc|iinf|iprp|ipco|mdat|Exif|infe|hdlr"), -4, 4, "big"),  # HEIF boxes
]


def _seeds(folder: Path) -> list[Path]:
    """The fixture photos, and PNG, WebP and TIFF versions carrying EXIF with GPS and XMP."""
    root = fixture_dir("metadata")
    seeds = [root / f for f in FIXTURES if (root / f).is_file()]
    with Image.open(root / "gps" / "DSCN0029.jpg") as img:
        exif = img.getexif()
        small = img.convert("RGB").resize((320, 240))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    for fmt, name, extra in (("PNG", "gps.png", {}), ("WEBP", "gps.webp", {"xmp": xmp}),
                             ("TIFF", "gps.tif", {})):
        path = folder / name
        small.save(path, fmt, exif=exif, **extra)
        seeds.append(path)
    return seeds


def _mutants(seed: Path, rng: random.Random, folder: Path) -> list[Path]:
    data = seed.read_bytes()
    fields = [(m.start() + offset, size, order) for pattern, offset, size, order in LENGTH_FIELDS
              for m in pattern.finditer(data) if 0 <= m.start() + offset <= len(data) - size]
    if data[:4] == b"II*\0":  # a TIFF: the values of its first directory's entries (sizes, offsets)
        ifd = int.from_bytes(data[4:8], "little")
        count = int.from_bytes(data[ifd:ifd + 2], "little")
        fields += [(ifd + 2 + 12 * i + 8, 4, "little") for i in range(count)]
    out = []
    for i in range(MUTANTS_PER_SEED):
        buf = bytearray(data)
        kind = ("flip", "cut", "length")[i % 3]
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            del buf[rng.randrange(1, len(buf)):]
        elif fields:
            pos, size, order = rng.choice(fields)
            old = int.from_bytes(buf[pos:pos + size], order)
            new = rng.choice([0, 1, 2, old + 1, old - 1 if old else 7, (1 << (8 * size)) - 1, rng.getrandbits(8 * size)])
            buf[pos:pos + size] = (new % (1 << (8 * size))).to_bytes(size, order)
        path = folder / f"{seed.stem}-{i:02d}-{kind}{seed.suffix}"
        path.write_bytes(bytes(buf))
        out.append(path)
    return out


def _run(corpus: list[Path], out: Path) -> tuple[list[dict], list[str]]:
    """Every file through the worker; returns (outcomes, files that hung)."""
    results, hung = [], []
    todo = list(enumerate(corpus))
    while todo:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz_worker"], cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        for index, path in todo:
            worker.stdin.write(f"{index}\t{path}\t{out}\n")
        worker.stdin.close()
        current = None
        while True:
            ready, _, _ = select.select([worker.stdout], [], [], HANG_S)
            if not ready:
                worker.kill()
                worker.wait()
                hung.append(str(corpus[current]) if current is not None else "worker start")
                done = {r["index"] for r in results}
                todo = [(i, p) for i, p in todo if i not in done and i != current]
                break
            line = worker.stdout.readline()
            if not line:
                worker.wait()
                todo = []
                break
            if line.startswith("START "):
                current = int(line.split()[1])
            elif line.startswith("{"):
                results.append(json.loads(line))
    return results, hung


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_damaged_photos_never_crash_hang_or_leak(tmp_path):
    started = time.monotonic()
    rng = random.Random(SEED)
    seeds = _seeds(tmp_path)
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    corpus = [m for seed in seeds for m in _mutants(seed, rng, corpus_dir)]
    assert len(corpus) >= 300
    originals = {p: file_hash(p) for p in corpus + seeds}
    out = tmp_path / "out"
    out.mkdir()

    results, hung = _run(corpus, out)

    assert hung == []
    assert len(results) == len(corpus)
    tracebacks = {str(corpus[r["index"]].name): r["tracebacks"] for r in results if r["tracebacks"]}
    assert tracebacks == {}
    assert {p: file_hash(p) for p in originals} == originals
    copies = [r["copy"] for r in results if r["copy"]]
    assert copies, "no damaged photo was still readable enough to copy"
    records = exiftool_records(copies)
    assert {path: leaks(rec) for path, rec in records.items() if leaks(rec)} == {}
    refused = sum(1 for r in results if r["refused"])
    print(f"\nfuzz: {len(corpus)} files, {len(copies)} safe copies, {refused} refused somewhere, "
          f"0 tracebacks, 0 hangs, {time.monotonic() - started:.0f} s")
