"""Check whole event folders: parallel worker processes, progress, nothing lost.

``run_batch`` checks every photo under the paths given, in worker processes that each build one
:class:`~consent.check.Checker` (face models loaded once per worker). Results come back in input
order. A bad file becomes an error result and the batch goes on; a worker that crashes outright
is replaced and only the photo it was on is reported as failed. Analyses are cached in the
register database, so re-running after an interruption or a consent change is quick.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import images
from .results import PhotoCheck
from .settings import Settings
from .video import is_video

Progress = Callable[[int, int, PhotoCheck], None]


@dataclass
class Job:
    """One photo of a batch: where it is and how it is named in reports and safe copies."""

    path: str
    rel: str


@dataclass
class BatchOptions:
    channels: list[str] | str | None = None
    caption: str = ""
    safe_dir: str | None = None
    blur_unconsented: bool = False
    #: the year groups or classes who can be in the photos (faces compared with them and staff)
    groups: list[str] | None = None
    #: videos: the safe copy has no sound (so the sound needs no listening to)
    drop_sound: bool = False


def collect(paths: Iterable[str | os.PathLike]) -> list[Job]:
    """Every photo named or inside the folders named (recursively), in a stable order; videos
    and pictures this tool cannot read too, so each is reported as "could not check"."""
    return [Job(str(p), rel.as_posix()) for p, rel in images.find_images(paths, not_checked=True)]


# --- worker side ------------------------------------------------------------------------
_checker = None


def _init_worker(db, settings: Settings | None, use_cache: bool, kit_check: bool, use_register: bool):
    global _checker
    from .check import Checker

    _checker = Checker(db, settings, use_cache=use_cache, kit_check=kit_check, use_register=use_register)


def _init_pool_worker(*init) -> None:
    """A worker of a pool with one check per core: its models run on one thread each."""
    from .vision.models import one_thread_per_process

    one_thread_per_process()
    _init_worker(*init)


def check_photo(checker, job: Job, options: BatchOptions, photo=None) -> PhotoCheck:
    """Check one photo of a batch with ``checker`` (a :class:`~consent.check.Checker`);
    ``photo``: the job's photo already read (a :class:`~consent.images.Photo`), if it was.

    The one function behind every batch: this module's worker processes (``consent check``)
    and the web app's queue (``consent.jobs.batch_queue``) both call it. A video
    (:func:`consent.video.is_video`) is checked by :func:`consent.video.check.check_video`. It never raises: a bad photo,
    a busy register (``error_code`` ``register_busy``) or a bug is an error result.
    """
    rel = Path(job.rel)
    safe_dir = None
    if options.safe_dir:
        safe_dir = Path(options.safe_dir) / rel.parent
    try:
        if photo is None and is_video(job.path):  # a clip: consent.video, on the same stages and rules
            from .video.check import check_video

            return check_video(
                checker, job.path, options.channels, options.caption, display_name=rel.name,
                folder=str(rel.parent), safe_dir=safe_dir, blur_unconsented=options.blur_unconsented,
                drop_sound=options.drop_sound, groups=options.groups,
            )
        return checker.check(
            photo if photo is not None else job.path, options.channels, options.caption, display_name=rel.name,
            folder=str(rel.parent), safe_dir=safe_dir, blur_unconsented=options.blur_unconsented,
            groups=options.groups,
        )
    except Exception as exc:  # a bug must not stop the batch; the message says it is one
        result = PhotoCheck(path=job.path, name=rel.name)
        result.error = f"{job.rel}: internal error while checking ({type(exc).__name__}: {exc}); please report it"
        result.error_code = "internal_error"
        return result


def _check_one(job: Job, options: BatchOptions) -> PhotoCheck:
    return check_photo(_checker, job, options)


def _crashed(job: Job) -> PhotoCheck:
    result = PhotoCheck(path=job.path, name=Path(job.rel).name)
    result.error = f"{job.rel}: the checker stopped unexpectedly on this photo; it was skipped"
    result.error_code = "worker_crashed"
    return result


# --- the batch --------------------------------------------------------------------------
def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_batch(
    jobs: list[Job],
    options: BatchOptions | None = None,
    *,
    db=None,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    kit_check: bool = True,
    use_register: bool = True,
) -> list[PhotoCheck]:
    """Check ``jobs`` (see :func:`collect`) and return their results in the same order.

    ``workers`` worker processes (default: all cores; 1 checks in this process). ``progress``
    is called after each photo with (done, total, result).
    """
    options = options or BatchOptions()
    workers = workers or default_workers()
    if len(jobs) > 1:
        from .settings import load

        settings = (settings or load()).for_batch()
    init = (db, settings, use_cache, kit_check, use_register)
    results: list[PhotoCheck | None] = [None] * len(jobs)
    done = 0

    def finished(i: int, result: PhotoCheck):
        nonlocal done
        results[i] = result
        done += 1
        if progress:
            progress(done, len(jobs), result)

    if workers == 1 or len(jobs) <= 1:
        _init_worker(*init)
        for i, job in enumerate(jobs):
            finished(i, _check_one(job, options))
        return results

    pending = list(range(len(jobs)))
    context = multiprocessing.get_context("spawn")  # no fork of a threaded server or loaded models
    while pending:
        with ProcessPoolExecutor(min(workers, len(pending)), mp_context=context,
                                 initializer=_init_pool_worker, initargs=init) as pool:
            futures = {pool.submit(_check_one, jobs[i], options): i for i in pending}
            broken = []
            for future in as_completed(futures):
                i = futures[future]
                try:
                    finished(i, future.result())
                except BrokenProcessPool:
                    broken.append(i)
        if not broken:
            break
        # A worker died (e.g. a native crash on one photo). Every unfinished photo is re-tried
        # once one at a time, so only the photo that kills a worker is lost.
        if len(broken) == 1:
            finished(broken[0], _crashed(jobs[broken[0]]))
            break
        retry = broken
        pending = []
        for i in retry:
            with ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker, initargs=init) as solo:
                try:
                    finished(i, solo.submit(_check_one, jobs[i], options).result())
                except BrokenProcessPool:
                    finished(i, _crashed(jobs[i]))
    return results


def counts(results: list[PhotoCheck]) -> dict[str, int]:
    """How many photos came out ok, review, block and error."""
    out = {"ok": 0, "review": 0, "block": 0, "error": 0}
    for r in results:
        out[r.verdict] += 1
    return out
