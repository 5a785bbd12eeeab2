"""``POST /api/check`` on a warm waitress server against the same check in-process.

A 12-megapixel JPEG (a /work/shared/fixtures/faces group photo enlarged to 4000x3000) is
checked ``N`` times through the HTTP API of a real ``python -m web`` server (models loaded
once per worker, so every timed request is warm) and ``N`` times through
``consent.check.Checker`` in this process, both with a register of :data:`PUPILS` enrolled pupils
(the people of ``people/train`` from their photos, the rest with three synthetic templates each),
every one with consent for the website and for biometrics, so every face is encoded and matched. Each request sends a slightly different copy (one
changed pixel), so neither side is answered from the analysis cache. Prints both medians and
their ratio: the ratio is the cost of HTTP, upload and the web app's own work.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
N = 10
SIZE = (4000, 3000)
#: enrolled pupils in the register both sides check against
PUPILS = 300


def enrol(db: Path, fixtures: Path, pupils: int = PUPILS) -> int:
    """``pupils`` enrolled pupils with consent for the website in the register at ``db``."""
    import numpy as np

    from consent.images import file_hash
    from consent.register import Register
    from consent.vision import faces

    rng = np.random.default_rng(7)
    real = sorted((fixtures / "people" / "train").iterdir())
    with Register(db, user="bench") as reg:
        for i in range(pupils):
            person = reg.add_person(f"P{i:04}", f"Pupil{i}", "Bench")
            reg.record_consent(person, "biometric", "granted")
            reg.record_consent(person, "website", "granted")
            if i < len(real):
                for photo in sorted(real[i].iterdir()):
                    encoding, quality = faces.enrolment_encoding(photo)
                    reg.add_template(person, encoding, file_hash(photo), quality)
            else:
                for k in range(3):
                    v = rng.normal(size=128)
                    reg.add_template(person, v / np.linalg.norm(v), f"{i:060}{k:04}", 0.9)
    return pupils


def _variants(src: Path, out: Path, n: int) -> list[Path]:
    from PIL import Image

    big = Image.open(src).convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
    paths = []
    for i in range(n):
        big.putpixel((i, 0), (i * 7 % 256, 0, 0))
        path = out / f"group-12mp-{i}.jpg"
        big.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def _post(url: str, token: str, path: Path) -> tuple[float, dict]:
    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"channel\"\r\n\r\nwebsite\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n".encode(),
        path.read_bytes(), f"\r\n--{boundary}--\r\n".encode(),
    ])
    request = urllib.request.Request(url + "/api/check", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        data = json.loads(response.read())
    return time.perf_counter() - start, data


def run() -> None:
    sys.path.insert(0, str(ROOT))
    from consent.check import Checker
    from tests.web_helpers import LiveServer
    from web.accounts import accounts
    from web.core.db import connect

    faces = FIXTURES / "faces"
    if not faces.is_dir():
        raise SystemExit(f"shared fixtures not found at {FIXTURES} (set CONSENT_FIXTURES)")
    src = sorted(faces.glob("*.jpg"))[0]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp = Path(tmp)
        photos = _variants(src, tmp, 2 * N + 2)
        print(f"photo: {src.name} enlarged to {SIZE[0]}x{SIZE[1]} ({photos[0].stat().st_size / 1e6:.1f} MB JPEG)")
        (tmp / "data").mkdir()
        enrol(tmp / "data" / "consent.db", FIXTURES)
        print(f"register: {PUPILS} enrolled pupils with consent for the website")
        with LiveServer(tmp / "data", workers=0) as server:
            db = connect(tmp / "data" / "consent.db")
            token = accounts.create_api_token(db, accounts.find_user(db, "office").id, "bench")
            db.conn.close()
            first, data = _post(server.url, token, photos[0])  # loads the models in the server
            print(f"api: first request (loads models) {first:.2f}s, verdict {data['verdict']}, "
                  f"{len(data['faces'])} faces")
            api = [_post(server.url, token, p)[0] for p in photos[1:N + 1]]
        enrol(tmp / "inproc.db", FIXTURES)  # the same register as the server's
        checker = Checker(tmp / "inproc.db")
        checker.check(photos[N + 1], "website")  # warm: models and register loaded
        lib, stages = [], {}
        for p in photos[N + 2:2 * N + 2]:
            start = time.perf_counter()
            result = checker.check(p, "website")
            lib.append(time.perf_counter() - start)
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
        assert not result.error, result.error
    api_med, lib_med = statistics.median(api), statistics.median(lib)
    print(f"POST /api/check, warm server: median {api_med * 1000:.0f} ms over {len(api)} requests "
          f"(min {min(api) * 1000:.0f}, max {max(api) * 1000:.0f})")
    print(f"Checker.check in-process:     median {lib_med * 1000:.0f} ms over {len(lib)} checks "
          f"(min {min(lib) * 1000:.0f}, max {max(lib) * 1000:.0f})")
    print(f"ratio api / in-process: {api_med / lib_med:.2f}x "
          f"(HTTP + upload + web overhead {1000 * (api_med - lib_med):.0f} ms)")
    medians = {stage: statistics.median(v) for stage, v in stages.items()}
    print("where an in-process check's time went (medians, ms): "
          + ", ".join(f"{k} {1000 * v:.0f}" for k, v in sorted(medians.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    run()
