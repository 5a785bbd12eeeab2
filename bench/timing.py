"""Shared helpers for the benchmarks."""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fixtures() -> Path:
    """The shared fixtures folder: ``CONSENT_FIXTURES`` or ``../shared/fixtures``."""
    return Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")


def best_of(fn, repeat: int = 5) -> tuple[float, object]:
    """Smallest wall time of ``repeat`` runs of ``fn()`` and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result
