"""A worker on "another machine": the Redis queue with 1 local + 1 remote analysis process,
beside the same queue with the local one alone.

Uses the first BENCH_REMOTE_PHOTOS (default 40) photos of the batch bench's folder
(``bench_batch.build_photos``: distinct 3 MP JPEGs) and a private ``redis-server`` on a free
port. Side by side in one run, ``BENCH_REMOTE_ROUNDS`` (default 2) pairs, alternating, each on
a fresh data folder (fresh register, empty analysis cache):

- peer: ``python -m web --workers 1`` with ``CONSENT_QUEUE=redis://...`` (one worker process and
  one analysis process on the main machine);
- remote: the same, plus ``consent worker --remote -w 1`` started in a folder of its own (no
  data folder, no register): a second machine's worker, here on the same machine.

Both are timed from the job's creation until every photo's result is stored. On one machine
the "remote" worker competes for the same cores, so the ratio says what a second machine adds
only when this one has a core to spare (on 2 cores the web server, the main worker and two
analysis processes share them); on separate machines the analysis part scales with them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

N_PHOTOS = int(os.environ.get("BENCH_REMOTE_PHOTOS", "40"))
ROUNDS = int(os.environ.get("BENCH_REMOTE_ROUNDS", "2"))


def start_redis() -> tuple[subprocess.Popen, str]:
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        raise SystemExit("redis-server is not installed (make install installs Debian's redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="consent-bench-redis-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"redis-server did not start on port {port}")


def subset(n: int) -> Path:
    from bench.bench_batch import OUT, build_photos

    source = build_photos()
    folder = OUT / f"remote-{n}"
    photos = sorted(source.glob("*.jpg"))[:n]
    if not (folder.is_dir() and len(list(folder.glob("*.jpg"))) == len(photos)):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for p in photos:
            shutil.copyfile(p, folder / p.name)
    return folder


def run() -> None:
    import statistics

    import redis

    from bench.bench_batch import run_queue

    folder = subset(N_PHOTOS)
    n = len(list(folder.glob("*.jpg")))
    server, url = start_redis()
    alone, paired = [], []
    try:
        for _ in range(ROUNDS):
            redis.Redis.from_url(url).flushdb()
            alone.append(run_queue(folder, workers=1, redis_url=url))
            redis.Redis.from_url(url).flushdb()
            paired.append(run_queue(folder, workers=1, redis_url=url, remote_workers=1))
            print(f"  pair: 1 worker {alone[-1]:.1f}s, 1 local + 1 remote {paired[-1]:.1f}s, "
                  f"speed-up {alone[-1] / paired[-1]:.2f}x", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    speedup = statistics.median(a / p for a, p in zip(alone, paired))
    print(f"photos: {n} distinct 3 MP JPEGs through the Redis queue, fresh register and cache each run, "
          f"{ROUNDS} pair(s), {os.cpu_count()} cores")
    print(f"1 worker (main machine):        {n / statistics.median(alone):.2f} photos/s")
    print(f"1 local + 1 remote worker:      {n / statistics.median(paired):.2f} photos/s")
    print(f"speed-up (median of the pairs' time ratios): {speedup:.2f}x")
