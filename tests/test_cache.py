"""The analysis cache's table is created safely when several processes open it at once."""

from __future__ import annotations

import multiprocessing

from consent.register import Register


def _open_cache(db_path: str, barrier, results) -> None:
    from consent.check import Checker

    barrier.wait()
    try:
        Checker(db_path, kit_check=False).cache()
        results.put("ok")
    except Exception as exc:  # report it to the test instead of dying silently
        results.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_creating_the_cache_at_once_both_succeed(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(6):
        db = tmp_path / f"register-{attempt}.db"
        Register(db).close()  # a register with no cache table yet
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_cache, args=(str(db), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert sorted(results.get(timeout=5) for _ in procs) == ["ok", "ok"], f"attempt {attempt}"
