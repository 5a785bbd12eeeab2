"""The batch queue on Huey: one task per photo, workers in ``consent worker`` processes.

Where the queue lives:

- by default ``SqliteHuey`` in ``<data>/queue.db``: a school's single server needs nothing
  more (``python -m web`` starts the worker processes beside the web server);
- with ``CONSENT_QUEUE=redis://host:port/db``, ``RedisHuey``: the web app and any number of
  ``consent worker`` processes, on this machine or others, share one queue (docs/operations.md).

The task is a thin shell: :func:`web.batch_jobs.process` checks the photo and stores its
result; it knows nothing about the queue. Workers are Huey's consumer with process workers;
each process loads the face models once, on its first photo (``web.check_thread``). When a
worker process starts, and every minute, :func:`recover` puts back in the queue any photo a
stopped worker or server left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from consent import settings as consent_settings

from . import batch_jobs, checked_photos
from .tables import connect

log = logging.getLogger("consent.worker")

#: name of the queue (Huey keeps several apart by name in one Redis database)
QUEUE_NAME = "consent-batch"
#: seconds between looks at an idle SQLite queue (Redis wakes a worker at once)
IDLE_POLL_MAX = 1.0
#: seconds between checks that every worker process is alive (a dead one is replaced)
HEALTH_CHECK_S = 2

_hueys: dict[str, object] = {}
_connections: dict[tuple, object] = {}


class QueueMisconfigured(Exception):
    """``CONSENT_QUEUE`` is set to something that is not a Redis address."""


def queue_url() -> str:
    """``CONSENT_QUEUE`` (a ``redis://`` address), or "" for the SQLite queue in the data folder."""
    url = os.environ.get("CONSENT_QUEUE", "").strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise QueueMisconfigured(
            f"CONSENT_QUEUE={url!r} is not a Redis address; use redis://HOST:6379/0, or leave it "
            "unset for the queue in the data folder")
    return url


def describe(data: Path) -> str:
    """Where the queue is, for start-up messages (a Redis password is not shown)."""
    url = queue_url()
    if not url:
        return f"SQLite {Path(data) / 'queue.db'}"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"Redis {parts.hostname or parts.path}:{parts.port or 6379}{parts.path if parts.hostname else ''}"


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

    if url:
        huey = RedisHuey(QUEUE_NAME, url=url, results=False)
    else:
        data.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(QUEUE_NAME, filename=str(data / "queue.db"), results=False,
                          timeout=consent_settings.DEFAULTS.register_busy_timeout_s)

    @huey.task(context=True, name="check_photo")
    def check_photo(check_id: str, task=None):
        place, db = worker_state()
        try:
            batch_jobs.process(db, place, check_id, batch_jobs.worker_name(), last_try=not task.retries)
        except batch_jobs.TryAgain as exc:
            log.warning("%s: %s; trying again (%d tries left)", check_id, exc, task.retries)
            raise CancelExecution(retry=True) from None

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
    return huey


def enqueue(place: checked_photos.Place, check_ids: list[str]) -> None:
    """Queue one task per photo, each retried up to ``batch_retries`` times when the register is busy."""
    huey = huey_for(place.data)
    task_class = huey.consent_check_photo.task_class
    for check_id in check_ids:
        huey.enqueue(task_class(args=(check_id,), retries=place.settings.batch_retries, retry_delay=2))


def queued_ids(huey) -> set[str]:
    """Photo ids of the tasks waiting in the queue or scheduled for a retry."""
    tasks = list(huey.pending()) + list(huey.scheduled())
    return {t.args[0] for t in tasks if t.name.endswith("check_photo") and t.args}


def recover(place: checked_photos.Place, db) -> int:
    """:func:`web.batch_jobs.recover` against this queue (several processes may run it at once:
    a photo queued twice is still checked once)."""
    n = batch_jobs.recover(db, place, queued_ids(huey_for(place.data)), lambda ids: enqueue(place, ids))
    if n:
        log.warning("%d photo(s) left behind by a stopped worker or server are queued again", n)
    return n


# --- the worker processes -------------------------------------------------------------------

_consumer_pid = os.getpid()


def place_from_env() -> checked_photos.Place:
    """Data folder, register and settings as the web app finds them (``CONSENT_DATA``, ``CONSENT_DB``)."""
    data = Path(os.environ.get("CONSENT_DATA") or "data").resolve()
    db_path = os.environ.get("CONSENT_DB") or str(data / "consent.db")
    return checked_photos.Place(data, db_path, consent_settings.load(data / "settings.toml"))


def worker_state():
    """This process's place and database connection (opened after any fork, once)."""
    key = (os.getpid(),)
    state = _connections.get(key)
    if state is None:
        place = place_from_env()
        state = _connections[key] = (place, connect(place.db_path, place.settings.register_busy_timeout_s))
    return state


def _die_with_parent(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no orphaned workers)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker notices its parent gone on its next photo at the latest


def run_worker(workers: int) -> None:
    """Run Huey's consumer with ``workers`` processes until stopped (SIGINT: finish the photos in
    hand; SIGTERM: stop at once; a photo stopped half-way is checked again later)."""
    global _consumer_pid
    _consumer_pid = os.getpid()
    place = place_from_env()
    huey = huey_for(place.data)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("huey").setLevel(logging.WARNING)
    log.info("consent worker: %d process(es), queue %s, data %s", workers, describe(place.data), place.data)
    consumer = huey.create_consumer(
        workers=workers, worker_type="process", max_delay=IDLE_POLL_MAX,
        check_worker_health=True, health_check_interval=HEALTH_CHECK_S,
    )
    consumer.run()


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
    place = checked_photos.Place.from_app(app)
    db = connect(place.db_path, place.settings.register_busy_timeout_s)
    try:
        return recover(place, db)
    finally:
        db.conn.close()


@click.command("worker")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: batch_workers in the settings); each loads the face models once.")
def worker_command(workers):
    """Check batch photos from the web app's queue until stopped (Ctrl+C).

    \b
    The queue is <data>/queue.db, or the Redis server in CONSENT_QUEUE (redis://HOST:6379/0)
    for workers on several machines; the data folder is CONSENT_DATA (default ./data).
    """
    try:
        url = queue_url()
    except QueueMisconfigured as exc:
        raise click.ClickException(str(exc))
    if url:
        _wait_for_redis(url)
    count = workers or place_from_env().settings.batch_workers
    run_worker(max(1, count))


def _wait_for_redis(url: str) -> None:
    """Refuse to start, clearly, when the Redis server cannot be reached."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach the queue at {describe(Path('.'))} ({exc}); is redis-server running?")
