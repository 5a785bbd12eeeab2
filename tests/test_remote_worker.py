"""Workers on other machines (``consent worker --remote``), with real processes and a real
``redis-server`` on a free local port.

A "remote machine" here is a separate process started in its own empty folder (working
directory, CONSENT_DATA, HOME and TMPDIR all inside it), given nothing but the Redis address:
no path of the main machine's data folder reaches it. The tests check that it never makes a
register, that its analyses give the same verdicts as a check on the main machine, and that
killing it mid-batch loses no photo and checks none twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import copy_register, fixture_dir
from tests.test_batch_queue import (ROOT, Client, assert_every_photo_checked_once, finished, kill_group, photos,
                                    redis_server, rows, wait_until, worker_key)
from tests.test_check import enrolled_db  # noqa: F401  (a fixture: the five fixture people enrolled)
from tests.web_helpers import LiveServer

__all__ = ["redis_server", "worker_key"]


@pytest.fixture
def redis_url(redis_server, worker_key):  # noqa: F811
    """The Redis queue, emptied, with the worker key in this process's environment (the main
    machine's and every remote machine's: they share it)."""
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    os.environ.update(worker_key)
    yield redis_server
    for name in worker_key:
        os.environ.pop(name, None)


def start_main_worker(data: Path, url: str) -> subprocess.Popen:
    """``consent worker`` on the main machine, leaving every analysis to the remote workers."""
    env = {**os.environ, "CONSENT_DATA": str(data), "CONSENT_QUEUE": url}
    env.pop("CONSENT_DB", None)
    log = open(data / f"main-worker-{time.time_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "consent", "worker", "--workers", "1", "--analysis-workers", "0"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


class RemoteMachine:
    """``consent worker --remote URL`` in a folder of its own, sharing nothing with the main
    machine but the Redis address."""

    def __init__(self, home: Path, url: str, extra_env: dict | None = None):
        self.home = home
        (home / "tmp").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
        env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "CONSENT_DATA": str(home / "data"),
                    "CONSENT_WORKER_KEY_FILE": os.environ["CONSENT_WORKER_KEY_FILE"],  # its copy of the key
                    "PYTHONPATH": str(ROOT),  # the code under test, wherever the package is installed from
                    **(extra_env or {})})
        self.log_path = home / "worker.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consent", "worker", "--remote", url, "--workers", "1"],
            cwd=home, env=env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def analysed(self) -> int:
        return self.log().count(" analysed ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(self.process)

    def assert_kept_nothing(self) -> None:
        """No register, no data folder, no photo left behind on the remote machine: the only
        files are onnxruntime's own (its device id and session files under HOME and TMPDIR)."""
        assert not (self.home / "data").exists(), "the remote worker made a data folder"
        left = [p.relative_to(self.home) for p in self.home.rglob("*") if p.is_file() and p != self.log_path
                and ".onnxruntime" not in p.parts and p.relative_to(self.home) != Path("tmp/.ses")]
        assert not left, f"the remote worker left files behind: {left}"


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_group(process)


def run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "consent", "worker", *args], cwd=cwd,
                          env={**env, "PYTHONPATH": str(ROOT)},  # the code under test
                          capture_output=True, text=True, timeout=60)


def test_a_remote_worker_needs_a_redis_queue_and_says_so(tmp_path, redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
    missing = run(["--remote"], env, tmp_path)
    assert missing.returncode == 1 and "a remote worker needs a Redis queue" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr
    sqlite = run(["--remote", str(tmp_path / "data" / "queue.db")], env, tmp_path)
    assert sqlite.returncode == 1 and "is not a Redis address" in sqlite.stderr, sqlite.stderr
    assert "cannot be shared between machines" in sqlite.stderr
    # a plain worker on a machine without the register refuses, instead of making an empty one
    plain = run([], {**env, "CONSENT_QUEUE": redis_url, "CONSENT_DATA": str(tmp_path / "data"),
                     "CONSENT_WORKER_KEY_FILE": os.environ["CONSENT_WORKER_KEY_FILE"]}, tmp_path)
    assert plain.returncode == 1 and "no register at" in plain.stderr and "--remote" in plain.stderr, plain.stderr
    assert not (tmp_path / "data" / "consent.db").exists()


def test_photos_analysed_on_a_remote_machine_get_the_verdicts_of_a_local_check(tmp_path, redis_url, enrolled_db):  # noqa: F811
    from consent.batch import BatchOptions, Job, check_photo
    from consent.check import Checker

    people = fixture_dir("people", "test")
    data = tmp_path / "data"
    data.mkdir()
    copy_register(enrolled_db, data)
    members = {f"day/{p.name}": p.read_bytes() for p in sorted(people.iterdir())}
    members.update(photos(2))
    members["day/broken.jpg"] = b"\xff\xd8\xff\xe0 not a photo"  # the remote cannot read it: checked here
    n = len(members)
    with LiveServer(data, workers=0, extra_env={"CONSENT_QUEUE": redis_url}) as server:
        main = start_main_worker(data, redis_url)
        remote = RemoteMachine(tmp_path / "remote", redis_url)
        try:
            job_id = Client(server.url).upload_zip(members)
            wait_until(lambda: finished(data, job_id) == n, timeout=600, what="the job to finish")
        finally:
            remote.stop()
            stop(main)
    assert remote.analysed() == n - 1, remote.log()[-3000:]  # every analysis was the remote machine's
    remote.assert_kept_nothing()
    named = [name for name in members if Path(name).name in remote.log()]
    assert not named, f"the remote worker's log names photos: {named}"  # photo ids only

    got = {r["name"]: r for r in rows(data, job_id)}
    assert sorted(got) == sorted(members)
    broken = got.pop("day/broken.jpg")
    members.pop("day/broken.jpg")
    assert broken["state"] == "error" and "broken.jpg" in broken["summary"], broken["summary"]
    assert "consent-remote" not in broken["summary"] and "/tmp" not in broken["summary"]  # said as the main machine says it
    # the same photos checked on the main machine alone, as the web app's batch checks them
    reference = tmp_path / "reference"
    reference.mkdir()
    checker = Checker(copy_register(enrolled_db, reference))
    matched_someone = 0
    for name, data_bytes in members.items():
        path = reference / name.replace("/", "_")
        path.write_bytes(data_bytes)
        local = check_photo(checker, Job(str(path), name), BatchOptions())
        row = got[name]
        assert row["state"] == "done", (name, row["summary"])
        stored = json.loads(row["stored"])["check"]
        faces = [(f["match"], f.get("person_id")) for f in stored["analysis"]["faces"]]
        assert faces == [(f.match, f.person_id) for f in local.faces], name
        assert stored["verdicts"] == {c: v.verdict for c, v in local.verdicts.items()}, name
        assert row["verdict"] == local.verdict, name
        matched_someone += any(m == "matched" for m, _ in faces)
    assert matched_someone == len(list(people.iterdir())), "the register recognised nobody: matching did not run"


def test_killing_a_remote_worker_mid_batch_loses_no_photo_and_checks_none_twice(tmp_path, redis_url):
    import redis

    from consent.jobs.remote_queue import ANALYSING

    data = tmp_path / "data"
    n = 8
    conn = redis.Redis.from_url(redis_url)
    with LiveServer(data, workers=0, extra_env={"CONSENT_QUEUE": redis_url}) as server:
        main = start_main_worker(data, redis_url)
        first = RemoteMachine(tmp_path / "remote-1", redis_url, {"CONSENT_TEST_SLOW_ANALYSIS_S": "1.5"})
        second = None
        try:
            job_id = Client(server.url).upload_zip(photos(n))
            wait_until(lambda: finished(data, job_id) >= 2 and conn.hlen(ANALYSING) == 1, timeout=300,
                       what="two photos checked and a third in the remote worker's hands")
            held = json.loads(next(iter(conn.hvals(ANALYSING))))["worker"]
            kill_group(first.process)  # the remote machine loses power mid-photo
            assert finished(data, job_id) < n
            second = RemoteMachine(tmp_path / "remote-2", redis_url)
            wait_until(lambda: finished(data, job_id) == n, timeout=300, what="the job to finish on the second machine")
        finally:
            for machine in (first, second):
                if machine is not None:
                    machine.stop()
            stop(main)
    assert f"the process analysing it ({held}) stopped; sent out again" in second.log(), second.log()[-3000:]
    assert first.analysed() + second.analysed() >= n
    assert [r["attempts"] for r in rows(data, job_id)] == [1] * n  # each photo stored once, by one claim
    assert_every_photo_checked_once(data, job_id, n)
    second.assert_kept_nothing()
    assert not conn.keys("consent.photo.*"), "photo bytes left in Redis"
