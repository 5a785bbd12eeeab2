"""Where one check's time goes, step by step, on 12-megapixel photos (``python -m bench steps``).

The annotated group photos of ``faces/`` enlarged to 12 megapixels (made once under
build/bench/steps/), each analysed by one ``consent.check.Checker`` in this process (text
reading on, as a single check; the register ``python -m bench check`` makes, with the people of
``people/train`` enrolled, so faces are encoded and matched; no cache) :data:`ROUNDS` times after a warm-up.
Printed: each step's median wall time per photo (``Analysis.timings``: decode, metadata, detect,
encode, match, kit, text...) and its share of their sum, and the detector in use (int8 or fp32,
``consent.vision.centerface.precision``). Steps, not a peer, so no ratio: the shares show what
is worth making cheaper.
"""

from __future__ import annotations

import statistics

from .timing import ROOT, fixtures

OUT = ROOT / "build" / "bench" / "steps"
#: analyses of every photo, after one warm-up analysis
ROUNDS = 2


def _photos():
    from scripts.measure_detection import enlarge_to

    src = fixtures() / "faces"
    if not src.is_dir():
        raise SystemExit(f"no face fixtures at {src} (set CONSENT_FIXTURES)")
    OUT.mkdir(parents=True, exist_ok=True)
    made = []
    for path in sorted(src.glob("*.jpg")):
        dest = OUT / path.name
        if not dest.exists():
            enlarge_to(path, dest)
        made.append(dest)
    return made


def run() -> None:
    from consent.check import Checker
    from consent.vision import centerface

    from .bench_check import build_register

    photos = _photos()
    db, _ = build_register(fixtures())
    checker = Checker(db, use_cache=False, text_check=True)
    checker.analyse(photos[0])  # every model loaded outside the timings
    steps: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for path in photos:
            for step, seconds in checker.analyse(path).timings.items():
                steps.setdefault(step, []).append(seconds)
    medians = {step: statistics.median(v) for step, v in steps.items()}
    total = sum(medians.values())
    print(f"{len(photos)} photos of 12 MP (faces/ enlarged), {ROUNDS} rounds, detector {centerface.precision()}: "
          f"the steps' medians add up to {total * 1000:.0f} ms a photo (wall time)")
    for step, seconds in sorted(medians.items(), key=lambda kv: -kv[1]):
        print(f"  {step:10s} {seconds * 1000:7.0f} ms  {seconds / total:5.1%}")
