"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: all of bench/bench_*.py).

Each module has ``run() -> None`` printing its own figures, always as a ratio against a peer
tool run side by side on the same machine in the same run.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    failed = []
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(f"bench.bench_{name}").run()
        except SystemExit as exc:  # a benchmark that cannot run says why and exits
            print(f"[{name}] skipped: {exc}")
        except Exception as exc:  # keep going: one broken benchmark must not hide the others
            failed.append(name)
            print(f"[{name}] FAILED: {type(exc).__name__}: {exc}")
        print(f"[{name}] took {time.perf_counter() - start:.1f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
