"""``consent scan`` and ``consent strip``: what metadata photos carry, and safe copies without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from .. import settings as settings_mod
from ..errors import ConsentError


def _settings():
    try:
        return settings_mod.load()
    except ConsentError as exc:
        raise click.ClickException(str(exc))


def _message(exc: Exception, path: Path) -> str:
    """The error's one sentence, without the path prefix the line already shows."""
    if not isinstance(exc, ConsentError):
        return f"unexpected error ({type(exc).__name__}: {exc}); please report this file"
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def scan(paths, as_json):
    """Show the identifying metadata in photos: GPS, capture time, camera serials, owner,
    software, maker notes, XMP people tags, IPTC, comments and thumbnails.

    PATHS are photos or folders (searched recursively). A file that cannot be read is
    reported and the others are still scanned; the exit status is 1 if any failed.
    """
    from ..images import find_images
    from ..metadata import GROUP_LABELS, scan as scan_photo

    settings = _settings()
    results = []
    failed = 0
    for path, rel in find_images(paths, not_checked=True):
        try:
            report = scan_photo(path, settings)
        except Exception as exc:  # one bad file never stops the others
            failed += 1
            code = getattr(exc, "code", "internal_error")
            if as_json:
                results.append({"path": str(path), "error": code,
                                "message": _message(exc, path)})
            else:
                click.echo(f"FAIL {path}: {_message(exc, path)}")
            continue
        if as_json:
            results.append(report.to_dict())
            continue
        icc = "colour profile" if report.has_icc else "no colour profile"
        click.echo(f"{path}  ({report.format}, orientation {report.orientation}, {icc})")
        groups = report.groups()
        if not groups and not report.problems:
            click.echo("  no identifying metadata found")
        for code, items in groups.items():
            label = GROUP_LABELS[code]
            for item in items:
                click.echo(f"  {label:<13} {item.name}: {item.value}")
                label = ""
        for problem in report.problems:
            click.echo(f"  {'problem':<13} {problem}")
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    if failed:
        raise SystemExit(1)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _same_dir(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _destination(src: Path, rel: Path, out_dir: Path, neutral: bool) -> Path:
    from ..metadata import safe_name, safe_suffix

    if neutral:
        return out_dir / rel.parent / safe_name(src)
    suffix = safe_suffix(src)
    same_kind = {".jpg": {".jpg", ".jpeg", ".jpe"}, ".png": {".png"}, ".webp": {".webp"}}
    if rel.suffix.lower() in same_kind[suffix]:
        return out_dir / rel
    return out_dir / rel.with_suffix(suffix)


def _strip_one(job) -> tuple[bool, str]:
    """Make one safe copy; returns (succeeded, the line to print). Runs in a worker process."""
    from ..metadata import make_safe_copy

    src, rel, dst, settings = job
    try:
        done = make_safe_copy(src, dst, settings)
    except Exception as exc:  # one bad file never stops the others
        return False, f"FAIL {rel.as_posix()}: {_message(exc, src)}"
    from ..reports import removed_words

    groups = list(done.removed.groups())
    if not groups:
        return True, f"ok   {rel.as_posix()} -> {done.dst} (nothing identifying found)"
    # said once in plain words; the groups after it are the detail
    return True, f"ok   {rel.as_posix()} -> {done.dst}: {removed_words(groups)} ({', '.join(done.removed.labels())})"


def _one_decode_thread() -> None:
    """In a worker: the pool already keeps every core busy, so HEIC decoding (4 threads by
    default) would only make the workers compete for them."""
    import pillow_heif

    pillow_heif.options.DECODE_THREADS = 1


def _run_jobs(jobs: list, workers: int):
    """Yield ``_strip_one`` results in the order of ``jobs``, computed by ``workers`` processes.

    Large files are started first so that one big HEIC does not finish alone at the end.
    Without fork (or with one worker) the jobs run in this process.
    """
    import multiprocessing

    if workers <= 1 or len(jobs) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            yield _strip_one(job)
        return
    from concurrent.futures import ProcessPoolExecutor

    from .. import metadata  # noqa: F401  imported once here, inherited by the workers

    def size(job) -> int:
        try:
            return job[0].stat().st_size
        except OSError:
            return 0

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context,
                             initializer=_one_decode_thread) as pool:
        futures = {}
        for index in sorted(range(len(jobs)), key=lambda i: -size(jobs[i])):
            futures[index] = pool.submit(_strip_one, jobs[index])
        for index, job in enumerate(jobs):
            try:
                yield futures[index].result()
            except Exception as exc:  # a worker died (e.g. a decoder crashed on this file)
                yield False, (f"FAIL {job[1].as_posix()}: could not be processed ({exc}); "
                              "try this photo on its own")


@click.command("strip")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for the safe copies (created if missing; never an original).")
@click.option("--neutral-names", is_flag=True,
              help="Name copies photo-<hash>.jpg so no pupil name in a file name is published "
                   "(folder names under --out are kept).")
def strip(paths, out_dir, neutral_names):
    """Write publication-safe copies of photos with all identifying metadata removed.

    PATHS are photos or folders (searched recursively; relative paths are kept under --out).
    Only the colour profile and the orientation are kept; JPEG pictures are copied without
    re-encoding, HEIC/HEIF and TIFF become JPEG. Originals are never changed. A photo that
    fails is reported and the others carry on; the exit status is 1 if any failed.
    """
    from ..images import find_images

    settings = _settings()
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(
            f"--out {out_dir} is a file, not a folder; give a folder for the safe copies "
            "(originals are never overwritten)"
        )
    found = []
    for given in paths:
        # copies of a folder land in OUT/<folder name>/...; when that is inside the folder
        # (--out photos/safe) an earlier run's copies must not be stripped again
        earlier = out_dir / given.name
        skip = given.is_dir() and _is_within(earlier, given) and not _same_dir(earlier, given)
        for src, rel in find_images([given], not_checked=True):
            if not (skip and _is_within(src, earlier)):
                found.append((src, rel))
    planned: dict[Path, Path] = {}
    entries, jobs = [], []
    for src, rel in found:
        dst = _destination(src, rel, out_dir, neutral_names)
        key = Path(os.path.abspath(dst))
        if key == Path(os.path.abspath(src)):
            entries.append(f"FAIL {rel.as_posix()}: the safe copy {dst} would overwrite the "
                           "original; choose another --out folder")
        elif key in planned:
            entries.append(f"FAIL {rel.as_posix()}: {dst} would also be the safe copy of "
                           f"{planned[key]}; rename one of the two photos")
        else:
            planned[key] = src
            entries.append(None)
            jobs.append((src, rel, dst, settings))
    workers = settings.strip_workers or len(os.sched_getaffinity(0))
    results = _run_jobs(jobs, workers)
    written = failed = 0
    for entry in entries:
        ok, line = (False, entry) if entry else next(results)
        written += ok
        failed += not ok
        click.echo(line)
    copies = "safe copy" if written == 1 else "safe copies"
    click.echo(f"{written} {copies} written to {out_dir}, {failed} failed")
    if failed:
        raise SystemExit(1)
