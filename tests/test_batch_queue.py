"""The batch queue with real processes: servers and workers killed mid-job, a sweep racing a
job, a photo that breaks its worker, two workers on one queue. Each test runs against the
default SQLite queue and against a real ``redis-server`` started on a free local port."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from web.check import checked_photos
from web.core.db import connect

from tests.test_web_check import landscape_jpeg
from tests.web_helpers import PASSWORD, LiveServer

ROOT = Path(__file__).resolve().parent.parent
#: seconds each photo takes longer in the workers (CONSENT_TEST_SLOW_S), so "mid-job" is reliable
SLOW = "0.3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder: Path, port: int) -> subprocess.Popen:
    """redis-server on ``port`` of 127.0.0.1, keeping nothing on disk, answering PING."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        pytest.skip("redis-server is not installed (make install installs Debian's redis-server)")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.skip(f"redis-server did not start on port {port}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A private redis-server on a free 127.0.0.1 port (Debian's package; `make install` adds it)."""
    port = free_port()
    proc = start_redis(tmp_path_factory.mktemp("redis"), port)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def worker_key(tmp_path_factory) -> dict:
    """The environment naming a worker key (``consent worker-key create``), which every process
    of a Redis queue needs: the main machine's and the workers'."""
    from consent.jobs import signing

    path = tmp_path_factory.mktemp("key") / "worker.key"
    signing.create_key(path)
    return {signing.KEY_ENV: str(path)}


@pytest.fixture(params=["sqlite", "redis"])
def queue_env(request) -> dict:
    """Environment for servers and workers: the SQLite queue in the data folder, or Redis."""
    env = {"CONSENT_TEST_SLOW_S": SLOW}
    if request.param == "redis":
        import redis

        url = request.getfixturevalue("redis_server")
        redis.Redis.from_url(url).flushdb()
        env["CONSENT_QUEUE"] = url
        env.update(request.getfixturevalue("worker_key"))
    return env


# --- talking to a real server ------------------------------------------------------------------


class Client:
    """A signed-in HTTP client of a live server (cookies, CSRF token), as a browser would be."""

    def __init__(self, url: str, username: str = "comms"):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        token = self._token("/login")
        form = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
        self.opener.open(url + "/login", form, timeout=30).read()

    def _token(self, path: str) -> str:
        html = self.opener.open(self.url + path, timeout=30).read().decode()
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)

    def upload_zip(self, members: dict[str, bytes]) -> str:
        """Send a zip as a new batch job; returns the job id."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        boundary = uuid.uuid4().hex
        fields = {"csrf_token": self._token("/batch/"), "channel": "all", "title": "Sports day"}
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items())
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="zip"; filename="event.zip"\r\n'
                 "Content-Type: application/zip\r\n\r\n").encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.url + "/batch/", body, {  # the token in a header too, as the
            "Content-Type": f"multipart/form-data; boundary={boundary}",  # page sends it: a large body needs it
            "X-CSRF-Token": fields["csrf_token"]})
        with self.opener.open(request, timeout=60) as response:
            assert "/batch/" in response.geturl(), response.read()[:500]
            return response.geturl().rstrip("/").rsplit("/", 1)[1]


def photos(n: int) -> dict[str, bytes]:
    return {f"day/p{i:02d}.jpg": landscape_jpeg(i % 2 == 0) for i in range(n)}


def rows(data: Path, job_id: str) -> list[dict]:
    db = connect(data / "consent.db")
    try:
        return list(db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq"))
    finally:
        db.conn.close()


def wait_until(predicate, timeout: float = 90, what: str = "") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def finished(data: Path, job_id: str) -> int:
    return sum(r["state"] in ("done", "error") for r in rows(data, job_id))


def start_worker(data: Path, env: dict, workers: int = 2) -> subprocess.Popen:
    """``consent worker`` in its own process group (so it can be killed with its children)."""
    full = {**os.environ, "CONSENT_DATA": str(data), **env}
    full.pop("CONSENT_DB", None)
    log = open(data / f"worker-{time.time_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "consent", "worker", "--workers", str(workers)], cwd=ROOT,
                            env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    """kill -9 a process and every process it started (a power cut, as far as they can tell)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def assert_every_photo_checked_once(data: Path, job_id: str, n: int, errors: dict[str, str] | None = None):
    """Every photo accounted for: one row and one result each, done (or an explained failure),
    no original left behind, one safe copy per photo checked."""
    errors = errors or {}
    got = rows(data, job_id)
    assert sorted(r["name"] for r in got) == sorted(photos(n))
    for r in got:
        name = r["name"].rsplit("/", 1)[1]
        if name in errors:
            assert r["state"] == "error" and errors[name] in r["summary"], (r["name"], r["summary"])
        else:
            assert r["state"] == "done" and r["verdict"] == "ok" and r["stored"], (r["name"], r["summary"])
            safe = [p for p in checked_photos.Place(data, "", None).check_dir(r["id"]).rglob("*") if p.is_file()
                    and "safe" in p.parts]
            assert len(safe) == 1, safe
        assert r["upload_path"] is None
    assert not [p for p in (data / "web" / "jobs").rglob("*") if p.is_file()], "originals left behind"


# --- the tests ---------------------------------------------------------------------------------


def test_kill_9_of_server_and_workers_mid_job_then_restart_finishes_every_photo_once(tmp_path, queue_env):
    data = tmp_path / "data"
    n = 14
    with LiveServer(data, workers=0, extra_env=queue_env) as server:
        worker = start_worker(data, queue_env)
        job_id = Client(server.url).upload_zip(photos(n))
        wait_until(lambda: finished(data, job_id) >= 3, what="three photos checked")
        kill_group(server.process)
        kill_group(worker)
    assert finished(data, job_id) < n, "the job finished before the kill; make the photos slower"
    with LiveServer(data, workers=0, extra_env=queue_env):
        worker = start_worker(data, queue_env)
        try:
            wait_until(lambda: finished(data, job_id) == n, what="the job to finish after the restart")
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=30)
    assert_every_photo_checked_once(data, job_id, n)


def test_a_worker_process_killed_mid_photo_is_replaced_and_its_photo_checked_again(tmp_path, queue_env):
    data = tmp_path / "data"
    n = 8
    with LiveServer(data, workers=2, extra_env=queue_env) as server:
        job_id = Client(server.url).upload_zip(photos(n))
        held = []
        wait_until(lambda: held.extend(r["worker"] for r in rows(data, job_id) if r["state"] == "running") or held,
                   what="a photo in hand")
        os.kill(int(held[0].rsplit(":", 1)[1]), signal.SIGKILL)  # one worker process, not the server
        wait_until(lambda: finished(data, job_id) == n, what="the job to finish without a restart")
    assert_every_photo_checked_once(data, job_id, n)


def test_sweep_running_during_a_long_job_deletes_nothing_the_job_needs(tmp_path, queue_env):
    data = tmp_path / "data"
    n = 10
    with LiveServer(data, workers=2, extra_env=queue_env) as server:
        job_id = Client(server.url).upload_zip(photos(n))
        db = connect(data / "consent.db")
        place = checked_photos.Place(data, str(data / "consent.db"), server_settings(data))
        sweeps = 0
        while finished(data, job_id) < n:
            checked_photos.sweep(db, place, now=time.time() + 10 * 86400)  # everything "expired"
            sweeps += 1
            time.sleep(0.1)
        db.conn.close()
    assert sweeps > 3
    got = rows(data, job_id)
    assert [r["state"] for r in got] == ["done"] * n, [r["summary"] for r in got if r["state"] != "done"]


def server_settings(data: Path):
    from consent.settings import load

    return load(data / "settings.toml")


@pytest.mark.parametrize("hook, reason", [
    ("CONSENT_TEST_RAISE_ON", "internal error while checking"),  # the check raises
    ("CONSENT_TEST_EXIT_ON", "the checker stopped 2 times"),  # the worker process dies, each time
])
def test_a_photo_that_breaks_its_worker_loses_only_that_photo(tmp_path, queue_env, hook, reason):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.toml").write_text("batch_retries = 1\n")
    n = 5
    with LiveServer(data, workers=2, extra_env={**queue_env, hook: "p03"}) as server:
        job_id = Client(server.url).upload_zip(photos(n))
        wait_until(lambda: finished(data, job_id) == n, what="the job to finish")
    assert_every_photo_checked_once(data, job_id, n, errors={"p03.jpg": reason})


def test_two_workers_share_one_queue_and_no_photo_is_checked_twice(tmp_path, queue_env):
    data = tmp_path / "data"
    n = 16
    with LiveServer(data, workers=0, extra_env=queue_env) as server:
        workers = [start_worker(data, queue_env, workers=1) for _ in range(2)]
        try:
            job_id = Client(server.url).upload_zip(photos(n))
            wait_until(lambda: finished(data, job_id) == n, what="the job to finish")
        finally:
            for w in workers:
                w.send_signal(signal.SIGINT)
            for w in workers:
                w.wait(timeout=30)
    got = rows(data, job_id)
    assert [r["attempts"] for r in got] == [1] * n  # each photo taken once, by one worker
    assert len({r["worker"] for r in got}) == 2  # both worker processes took photos
    assert_every_photo_checked_once(data, job_id, n)


def test_redis_restarting_empty_mid_job_loses_no_photo(tmp_path, worker_key):
    # Redis keeps the queue in memory only (as a school would run it, no persistence): when it
    # dies and comes back empty, the tasks waiting in it are gone; the photos are not, because
    # the register's own table says which are unfinished, and the workers' recovery (every
    # minute, and at start) puts them back in the queue
    port = free_port()
    (tmp_path / "redis-1").mkdir()
    redis_proc = start_redis(tmp_path / "redis-1", port)
    env = {"CONSENT_TEST_SLOW_S": "1.0", "CONSENT_QUEUE": f"redis://127.0.0.1:{port}/0", **worker_key}
    data = tmp_path / "data"
    n = 10
    try:
        with LiveServer(data, workers=0, extra_env=env) as server:
            worker = start_worker(data, env, workers=1)
            try:
                job_id = Client(server.url).upload_zip(photos(n))
                wait_until(lambda: finished(data, job_id) >= 2, what="two photos checked")
                redis_proc.kill()  # kill -9: every waiting task is lost with it
                redis_proc.wait()
                assert finished(data, job_id) < n, "the job finished before Redis went down"
                time.sleep(3)  # the workers and the server see the queue gone
                (tmp_path / "redis-2").mkdir()
                redis_proc = start_redis(tmp_path / "redis-2", port)
                wait_until(lambda: finished(data, job_id) == n, timeout=240,
                           what="every photo checked after Redis came back empty")
            finally:
                worker.send_signal(signal.SIGINT)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    kill_group(worker)
        assert_every_photo_checked_once(data, job_id, n)
        # the outage is said in a line or two, not a traceback at every poll
        (log,) = [p.read_text(errors="replace") for p in data.glob("worker-*.log")]
        assert "Error reading" not in log
        assert 1 <= log.count("the queue cannot be read") <= 4, log[-3000:]
    finally:
        redis_proc.kill()
        redis_proc.wait()


def test_a_queue_that_cannot_be_read_is_said_once_a_minute_not_at_every_poll(monkeypatch):
    import logging

    from consent.jobs import remote_queue

    clock = [1000.0]
    monkeypatch.setattr(remote_queue.time, "monotonic", lambda: clock[0])
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Keep()
    handler.addFilter(remote_queue.QueueOutage())
    worker = logging.getLogger("huey.consumer.Worker-1")
    worker.addHandler(handler)
    try:
        for _ in range(120):  # two minutes of polls, one a second
            try:
                raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
            except ConnectionError:
                worker.exception("Error reading from queue")
            clock[0] += 1.0
        worker.warning("something else")
    finally:
        worker.removeHandler(handler)
    assert len(seen) == 3, seen
    assert seen[0] == ("the queue cannot be read (ConnectionError: Error 111 connecting to 127.0.0.1:6390. "
                       "Connection refused.); first failure; retrying, and saying so once a minute")
    assert "60 failed reads since the last message" in seen[1] and "Traceback" not in "".join(seen)
    assert seen[2] == "something else"


def test_a_worker_checks_its_next_photo_with_settings_changed_since_it_started(tmp_path, monkeypatch):
    # a worker process's state, as the queue's task reads it before every photo (no restart)
    from consent.jobs import batch_queue

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CONSENT_DATA", str(data))
    monkeypatch.delenv("CONSENT_DB", raising=False)
    monkeypatch.setattr(batch_queue, "_connections", {})
    place, db = batch_queue.worker_state()
    assert place.settings.min_identifiable_face_px == 40
    toml = data / "settings.toml"
    toml.write_text("min_identifiable_face_px = 30\n")  # an admin saves a stricter value
    os.utime(toml, ns=(1, 10**18))  # a different time even on a coarse file-system clock
    place, same_db = batch_queue.worker_state()
    assert place.settings.min_identifiable_face_px == 30 and same_db is db
    toml.write_text("min_identifiable_face_px = 100000\n")  # out of range: logged, the last good ones kept
    os.utime(toml, ns=(1, 2 * 10**18))
    assert batch_queue.worker_state()[0].settings.min_identifiable_face_px == 30
    toml.unlink()  # back to the defaults
    assert batch_queue.worker_state()[0].settings.min_identifiable_face_px == 40
    db.conn.close()


def test_the_check_thread_checks_with_the_settings_it_is_given_and_lets_the_old_ones_go(tmp_path, monkeypatch):
    import dataclasses

    from consent.settings import DEFAULTS
    from consent.jobs import check_thread

    monkeypatch.setattr(check_thread, "_checkers", {})
    db_path = str(tmp_path / "consent.db")
    stricter = dataclasses.replace(DEFAULTS, min_identifiable_face_px=30)
    assert check_thread._checker(db_path, DEFAULTS).settings is DEFAULTS
    assert check_thread._checker(db_path, dataclasses.replace(DEFAULTS)) is check_thread._checker(db_path, DEFAULTS)
    assert check_thread._checker(db_path, stricter).settings.min_identifiable_face_px == 30
    assert len(check_thread._checkers) == 1


STOPPED_WHILE_STARTING = """
import logging, signal, sys
from huey import SqliteHuey
from consent.jobs.remote_queue import hold_stop_signals, run_consumer
logging.basicConfig(level=logging.INFO, format="%(message)s")
hold_stop_signals()
signal.raise_signal(signal.SIGINT)  # a Ctrl-C before the consumer has started
print("held", flush=True)
run_consumer(SqliteHuey(filename=sys.argv[1]), workers=1, worker_type="process")
print("stopped", flush=True)
"""


def test_a_ctrl_c_while_a_worker_starts_stops_it_once_started_and_never_hangs(tmp_path):
    """A Ctrl-C as the consumer forked its processes hung ``consent worker`` for ever (the
    KeyboardInterrupt landed in logging's fork handler, its lock held): 2 hangs in 40 Ctrl-Cs
    given in the first 50 ms. Now it is held, and given to the consumer once it has started."""
    run = subprocess.run([sys.executable, "-c", STOPPED_WHILE_STARTING, str(tmp_path / "q.db")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["held", "stopped"]
    assert "Received SIGINT" in run.stderr and "Consumer exiting" in run.stderr


def test_a_second_ctrl_c_while_a_worker_starts_stops_it_at_once():
    from consent.jobs.remote_queue import hold_stop_signals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        hold_stop_signals()
        signal.raise_signal(signal.SIGINT)  # held
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
