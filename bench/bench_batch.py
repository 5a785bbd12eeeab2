"""Batch jobs through the web app's queue, beside ``consent check -w 2`` on the same folder.

Builds (once, under build/bench/batch/) a folder of BENCH_BATCH_PHOTOS (default 100) distinct
3-megapixel JPEGs from the shared fixtures' photos (faces, faces-wild, kit; each copy cropped
differently, so no two files are the same and no cached analysis is reused). Then, side by side
in one run, ``BENCH_BATCH_ROUNDS`` (default 2) pairs, alternating, each on a fresh data
folder (fresh register, empty analysis cache):

- peer: ``consent check FOLDER -w 2 --safe-dir OUT`` (process pool, safe copies written);
- queue: ``python -m web --workers 2`` (the server and its ``consent worker`` processes on the
  SQLite queue), the folder made a batch job by the web app's own code
  (``batch_jobs.Upload``/``create``, ``batch_queue.enqueue``), timed until every photo's result
  is stored (safe copy, preview, record; originals deleted).

Both times include loading the face models in each worker process; the queue's time starts
with the server already up (as a school's server is), the peer's with its own start (about a
second of imports). Reports photos/s of each and the queue's overhead against the peer (the
median of the pairs' time ratios).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "build" / "bench" / "batch"
N_PHOTOS = int(os.environ.get("BENCH_BATCH_PHOTOS", "100"))
ROUNDS = int(os.environ.get("BENCH_BATCH_ROUNDS", "2"))
PIXELS = 3_000_000


def build_photos() -> Path:
    """The bench folder (reused between runs)."""
    from PIL import Image

    from bench.timing import fixtures

    folder = OUT / f"photos-{N_PHOTOS}"
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == N_PHOTOS:
        return folder
    fx = fixtures()
    sources = sorted(p for sub in ("faces", "faces-wild", "kit") for p in (fx / sub).rglob("*")
                     if p.suffix.lower() in (".jpg", ".jpeg"))
    if not sources:
        raise SystemExit(f"no fixture photos at {fx} (set CONSENT_FIXTURES)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(15)
    for i in range(N_PHOTOS):
        img = Image.open(sources[i % len(sources)]).convert("RGB")
        dx, dy = rng.randint(0, 8), rng.randint(0, 8)  # a different crop each copy
        img = img.crop((dx, dy, img.width, img.height))
        f = (PIXELS / (img.width * img.height)) ** 0.5
        img = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
        img.save(folder / f"event_{i:03}.jpg", "JPEG", quality=90)
    return folder


def fresh_data() -> Path:
    data = Path(tempfile.mkdtemp(prefix="consent-bench-batch-")) / "data"
    env = {**os.environ, "CONSENT_DATA": str(data)}
    env.pop("CONSENT_DB", None)
    subprocess.run([str(BIN / "consent"), "register", "init"], env=env, check=True, capture_output=True)
    return data


def run_peer(folder: Path) -> float:
    data = fresh_data()
    env = {**os.environ, "CONSENT_DATA": str(data)}
    env.pop("CONSENT_DB", None)
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "consent"), "check", str(folder), "-w", "2", "-q",
                           "--safe-dir", str(data / "safe")], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 3, 4):
        raise RuntimeError(f"consent check failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-1500:]}")
    shutil.rmtree(data.parent, ignore_errors=True)
    return elapsed


def run_queue(folder: Path, workers: int = 2, redis_url: str = "", remote_workers: int = 0) -> float:
    """Seconds for the folder as one job through ``python -m web --workers N``: the SQLite queue,
    or with ``redis_url`` the Redis queue, plus ``remote_workers`` processes of
    ``consent worker --remote`` started in a folder of their own."""
    from werkzeug.datastructures import FileStorage

    from consent.settings import load
    from consent.jobs import batch_jobs, batch_queue
    from web.accounts import accounts
    from web.check import checked_photos
    from web.core.db import connect

    os.environ.pop("CONSENT_QUEUE", None)  # the default queue: SQLite in the data folder
    if redis_url:
        os.environ["CONSENT_QUEUE"] = redis_url
    data = fresh_data()
    db = connect(data / "consent.db")
    user = accounts.create_user(db, "bench", "bench velvet otter parade", ["comms"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CONSENT_DATA": str(data)}
    env.pop("CONSENT_DB", None)
    if redis_url:  # a Redis queue needs the worker key, on the main machine and the remote one
        from consent.jobs import signing

        signing.create_key(data / "worker.key")
        env[signing.KEY_ENV] = str(data / "worker.key")
    log = open(data / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "web", "--port", str(port), "--workers", str(workers)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    remote = None
    if remote_workers:
        home = data.parent / "remote"
        home.mkdir()
        remote = subprocess.Popen([sys.executable, "-m", "consent", "worker", "--remote", "-w", str(remote_workers)],
                                  cwd=home, env={k: v for k, v in env.items() if k != "CONSENT_DATA"},
                                  stdout=open(home / "worker.log", "wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the server did not start: {(data / 'server.log').read_text()[-1500:]}")
                time.sleep(0.2)
        place = checked_photos.Place(data, str(data / "consent.db"), load(data / "settings.toml"))
        start = time.perf_counter()
        upload = batch_jobs.Upload(place)
        files = [FileStorage(open(p, "rb"), filename=f"bench/{p.name}") for p in sorted(folder.glob("*.jpg"))]
        upload.add_files(files)
        for f in files:
            f.close()
        ids = batch_jobs.create(db, upload, user.id, None, "", "bench")
        batch_queue.enqueue(place, ids)
        while batch_jobs.progress(db, upload.job_id).state != "done":
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        p = batch_jobs.progress(db, upload.job_id)
        if p.failed:
            raise RuntimeError(f"{p.failed} photos could not be checked through the queue")
    finally:
        for process in (server, remote):
            if process is not None:
                os.killpg(process.pid, 15)
                process.wait(timeout=30)
        log.close()
        db.conn.close()
        os.environ.pop("CONSENT_QUEUE", None)
    shutil.rmtree(data.parent, ignore_errors=True)
    return elapsed


def run() -> None:
    import statistics

    folder = build_photos()
    n = len(list(folder.glob("*.jpg")))
    peer, queue = [], []
    for _ in range(ROUNDS):  # in pairs, so a machine that slows down slows both sides
        peer.append(run_peer(folder))
        queue.append(run_queue(folder))
        print(f"  pair: consent check -w 2 {peer[-1]:.1f}s, web queue (2 workers) {queue[-1]:.1f}s, "
              f"ratio {queue[-1] / peer[-1]:.2f}", flush=True)
    ratio = statistics.median(q / p for p, q in zip(peer, queue))
    print(f"photos: {n} distinct 3 MP JPEGs, fresh register and cache each run, {ROUNDS} pair(s)")
    print(f"consent check -w 2:        {n / statistics.median(peer):.2f} photos/s (median {statistics.median(peer):.1f}s)")
    print(f"web app queue, 2 workers:  {n / statistics.median(queue):.2f} photos/s (median {statistics.median(queue):.1f}s)")
    print(f"queue overhead (median of the pairs' time ratios): {100 * (ratio - 1):+.1f}% (target: under 10%)")
