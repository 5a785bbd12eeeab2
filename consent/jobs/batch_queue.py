"""The batch queue on Huey: one task per photo, workers in ``consent worker`` processes.

Where the queue lives:

- by default ``SqliteHuey`` in ``<data>/queue.db``: a school's single server needs nothing
  more (``python -m web`` starts the worker processes beside the web server);
- with ``CONSENT_QUEUE=redis://host:port/db``, ``RedisHuey``: the web app and the
  ``consent worker`` processes of the main machine share one queue, and photos are analysed by
  any machine's ``consent worker --remote`` through a second queue (``consent.jobs.remote_queue``;
  docs/operations.md).

The task is a thin shell: :func:`consent.jobs.batch_jobs.process` checks the photo and stores its
result; it knows nothing about the queue. A second task, ``blur_clip``, makes the blurred copy
of a clip asked for on the check page (:func:`consent.jobs.clip_blur.process`). Workers are Huey's consumer with process workers;
each process loads the face models once, on its first photo (``consent.jobs.check_thread``). When a
worker process starts, and every minute, :func:`recover` puts back in the queue any photo a
stopped worker or server left behind.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from consent import settings as consent_settings
from consent.errors import SettingsError
from consent.vision.models import one_thread_per_process

from . import batch_jobs, clip_blur, photos, remote_queue, signing
from .remote_queue import (
    HEALTH_CHECK_S, IDLE_POLL_MAX, die_with_parent as _die_with_parent, describe_url, hold_stop_signals, run_consumer,
    worker_logging,
)
from .tables import connect

log = logging.getLogger("consent.worker")

#: name of the queue (Huey keeps several apart by name in one Redis database)
QUEUE_NAME = "consent-batch"

_hueys: dict[str, object] = {}
_connections: dict[tuple, object] = {}


class QueueMisconfigured(Exception):
    """``CONSENT_QUEUE`` is set to something that is not a Redis address, or there is no worker
    key for it (``consent worker-key create``)."""


def queue_url() -> str:
    """``CONSENT_QUEUE`` (a ``redis://`` address), or "" for the SQLite queue in the data folder."""
    url = os.environ.get("CONSENT_QUEUE", "").strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise QueueMisconfigured(
            f"CONSENT_QUEUE={url!r} is not a Redis address; use redis://HOST:6379/0, or leave it "
            "unset for the queue in the data folder")
    return url


def describe(data: Path) -> str:
    """Where the queue is, for start-up messages (a Redis password is not shown). With Redis,
    raises :class:`QueueMisconfigured` when there is no usable worker key: the server and the
    workers refuse to start rather than exchange unsigned work (``consent.jobs.signing``)."""
    url = queue_url()
    if not url:
        return f"SQLite {Path(data) / 'queue.db'}"
    try:
        key = signing.load_key(signing.key_path(data))
    except signing.WorkerKeyMissing as exc:
        raise QueueMisconfigured(str(exc)) from None
    return f"{describe_url(url)}, worker key {signing.key_id(key)}"


def huey_for(data: Path):
    """The Huey instance for this data folder (or for ``CONSENT_QUEUE``), made once per process."""
    url = queue_url()
    key = url or str(Path(data).resolve())
    huey = _hueys.get(key)
    if huey is None:
        huey = _hueys[key] = _make_huey(url, Path(data))
    return huey


def _make_huey(url: str, data: Path):
    from huey import RedisHuey, SqliteHuey, crontab
    from huey.exceptions import CancelExecution

    if url:  # tasks as JSON: nothing read from a network server is unpickled (consent.jobs.signing)
        huey = RedisHuey(QUEUE_NAME, url=url, results=False, serializer=signing.JsonSerializer())
    else:
        data.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(QUEUE_NAME, filename=str(data / "queue.db"), results=False,
                          timeout=consent_settings.DEFAULTS.register_busy_timeout_s)

    @huey.task(context=True, name="check_photo")
    def check_photo(check_id: str, analysed: dict | None = None, task=None):
        place, db = worker_state()
        if url and analysed is None and send_for_analysis(place, db, check_id):
            return  # the analysis comes back as a new task with ``analysed`` set
        try:
            outcome = batch_jobs.process(db, place, check_id, batch_jobs.worker_name(), last_try=not task.retries,
                                         analysed=analysed)
            if url and outcome != "skipped":
                remote_queue.forget(url, check_id)  # stored: its bytes are not needed in Redis any more
        except batch_jobs.TryAgain as exc:
            log.warning("%s: %s; trying again (%d tries left)", check_id, exc, task.retries)
            raise CancelExecution(retry=True) from None

    @huey.task(name="blur_clip")
    def blur_clip(check_id: str):
        """The blurred copy of a clip asked for on the check page (``consent.jobs.clip_blur``)."""
        place, db = worker_state()
        clip_blur.process(db, place, check_id, batch_jobs.worker_name())

    @huey.periodic_task(crontab(minute="*"), name="recover_photos")
    def recover_photos():
        recover(*worker_state())

    @huey.on_startup("consent")
    def startup():
        if os.getpid() != _consumer_pid:
            _die_with_parent(signal.SIGKILL)  # a process worker never outlives its consumer
        try:
            recover(*worker_state())
        except Exception:
            log.exception("could not look for photos left behind (next try within a minute)")

    huey.consent_check_photo = check_photo
    huey.consent_blur_clip = blur_clip
    return huey


def enqueue(place: photos.Place, check_ids: list[str]) -> None:
    """Queue one task per photo, each retried up to ``batch_retries`` times when the register is busy."""
    huey = huey_for(place.data)
    for check_id in check_ids:
        _enqueue_check(huey, check_id, None, place.settings.batch_retries)


def enqueue_blur(place: photos.Place, check_id: str) -> None:
    """Queue the blurred copy of a clip checked on the check page (``consent.jobs.clip_blur``)."""
    huey = huey_for(place.data)
    huey.enqueue(huey.consent_blur_clip.task_class(args=(check_id,)))


def _enqueue_check(huey, check_id: str, analysed: dict | None, retries: int) -> None:
    task_class = huey.consent_check_photo.task_class
    huey.enqueue(task_class(args=(check_id, analysed), retries=retries, retry_delay=2))


def give_back(check_id: str, analysed: dict, retries: int) -> None:
    """(Analysis processes) Put a photo's analysis, or why it has none, on the main queue."""
    _enqueue_check(huey_for(Path(".")), check_id, analysed, retries)


def queued_ids(huey, claim_timeout: float = consent_settings.DEFAULTS.batch_claim_timeout_s) -> set[str]:
    """Photo ids of the tasks waiting in the queue or scheduled for a retry, and (Redis) of the
    photos waiting for an analysis or being analysed for less than ``claim_timeout`` seconds
    (:mod:`consent.jobs.remote_queue`)."""
    tasks = list(huey.pending()) + list(huey.scheduled())
    ids = {t.args[0] for t in tasks if t.name.endswith("check_photo") and t.args}
    if queue_url():
        ids |= remote_queue.waiting_ids(queue_url(), claim_timeout)
    return ids


def send_for_analysis(place: photos.Place, db, check_id: str) -> bool:
    """(Redis queue) Send a queued photo to the analysis queue, which workers on any machine
    serve; False when it is not to be sent (finished, a clip, or its file cannot be read: it is
    then checked here, which records why)."""
    from . import check_thread

    from consent.video import is_video

    row = db["web_checks"].get(check_id) if db["web_checks"].count_where("id = ?", [check_id]) else None
    if row is None or row["state"] != "queued" or not row["upload_path"]:
        return False
    if is_video(row["upload_path"]):  # clips are checked on the main machine (no remote video analysis)
        return False
    try:
        data = Path(row["upload_path"]).read_bytes()
    except OSError:
        return False
    try:
        key = signing.load_key(signing.key_path(place.data))
    except signing.WorkerKeyMissing as exc:
        log.error("%s: not sent for analysis, checked here: %s", check_id, exc)
        return False
    cfg = check_thread.analysis_config(place.db_path, place.settings)
    remote_queue.send(queue_url(), check_id, data, Path(row["upload_path"]).suffix, cfg, key=key)
    return True


def recover(place: photos.Place, db) -> int:
    """:func:`consent.jobs.batch_jobs.recover` against this queue (several processes may run it at once:
    a photo queued twice is still checked once)."""
    n = batch_jobs.recover(db, place, queued_ids(huey_for(place.data), place.settings.batch_claim_timeout_s),
                           lambda ids: enqueue(place, ids))
    if n:
        log.warning("%d photo(s) left behind by a stopped worker or server are queued again", n)
    return n


# --- the worker processes -------------------------------------------------------------------

_consumer_pid = os.getpid()


def place_from_env() -> photos.Place:
    """Data folder, register and settings as the web app finds them (``CONSENT_DATA``, ``CONSENT_DB``)."""
    data = Path(os.environ.get("CONSENT_DATA") or "data").resolve()
    db_path = os.environ.get("CONSENT_DB") or str(data / "consent.db")
    return photos.Place(data, db_path, consent_settings.load(data / "settings.toml"))


def _settings_stamp(data: Path) -> int | None:
    try:
        return (Path(data) / "settings.toml").stat().st_mtime_ns
    except FileNotFoundError:
        return None


def worker_state():
    """This process's place and database connection (opened after any fork, once).

    Called before every photo (and by the minute's recovery): when ``settings.toml`` changed
    since it was read, the new settings are in force for the next photo, as they are in the web
    server at once (a worker never checks photos with settings an admin has changed). A file
    that cannot be read, or has a value out of range, is logged and the settings in force kept,
    as the server does."""
    key = (os.getpid(),)
    state = _connections.get(key)
    if state is None:
        data = Path(os.environ.get("CONSENT_DATA") or "data").resolve()
        stamp = _settings_stamp(data)  # taken before reading: a change while reading is seen next time
        place = place_from_env()
        state = _connections[key] = [place, connect(place.db_path, place.settings.register_busy_timeout_s), stamp]
        return place, state[1]
    place, db, stamp = state
    now = _settings_stamp(place.data)
    if now != stamp:
        state[2] = now
        try:
            state[0] = dataclasses.replace(place, settings=consent_settings.load(place.data / "settings.toml"))
        except SettingsError as exc:
            log.error("settings not reloaded, those in force are kept: %s", exc)
        else:
            log.info("settings.toml changed: the new settings are in force from the next photo")
    return state[0], db


def run_worker(workers: int, analysis_workers: int = 0) -> None:
    """Run Huey's consumer with ``workers`` processes until stopped (SIGINT: finish the photos in
    hand; SIGTERM: stop at once; a photo stopped half-way is checked again later). With a Redis
    queue, ``analysis_workers`` more processes analyse photos from the analysis queue, as the
    workers of other machines do (``consent worker --remote``)."""
    global _consumer_pid
    _consumer_pid = os.getpid()
    place = place_from_env()
    huey = huey_for(place.data)
    worker_logging()
    log.info("consent worker: %d process(es), queue %s, data %s", workers, describe(place.data), place.data)
    if workers > 1:  # one check per core: each process's models on one thread
        one_thread_per_process()
    hold_stop_signals()  # until the consumer has started: a Ctrl-C while forking would hang the worker
    analysers = None
    if queue_url() and analysis_workers:
        log.info("and %d analysis process(es) serving the analysis queue with the workers of other machines",
                 analysis_workers)
        analysers = subprocess.Popen(
            [sys.executable, "-m", "consent", "worker", "--workers", str(analysis_workers), "--remote"],  # CONSENT_QUEUE
            preexec_fn=lambda: _die_with_parent(signal.SIGTERM))
    try:
        run_consumer(huey, workers=workers, worker_type="process", max_delay=IDLE_POLL_MAX,
                     check_worker_health=True, health_check_interval=HEALTH_CHECK_S)
    finally:
        if analysers is not None:
            stop_worker_process(analysers)


def start_worker_process(app, workers: int) -> subprocess.Popen:
    """``consent worker`` beside the web server, over the same data folder; it ends with the server."""
    env = {**os.environ, "CONSENT_DATA": app.config["CONSENT_DATA"], "CONSENT_DB": app.config["CONSENT_DB"]}
    return subprocess.Popen(
        [sys.executable, "-m", "consent", "worker", "--workers", str(workers)],
        env=env, preexec_fn=lambda: _die_with_parent(signal.SIGTERM),
    )


def stop_worker_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ask the workers to finish the photos in hand, then stop them."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait()


def recover_at_start(app) -> int:
    """At server start: photos a stopped server or worker left behind go back in the queue."""
    place = photos.Place.from_app(app)
    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    try:
        return recover(place, db)
    finally:
        db.conn.close()


@click.command("worker")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: batch_workers in the settings); each loads the face models once.")
@click.option("--remote", metavar="REDIS_URL", is_flag=False, flag_value="CONSENT_QUEUE", default=None,
              help="Run on a machine without the register: only analyse photos (faces, kit, text) for the "
                   "main machine, from the Redis queue given (default: CONSENT_QUEUE, which keeps a password "
                   "out of the process list); --workers defaults to one per core.")
@click.option("--analysis-workers", type=click.IntRange(0, 64), default=None,
              help="With a Redis queue, on the main machine: processes that analyse photos beside the "
                   "workers (default: as many as --workers; 0: leave all analysis to remote machines).")
def worker_command(workers, remote, analysis_workers):
    """Check batch photos from the web app's queue until stopped (Ctrl+C).

    \b
    The queue is <data>/queue.db, or the Redis server in CONSENT_QUEUE (redis://HOST:6379/0)
    for workers on several machines; the data folder is CONSENT_DATA (default ./data).
    On the main machine (the register's): consent worker
    On any other machine (no register, no shared folder): consent worker --remote redis://HOST:6379/0
    With Redis, every machine needs the worker key: consent worker-key create on the main machine
    (data/worker.key), a copy on the others named by CONSENT_WORKER_KEY_FILE.
    """
    if remote is not None:
        url = remote_queue.remote_url(None if remote == "CONSENT_QUEUE" else remote)
        try:
            signing.load_key()
        except signing.WorkerKeyMissing as exc:
            raise click.ClickException(str(exc)) from None
        _wait_for_redis(url)
        remote_queue.run_remote_worker(url, workers or len(os.sched_getaffinity(0)), give_back)
        return
    try:
        url = queue_url()
        describe(place_from_env().data)  # with Redis: the worker key, or a clear refusal
    except QueueMisconfigured as exc:
        raise click.ClickException(str(exc))
    if url:
        _wait_for_redis(url)
        db_path = Path(place_from_env().db_path)
        if not db_path.exists():  # never make an empty register: every face would be "not recognised"
            raise click.ClickException(
                f"no register at {db_path}: run consent worker on the main machine (set CONSENT_DATA to its "
                "data folder), or consent worker --remote on a machine without the register")
    count = max(1, workers or place_from_env().settings.batch_workers)
    run_worker(count, count if analysis_workers is None else analysis_workers)


def _wait_for_redis(url: str) -> None:
    """Refuse to start, clearly, when the Redis server cannot be reached."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach the queue at {describe_url(url)} ({exc}); is redis-server running, "
                                   "and may this machine reach it?")
