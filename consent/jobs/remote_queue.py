"""The analysis queue (Redis only): photo analysis on machines that hold no register.

With ``CONSENT_QUEUE=redis://...`` a batch photo goes through two queues:

1. the main queue (``consent-batch``, served only by ``consent worker`` on the main machine,
   beside the register): its first task sends the photo out: the bytes go to Redis under
   ``consent.photo.<id>`` (expiring after :data:`PHOTO_TTL_S`), and a task naming it, with the
   settings to analyse it with (:func:`consent.remote.config`), goes on
2. the analysis queue (``consent-pixels``), served by ``consent worker --remote`` on any
   machine and by the main machine's own analysis processes: the worker analyses the bytes
   (:func:`consent.remote.analyse_bytes`), puts the analysis (face boxes, encodings, kit and
   text measures; no names) back on the main queue, and deletes the bytes;
3. the main machine matches, judges and stores the photo (``consent.jobs.batch_jobs.process``), with
   every rule of the main queue: claimed once, stored once, original deleted only after.

Nothing of the register travels: no names, no consent, no face templates. A photo a remote
machine cannot analyse is checked on the main machine instead, which records why.

Every task is signed by the main machine and every result by the worker, with the worker key
(:mod:`consent.jobs.signing`); tasks travel as JSON, never pickle. A worker refuses a task whose
signature, or whose photo bytes, do not match; the main machine refuses a result whose
signature does not, and analyses that photo itself. Workers' logs name photos by their id only
(never by file name), and a worker deletes any ``consent-remote-*`` file a killed analysis
left in its temporary folder when it starts and once a minute.

A remote worker that dies mid-photo loses nothing: each analysis process records the photo it
holds in ``consent.analysing`` and keeps a key ``consent.alive.<host:pid>`` alive (expiring
after :data:`ALIVE_TTL_S`); any analysis process that finds a photo held by a process whose key
has expired sends the photo out again (a photo that stopped :data:`MAX_TRIES` workers is checked
on the main machine). The main machine's minute-by-minute recovery counts these photos as
queued, so it does not send them twice.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import threading
import time

import click

from consent.vision.models import one_thread_per_process

from . import signing

log = logging.getLogger("consent.worker")

#: seconds between looks at an idle SQLite queue (Redis wakes a worker at once)
IDLE_POLL_MAX = 1.0
#: seconds between checks that every worker process is alive (a dead one is replaced)
HEALTH_CHECK_S = 2
#: name of the analysis queue
QUEUE_NAME = "consent-pixels"
#: seconds a photo's bytes wait in Redis for an analysis before they expire
PHOTO_TTL_S = 2 * 86400
#: seconds an analysis process's "alive" key lasts; it is renewed every HEARTBEAT_S
ALIVE_TTL_S = 10
HEARTBEAT_S = 2
#: analysis processes that may stop on one photo before it is checked on the main machine
MAX_TRIES = 3
#: Redis hash: photo id -> the analysis process holding it and the task to send again
ANALYSING = "consent.analysing"

_hueys: dict[str, object] = {}


def worker_logging() -> None:
    """A worker's log: its own lines and Huey's warnings, with a queue that cannot be read said
    once a minute (:class:`QueueOutage`) instead of a traceback at every poll."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("huey").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QueueOutage) for f in handler.filters):
            handler.addFilter(QueueOutage())


class QueueOutage(logging.Filter):
    """While the queue server is down, each Huey worker process logs "Error reading from queue"
    (and the scheduler "Error reading schedule.") with a traceback every time it polls, up to
    once a second each: a ten-minute Redis outage would write thousands of tracebacks. This
    keeps one line per process and message every :data:`EVERY` seconds, saying what is wrong
    and how many reads failed since the last line."""

    #: seconds between two lines about the same outage
    EVERY = 60.0
    #: what Huey's workers and scheduler log at each failed poll
    MESSAGES = ("Error reading from queue", "Error reading schedule.")

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, float] = {}
        self.hidden: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("huey.consumer") or record.msg not in self.MESSAGES:
            return True
        key = f"{record.name}: {record.msg}"
        now = time.monotonic()
        if now - self.last.get(key, -self.EVERY) < self.EVERY:
            self.hidden[key] = self.hidden.get(key, 0) + 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        reason = f"{type(error).__name__}: {error}" if error is not None else "no reason given"
        missed = self.hidden.pop(key, 0)
        record.msg = "the queue cannot be read (%s); %s; retrying, and saying so once a minute"
        record.args = (reason, f"{missed + 1} failed reads since the last message" if missed else "first failure")
        record.exc_info, record.exc_text = None, None
        self.last[key] = now
        return True


_checkers: dict[str, object] = {}


def die_with_parent(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no orphaned workers)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker notices its parent gone on its next photo at the latest


#: stop signals received while a consumer starts (:func:`hold_stop_signals`), acted on once it has
_held_signals: list[int] = []


def hold_stop_signals() -> None:
    """Keep SIGINT and SIGTERM, unacted on, until :func:`run_consumer` has started Huey's consumer.

    Python turns a Ctrl-C into an exception wherever the main thread is. While the consumer forks
    its processes, that is inside logging's fork handlers: the exception leaves logging's lock held
    and the worker hangs for ever instead of stopping (seen once in about a dozen Ctrl-Cs given
    in the first second). A second signal while held stops the process at once."""
    _held_signals.clear()

    def held(signum, frame):
        if _held_signals:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        _held_signals.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, held)


def run_consumer(huey, **options) -> None:
    """Run Huey's consumer until stopped; a stop signal held by :func:`hold_stop_signals` is
    given to it as soon as its own handlers are in place (SIGINT: finish the photos in hand;
    SIGTERM: stop at once)."""
    from huey.consumer import Consumer

    class HeldSignalsConsumer(Consumer):
        def start(self):
            super().start()  # sets the consumer's signal handlers last
            while _held_signals:
                signal.raise_signal(_held_signals.pop(0))

    HeldSignalsConsumer(huey, **options).run()


def describe_url(url: str) -> str:
    """A Redis address as messages show it: host, port and database, whether it is TLS and has
    a password; never the user name or password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    auth = " with a password" if parts.password else ""
    if parts.scheme == "unix":
        return f"Redis socket {parts.path}{auth}"
    db = parts.path.strip("/")
    where = f"{parts.hostname}:{parts.port or 6379}" + (f"/{db}" if db not in ("", "0") else "")
    return f"Redis {where}{' (TLS)' if parts.scheme == 'rediss' else ''}{auth}"


def photo_key(check_id: str) -> str:
    return f"consent.photo.{check_id}"


def alive_key(worker: str) -> str:
    return f"consent.alive.{worker}"


def remote_url(url: str | None) -> str:
    """The Redis address a remote worker is to use (``url``, else ``CONSENT_QUEUE``), or a
    :class:`click.ClickException` saying why a remote worker cannot run without one."""
    url = (url if url is not None else os.environ.get("CONSENT_QUEUE", "")).strip()
    if not url:
        raise click.ClickException(
            "a remote worker needs a Redis queue: give its address (consent worker --remote "
            "redis://:PASSWORD@HOST:6379/0) or set CONSENT_QUEUE; the queue in the data folder (SQLite) "
            "cannot be shared between machines")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise click.ClickException(
            f"a remote worker needs a Redis queue, and {url!r} is not a Redis address (redis://HOST:6379/0); "
            "the queue in the data folder (SQLite) cannot be shared between machines")
    return url


def pixels_huey(url: str):
    """The analysis queue's Huey (made once per process)."""
    huey = _hueys.get(url)
    if huey is None:
        huey = _hueys[url] = _make_huey(url)
    return huey


def _make_huey(url: str):
    from huey import RedisHuey

    huey = RedisHuey(QUEUE_NAME, url=url, results=False, serializer=signing.JsonSerializer())

    @huey.task(name="analyse_photo")
    def analyse_photo(check_id: str, suffix: str, cfg: dict, tries: int = 0, signature: str | None = None):
        analyse(url, check_id, suffix, cfg, tries, signature)

    @huey.on_startup("consent-analysis")
    def startup():
        if os.getpid() != _consumer_pid:
            die_with_parent(signal.SIGKILL)  # a process worker never outlives its consumer
        threading.Thread(target=_heartbeat, args=(url,), name="consent-heartbeat", daemon=True).start()

    huey.consent_analyse_photo = analyse_photo
    return huey


def _conn(url: str):
    return pixels_huey(url).storage.conn


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- the main machine's side --------------------------------------------------------------------


def task_signature(key: bytes, check_id: str, photo_sha256: str, suffix: str, cfg: dict) -> str:
    """The main machine's signature of an analysis task: the photo's id, its bytes' hash, its
    suffix and the settings to analyse it with (not the try count, which a worker raises when
    it sends a photo out again)."""
    return signing.sign(key, "task", check=check_id, photo=photo_sha256, suffix=suffix, config=cfg)


def send(url: str, check_id: str, data: bytes, suffix: str, cfg: dict, *, key: bytes) -> None:
    """Put a photo's bytes in Redis and its signed analysis task on the analysis queue."""
    _conn(url).set(photo_key(check_id), data, ex=PHOTO_TTL_S)
    _enqueue(url, check_id, suffix, cfg, 0, task_signature(key, check_id, signing.photo_hash(data), suffix, cfg))


def _enqueue(url: str, check_id: str, suffix: str, cfg: dict, tries: int, signature: str | None) -> None:
    huey = pixels_huey(url)
    huey.enqueue(huey.consent_analyse_photo.s(check_id, suffix, cfg, tries, signature))


def forget(url: str, check_id: str) -> None:
    """Delete a photo's bytes from Redis (its result is stored, or it is checked on the main machine)."""
    _conn(url).delete(photo_key(check_id))


def waiting_ids(url: str, max_age: float) -> set[str]:
    """Photos waiting in the analysis queue, or held by an analysis process for less than
    ``max_age`` seconds (one held longer, by a process that hangs, may be sent out again)."""
    huey = pixels_huey(url)
    conn = huey.storage.conn
    ids = {t.args[0] for t in huey.pending() if t.name.endswith("analyse_photo") and t.args}
    now = _now(conn)
    return ids | {k.decode() for k, raw in conn.hgetall(ANALYSING).items() if now - json.loads(raw)["at"] < max_age}


def _now(conn) -> float:
    """The Redis server's clock: one clock for every machine."""
    seconds, micros = conn.time()
    return seconds + micros / 1e6


# --- an analysis process (any machine) ----------------------------------------------------------


def _checker(cfg: dict):
    """One PixelChecker per process and configuration: the models load once per process."""
    from consent.cache import fingerprint
    from consent.remote import PixelChecker

    key = fingerprint(cfg)
    if key not in _checkers:
        _checkers.clear()
        _checkers[key] = PixelChecker(cfg)
    return _checkers[key]


#: the worker key of this analysis process (read when the worker starts: :func:`run_remote_worker`)
_key: bytes | None = None


def _worker_key() -> bytes:
    global _key
    if _key is None:
        _key = signing.load_key()
    return _key


def analyse(url: str, check_id: str, suffix: str, cfg: dict, tries: int, signature: str | None = None) -> None:
    """Analyse one photo from Redis and put the signed result on the main queue (never raises
    for a bad photo: the main machine then checks it itself and records why).

    A task that is not signed with the worker key, or whose bytes in Redis are not the ones
    signed, is refused: nothing is analysed, nothing sent back, and the bytes are left alone
    (the genuine task, if there is one, still comes)."""
    from consent.errors import ConsentError
    from consent.remote import analyse_bytes, sign_result

    key = _worker_key()
    conn = _conn(url)
    data = conn.get(photo_key(check_id))
    sha = signing.photo_hash(data) if data is not None else None
    if data is not None and not signing.verify(key, signature, "task", check=check_id, photo=sha, suffix=suffix,
                                               config=cfg):
        log.warning("%r: refused a task not signed with this worker's key (or whose photo bytes were changed); "
                    "nothing analysed", str(check_id)[:40])  # repr: whoever wrote it chose the text
        return
    conn.hset(ANALYSING, check_id, json.dumps({"worker": worker_name(), "at": _now(conn),
                                               "args": [check_id, suffix, cfg, tries, signature]}))
    if data is None:  # analysed already (a task sent twice), or waited longer than PHOTO_TTL_S
        analysed = {"local": "the photo was no longer in the queue"}
    else:
        _test_hook()
        t = time.perf_counter()
        try:
            analysed = analyse_bytes(data, suffix, cfg, _checker(cfg))
            log.info("analysed %s in %.2f s", check_id, time.perf_counter() - t)
        except ConsentError as exc:  # said without the file's name (the main machine names it)
            log.info("%s: unreadable here (%s); the main machine checks it", check_id, type(exc).__name__)
            analysed = {"local": str(exc)}
        except Exception as exc:  # a bug here must not lose the photo: the main machine checks it
            log.error("%s: could not analyse (%s)", check_id, type(exc).__name__)
            log.debug("the error", exc_info=True)
            analysed = {"local": f"internal error while analysing ({type(exc).__name__})"}
    _return(url, check_id, sign_result(key, sha, analysed), cfg)
    conn.delete(photo_key(check_id))
    conn.hdel(ANALYSING, check_id)


#: how an analysis goes back to the main queue (``consent.jobs.batch_queue.give_back``; set by the worker)
_give_back = None


def _return(url: str, check_id: str, analysed: dict, cfg: dict) -> None:
    """Put a photo's analysis (or the reason it has none) on the main queue."""
    _give_back(check_id, analysed, int(cfg["settings"].get("batch_retries", 3)))


def _test_hook() -> None:
    """``CONSENT_TEST_SLOW_ANALYSIS_S``: seconds each analysis takes longer (fault tests)."""
    delay = float(os.environ.get("CONSENT_TEST_SLOW_ANALYSIS_S") or 0)
    if delay:
        time.sleep(delay)


#: seconds between two looks for ``consent-remote-*`` files left in the temporary folder
TEMP_SWEEP_S = 60


def _heartbeat(url: str) -> None:
    """Keep this process's "alive" key, send out again photos held by stopped processes, and
    once a minute delete temporary files that killed analyses left."""
    conn, me, swept = _conn(url), worker_name(), time.monotonic()
    while True:
        try:
            conn.set(alive_key(me), "1", ex=ALIVE_TTL_S)
            rescue(url)
        except Exception as exc:  # Redis away for a moment: try again at the next beat
            log.warning("heartbeat: %s", exc)
        if time.monotonic() - swept > TEMP_SWEEP_S:
            swept = time.monotonic()
            sweep_temp()
        time.sleep(HEARTBEAT_S)


def sweep_temp() -> int:
    """Delete ``consent-remote-*`` files killed analyses left in this machine's temporary folder."""
    from consent.remote import remove_temp_leftovers

    n = remove_temp_leftovers()
    if n:
        log.warning("deleted %d temporary photo file(s) left by analyses that were stopped", n)
    return n


def rescue(url: str) -> int:
    """Send out again every photo held by an analysis process that stopped; returns how many."""
    conn, n = _conn(url), 0
    now = _now(conn)
    for check_id, raw in conn.hgetall(ANALYSING).items():
        held = json.loads(raw)
        if now - held["at"] < ALIVE_TTL_S or conn.exists(alive_key(held["worker"])):
            continue
        if not conn.hdel(ANALYSING, check_id):
            continue  # another process took it first
        check_id, suffix, cfg, tries, signature = (held["args"] + [None])[:5]
        n += 1
        if tries + 1 >= MAX_TRIES:
            log.warning("%s: %d analysis processes stopped on it; it is checked on the main machine", check_id, tries + 1)
            _return(url, check_id, signed_reply(None, {"local": f"{tries + 1} analysis processes stopped on it"}), cfg)
            forget(url, check_id)  # its bytes are not needed any more
        else:
            log.warning("%s: the process analysing it (%s) stopped; sent out again", check_id, held["worker"])
            _enqueue(url, check_id, suffix, cfg, tries + 1, signature)
    return n


def signed_reply(sha: str | None, reply: dict) -> dict:
    from consent.remote import sign_result

    return sign_result(_worker_key(), sha, reply)


_consumer_pid = os.getpid()


def run_remote_worker(url: str, workers: int, give_back) -> None:
    """Serve the analysis queue with ``workers`` processes until stopped; each analysis goes
    back through ``give_back(check_id, analysed, retries)``. Never opens a register or a data
    folder: everything comes with the work."""
    global _consumer_pid, _give_back, _key

    _consumer_pid, _give_back = os.getpid(), give_back
    os.environ["CONSENT_QUEUE"] = url  # the main queue, for the results, is on the same server
    path = signing.key_path().resolve()
    _key = signing.load_key(path)  # WorkerKeyMissing: the command says what to do
    os.environ[signing.KEY_ENV] = str(path)  # for the process workers, whatever they read
    worker_logging()
    hold_stop_signals()
    sweep_temp()
    log.info("consent worker --remote: %d analysis process(es), queue %s, worker key %s; they open no register "
             "or data folder", workers, describe_url(url), signing.key_id(_key))
    if workers > 1:  # one check per core: each process's models on one thread
        one_thread_per_process()
    run_consumer(pixels_huey(url), workers=workers, worker_type="process", max_delay=IDLE_POLL_MAX,
                 check_worker_health=True, health_check_interval=HEALTH_CHECK_S)
