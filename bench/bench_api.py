"""``POST /api/check`` on a warm waitress server against the same check in-process.

A 12-megapixel JPEG (a /work/shared/fixtures/faces group photo enlarged to 4000x3000) is
checked ``N`` times through the HTTP API of a real ``python -m web`` server (models loaded
once per worker, so every timed request is warm) and ``N`` times through
``consent.check.Checker`` in this process. Each request sends a slightly different copy (one
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
    from consent.register import Register
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
        with LiveServer(tmp / "data", workers=0) as server:
            db = connect(tmp / "data" / "consent.db")
            token = accounts.create_api_token(db, accounts.find_user(db, "office").id, "bench")
            db.conn.close()
            first, data = _post(server.url, token, photos[0])  # loads the models in the server
            print(f"api: first request (loads models) {first:.2f}s, verdict {data['verdict']}, "
                  f"{len(data['faces'])} faces")
            api = [_post(server.url, token, p)[0] for p in photos[1:N + 1]]
        Register(tmp / "inproc.db").close()  # an empty register, as the server's
        checker = Checker(tmp / "inproc.db")
        checker.check(photos[N + 1], "website")  # warm: models and register loaded
        lib = []
        for p in photos[N + 2:2 * N + 2]:
            start = time.perf_counter()
            result = checker.check(p, "website")
            lib.append(time.perf_counter() - start)
        assert not result.error, result.error
    api_med, lib_med = statistics.median(api), statistics.median(lib)
    print(f"POST /api/check, warm server: median {api_med * 1000:.0f} ms over {len(api)} requests "
          f"(min {min(api) * 1000:.0f}, max {max(api) * 1000:.0f})")
    print(f"Checker.check in-process:     median {lib_med * 1000:.0f} ms over {len(lib)} checks "
          f"(min {min(lib) * 1000:.0f}, max {max(lib) * 1000:.0f})")
    print(f"ratio api / in-process: {api_med / lib_med:.2f}x "
          f"(HTTP + upload + web overhead {1000 * (api_med - lib_med):.0f} ms)")


if __name__ == "__main__":
    run()
