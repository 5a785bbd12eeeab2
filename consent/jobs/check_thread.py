"""The check engine as the web app and the batch workers use it: one :class:`consent.check.Checker`
per process.

Every check in a server or worker process runs on one dedicated thread that owns the process's single
``Checker`` (its face models, its register snapshot and its register connection; SQLite
connections belong to the thread that opened them). Request threads hand their photo over and
wait for the result. So the models load once per process, the register snapshot is re-read only
when the register changes, and checks run one at a time: the native face code is not promised
to be thread-safe, and on a small school server two parallel checks would not finish sooner.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consent-check")
_checkers: dict = {}
log = logging.getLogger("consent.worker")


def _checker(db_path: str, settings):
    """The Checker for this register and settings (called on the check thread only). When the
    settings change (an admin saved new ones), the register's Checker for the old ones is let
    go: the face models are loaded once per process whichever Checker uses them."""
    key = (str(db_path), settings)
    checker = _checkers.get(key)
    if checker is None:
        from consent.check import Checker

        for old in [k for k in _checkers if k[0] == str(db_path)]:
            del _checkers[old]
        checker = _checkers[key] = Checker(db_path, settings)
    return checker


def warm_up(db_path: str, settings) -> None:
    """Load the check models on the check thread, in the background (a server starting), so
    that the first photo uploaded does not wait for them; a check asked for meanwhile runs
    after it. A model that cannot load is logged here and reported by each check as usual."""
    def work():
        started = time.perf_counter()
        errors = _checker(db_path, settings).load_models()
        for error in errors:
            log.warning("%s", error)
        log.info("check models loaded in %.1f s%s", time.perf_counter() - started,
                 f" ({len(errors)} could not be)" if errors else "")

    _executor.submit(work)


def run_check(db_path: str, settings, path, **kwargs):
    """``Checker.check(path, **kwargs)`` on the process's check thread; returns the PhotoCheck."""
    return _executor.submit(lambda: _checker(db_path, settings).check(path, **kwargs)).result()


def run_video(db_path: str, settings, path, **kwargs):
    """:func:`consent.video.check.check_video` (the clip check of ``consent check``) on the
    process's check thread; returns the PhotoCheck."""
    from consent.video.check import check_video

    return _executor.submit(lambda: check_video(_checker(db_path, settings), path, **kwargs)).result()


def run(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on the check thread: any other work that decodes a whole photo
    (the preview) waits its turn too, so one process decodes one photo at a time and its memory
    is bounded by ``max_decode_mb`` (checked from the header before decoding)."""
    return _executor.submit(fn, *args, **kwargs).result()


def channel_names(db_path: str, settings) -> list[str]:
    """The register's publication channels, in register order."""
    return _executor.submit(lambda: _checker(db_path, settings).view().channels).result()


def run_stored_check(db_path: str, settings, path, **kwargs):
    """:func:`run_check`, and what the web app keeps of it: ``(PhotoCheck, StoredCheck or None)``.

    The :class:`consent.rejudge.StoredCheck` holds the photo's analysis (person ids, no names)
    and the words judged with it, so the stored check can be judged again against the register
    whenever it is shown. With ``blur_unconsented`` it is the blurred copy's, as re-checked.
    The photo is read once (:func:`_read`); fetching its analysis again is a cache hit: the
    check has just stored it.
    """
    def work():
        checker = _checker(db_path, settings)
        photo = _read(checker, path)
        result = checker.check(photo, **kwargs)
        return result, _stored(checker, photo, result, kwargs.get("blur_unconsented", False),
                               caption=kwargs.get("caption", ""), alt_text=kwargs.get("alt_text", ""),
                               folder=kwargs.get("folder") or "", groups=kwargs.get("groups"))

    return _executor.submit(work).result()


def run_stored_video(db_path: str, settings, path, progress=None, **kwargs):
    """:func:`run_stored_check` for a clip (:func:`consent.video.check.check_video`, the same
    check as ``consent check``), on the process's check thread: ``(PhotoCheck, StoredCheck or
    None)``, the stored check holding the times and facts its judgement needs again.
    ``progress(frame, frames)``: called while its blurred copy is written, if one is
    (:func:`consent.video.blur.reporting`)."""
    def work():
        from consent.video.blur import reporting
        from consent.video.check import check_video

        checker = _checker(db_path, settings)
        with reporting(progress):
            result = check_video(checker, path, **kwargs)
        return result, _stored_video(checker, path, result, kwargs.get("blur_unconsented", False),
                                     caption=kwargs.get("caption", ""), alt_text=kwargs.get("alt_text", ""),
                                     folder=kwargs.get("folder") or "", groups=kwargs.get("groups"))

    return _executor.submit(work).result()


def analysis_config(db_path: str, settings) -> dict:
    """What another machine needs to analyse a batch photo as this process would
    (:func:`consent.remote.config`: settings and kit profile; nothing of the register)."""
    from consent.remote import config

    return _executor.submit(lambda: config(_checker(db_path, settings))).result()


def _read(checker, path):
    """The photo at ``path`` read once (a :class:`consent.images.Photo`) for all the work done
    on it here; the path itself when it cannot be read (the check says why)."""
    from consent.errors import ConsentError

    try:
        return checker.intake(path)
    except ConsentError:
        return path


def _stored(checker, photo, result, blurred: bool, groups=None, **words):
    """What the web app keeps of ``result`` (a check of ``photo``): its StoredCheck, or None when
    the photo could not be checked. For a ``blurred`` check it is the blurred copy's: the copy's
    analysis judged with the same words, and the photo it was made from with what was blurred in
    it, so that it is judged by rule whenever it is shown (``consent.blurring``).
    ``groups``: the restriction the photo was checked with (the same cached analysis)."""
    from consent.rejudge import BlurredFrom, StoredCheck, reason_codes
    from consent.results import box_from_json

    if result.error:
        return None
    if not blurred:
        return StoredCheck.of(checker.analyse(photo, groups), result, **words)
    if not result.safe_copy or not result.blurred:
        return None
    made_from = BlurredFrom(checker.analyse(photo, groups), list(result.blurred["faces"]),
                            [box_from_json(b) for b in result.blurred["regions"]])
    stored = StoredCheck(checker.analyse(result.safe_copy, groups), list(result.channels), result.name,
                         blurred_from=made_from, **words)
    judged = stored.judge(checker.view(), checker.settings)
    stored.verdicts, stored.codes = {c: v.verdict for c, v in judged.verdicts.items()}, reason_codes(judged)
    return stored


def _stored_video(checker, path, result, blurred: bool, groups=None, **words):
    """:func:`_stored` for a clip: its StoredCheck (``StoredCheck.video`` holding the times and
    facts its judgement needs, :func:`consent.rejudge.video_record`), or None when the clip could
    not be checked (a clip that cannot be read again now makes ``result`` an error). The
    analysis is the one the check has just cached (read again, not decoded again). For a
    ``blurred`` check it is the blurred copy's, judged by rule."""
    from consent.errors import ConsentError
    from consent.rejudge import BlurredFrom, StoredCheck, reason_codes, video_record
    from consent.video.check import analysed, faces_only
    from consent.video.frames import probe

    if result.error:
        return None
    only = checker.restriction(groups)
    try:
        analysis, tracks, info, _ = analysed(checker, probe(path, checker.settings), only)
    except ConsentError as exc:  # the clip changed or went while it was checked: not kept half-known
        result.error = f"{exc} (it could not be read again once checked; check it again)"
        result.error_code = exc.code
        return None
    if not blurred:
        stored = StoredCheck.of(analysis, result, **words)
        stored.video = video_record(tracks, info, result)
        return stored
    if not result.safe_copy or not result.blurred:
        return None
    try:  # the copy's faces, as its re-check cached them (faces only: consent.video.check.faces_only)
        copy, copy_tracks, copy_info, _ = analysed(faces_only(checker), probe(result.safe_copy, checker.settings), only)
    except ConsentError:  # the blurred copy cannot be read back: no blurred copy is offered
        return None
    original = video_record(tracks, info, result)
    record = video_record(copy_tracks, copy_info, result)
    record.update(original_face_times=original["face_times"], original_text_times=original["text_times"])
    record.pop("kit_frames", None)  # the clip's kit is the copy's: blurring faces cures none of it
    if "kit_frames" in original:
        record["kit_frames"] = original["kit_frames"]
    stored = StoredCheck(copy, list(result.channels), result.name,
                         blurred_from=BlurredFrom(analysis, list(result.blurred["faces"]), []), video=record, **words)
    judged = stored.judge(checker.view(), checker.settings)
    stored.verdicts, stored.codes = {c: v.verdict for c, v in judged.verdicts.items()}, reason_codes(judged)
    return stored


def run_batch_photo(db_path: str, settings, job, options, analysed: dict | None = None):
    """One photo of a batch job (``consent.batch.check_photo``, as ``consent check`` does it) on
    the process's check thread, and what the web app keeps of it: ``(PhotoCheck, StoredCheck or
    None)`` as :func:`run_stored_check` (the blurred copy's with ``options.blur_unconsented``).
    ``analysed``: the photo's analysis made by another machine (``consent.jobs.remote_queue``), matched
    and judged here; without it, or when it does not fit, the photo is analysed here."""
    def work():
        from consent.batch import check_photo
        from consent.errors import ConsentError
        from consent.remote import RemoteResultRefused, remember
        from consent.video import is_video

        from . import signing

        checker = _checker(db_path, settings)
        if is_video(job.path):  # a clip: checked here, on consent.video's stages and the same rules
            result = check_photo(checker, job, options)
            return result, _stored_video(checker, job.path, result, options.blur_unconsented, caption=options.caption,
                                         folder=str(Path(job.rel).parent), groups=options.groups)
        photo = _read(checker, job.path)
        if analysed is not None:  # logged by the upload's number, never by the photo's name
            where = f"job {Path(job.path).parent.parent.name}, photo {Path(job.path).name}"
            try:
                if not isinstance(analysed, dict) or "analysis" in analysed:
                    remember(checker, photo, analysed, options.groups, key=signing.load_key())
                else:
                    log.info("%s: checked here (%s)", where, " ".join(str(analysed.get("local")).split())[:200])
            except (RemoteResultRefused, signing.WorkerKeyMissing) as exc:
                log.warning("%s: remote analysis refused: %s", where, exc)
            except ConsentError:  # the photo cannot be read here: the check says why
                pass
        result = check_photo(checker, job, options, photo)
        return result, _stored(checker, photo, result, options.blur_unconsented, caption=options.caption,
                               folder=str(Path(job.rel).parent), groups=options.groups)  # as check_photo judged it

    return _executor.submit(work).result()
