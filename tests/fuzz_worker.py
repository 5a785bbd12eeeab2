"""The fuzz test's worker (tests/test_fuzz.py): reads ``<index> <photo> <out folder>`` lines on
stdin and, for each, runs the photo through intake (the check's decode), the metadata scan and
the safe copy, printing ``START <index>`` before and one JSON line after, so the test can tell a
hang (no answer) from a traceback (an unexpected exception)."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def main() -> None:
    from consent import images, metadata
    from consent.errors import ConsentError

    for line in sys.stdin:
        index, photo, out = line.rstrip("\n").split("\t")
        print(f"START {index}", flush=True)
        outcome = {"index": int(index), "refused": [], "tracebacks": [], "copy": None}

        def run(step, fn):
            try:
                return fn()
            except ConsentError as exc:
                outcome["refused"].append(f"{step}: {exc.code}")
            except Exception:  # noqa: BLE001 - what the test is looking for
                outcome["tracebacks"].append(f"{step}: {traceback.format_exc(limit=6)}")
            return None

        run("load", lambda: images.load(photo, max_side=800))
        run("scan", lambda: metadata.scan(photo))
        dst = Path(out) / f"{index}{metadata.safe_suffix(photo)}"
        if run("copy", lambda: metadata.make_safe_copy(photo, dst)) is not None:
            outcome["copy"] = str(dst)
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
