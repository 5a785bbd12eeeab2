"""A tampered analyser on the Redis queue, with a real ``redis-server``, web server and main worker.

The attack of issue 27: with ``consent worker --analysis-workers 0``, something on the network
takes the analysis tasks from Redis, deletes every face from the analyses and gives them back
(unsigned, signed with another key, or with the genuine signature of the untouched analysis).
The main machine must refuse each result, analyse the photo itself and judge it as a local
check would: the never-publish pupil is still found, and nothing forged reaches the analysis
cache that later checks read.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import copy_register, fixture_dir
from tests.test_batch_queue import Client, finished, redis_server, rows, wait_until, worker_key
from tests.test_check import enrolled_db  # noqa: F401  (a fixture: the five fixture people enrolled)
from tests.test_remote_worker import redis_url, start_main_worker, stop
from tests.web_helpers import LiveServer

__all__ = ["redis_server", "redis_url", "worker_key"]

#: zip member -> how the forger gives its analysis back
ATTACKS = {"day/obama_and_biden.jpg": "wrong key", "day/obama1.jpg": "unsigned",
           "day/alex_lacamoire1.jpg": "changed after signing"}


def take_tasks(url: str, n: int, timeout: float = 120) -> list:
    """The forger: take ``n`` analysis tasks from the analysis queue, as any Redis client can."""
    from consent.jobs.remote_queue import pixels_huey

    huey, tasks, deadline = pixels_huey(url), [], time.time() + timeout
    while len(tasks) < n:
        task = huey.dequeue()
        if task is not None and task.args[0] not in {t.args[0] for t in tasks}:
            tasks.append(task)
        elif task is None:
            assert time.time() < deadline, f"only {len(tasks)} analysis tasks came"
            time.sleep(0.2)
    return tasks


def forge(url: str, task, how: str) -> dict:
    """The analysis the forger gives back for ``task``: its true analysis with every face deleted."""
    from consent.jobs import signing
    from consent.jobs.remote_queue import photo_key, pixels_huey
    from consent.remote import analyse_bytes, sign_result

    check_id, suffix, cfg = task.args[:3]
    data = pixels_huey(url).storage.conn.get(photo_key(check_id))
    sha = signing.photo_hash(data)
    true = analyse_bytes(data, suffix, cfg)
    assert true["analysis"]["faces"], "the photo has no face to delete: the attack would prove nothing"
    lie = {**true, "analysis": {**true["analysis"], "faces": []}, "encodings": {}}
    if how == "unsigned":
        return lie
    if how == "wrong key":
        return sign_result(os.urandom(32), sha, lie)
    genuine = sign_result(signing.load_key(), sha, true)  # as an honest worker would have signed it
    return {**lie, "signature": genuine["signature"]}


def test_a_forged_remote_result_is_refused_and_the_photo_judged_as_a_local_check_would(
        tmp_path, redis_url, enrolled_db, monkeypatch):  # noqa: F811
    import redis

    from consent.batch import BatchOptions, Job, check_photo
    from consent.cache import AnalysisCache
    from consent.check import Checker
    from consent.jobs import batch_queue
    from consent.register import Register

    people = fixture_dir("people", "test")
    data = tmp_path / "data"
    data.mkdir()
    copy_register(enrolled_db, data)
    with Register(data / "consent.db", user="test") as reg:
        biden = reg.set_never_publish("P002", "court order").id  # Biden
    members = {name: (people / name.split("/")[1]).read_bytes() for name in ATTACKS}
    monkeypatch.setenv("CONSENT_QUEUE", redis_url)  # the forger gives back through the main queue
    with LiveServer(data, workers=0, extra_env={"CONSENT_QUEUE": redis_url}) as server:
        main = start_main_worker(data, redis_url)
        try:
            job_id = Client(server.url).upload_zip(members)
            tasks = take_tasks(redis_url, len(members))
            names = {r["id"]: r["name"] for r in rows(data, job_id)}
            for task in tasks:
                batch_queue.give_back(task.args[0], forge(redis_url, task, ATTACKS[names[task.args[0]]]), 3)
            wait_until(lambda: finished(data, job_id) == len(members), timeout=300, what="the job to finish")
        finally:
            stop(main)
    # each photo judged as a check on the main machine alone judges it
    reference = tmp_path / "reference"
    reference.mkdir()
    with Register(copy_register(enrolled_db, reference), user="test") as reg:  # not the main's: its cache is on trial
        reg.set_never_publish("P002", "court order")
    checker = Checker(reference / "consent.db")
    got = {r["name"]: r for r in rows(data, job_id)}
    for name, photo in members.items():
        path = reference / name.replace("/", "_")
        path.write_bytes(photo)
        local = check_photo(checker, Job(str(path), name), BatchOptions())
        stored = json.loads(got[name]["stored"])["check"]
        assert got[name]["state"] == "done", got[name]["summary"]
        assert [(f["match"], f.get("person_id")) for f in stored["analysis"]["faces"]] == \
            [(f.match, f.person_id) for f in local.faces], name
        assert stored["verdicts"] == {c: v.verdict for c, v in local.verdicts.items()}, name
    pair = got["day/obama_and_biden.jpg"]
    assert pair["verdict"] == "block"
    assert biden in [f.get("person_id") for f in json.loads(pair["stored"])["check"]["analysis"]["faces"]]

    # nothing forged in the cache: every analysis there was made on the main machine, and
    # office's later single check of the same bytes still finds the never-publish pupil
    with Register(data / "consent.db") as reg:
        AnalysisCache(reg)
        origins = [o for (o,) in reg.db.execute("SELECT origin FROM analyses")]
    assert origins and set(origins) == {"local"}, origins
    later = Checker(data / "consent.db").check(reference / "day_obama_and_biden.jpg")
    assert later.timings.get("cached") == 1.0 and later.verdict == "block"
    assert biden in [f.person_id for f in later.faces]
    # and the photos' bytes are not left in Redis once their results are stored
    assert not redis.Redis.from_url(redis_url).keys("consent.photo.*")
    # each refusal logged, by the photo's number in its job, never by its name
    log = "".join(p.read_text(errors="replace") for p in data.glob("main-worker-*.log"))
    assert log.count("remote analysis refused") == len(members), log[-3000:]
    assert "not signed with this machine's worker key" in log
    assert not any(word in log for word in ("obama", "biden", "alex", "lacamoire")), "a file name in the log"


@pytest.mark.parametrize("how", ["unsigned", "another key", "other bytes"])
def test_a_worker_refuses_a_task_not_signed_by_the_main_machine(redis_url, how, monkeypatch, caplog):
    import logging

    from consent.jobs import remote_queue, signing

    sent = []
    monkeypatch.setattr(remote_queue, "_give_back", lambda *args: sent.append(args))
    monkeypatch.setattr(remote_queue, "_key", None)  # read from CONSENT_WORKER_KEY_FILE, as a worker does
    conn = remote_queue.pixels_huey(redis_url).storage.conn
    data = (fixture_dir("people", "test") / "obama1.jpg").read_bytes()
    conn.set(remote_queue.photo_key("c1"), data)
    key = signing.load_key() if how == "other bytes" else os.urandom(32)
    signature = None if how == "unsigned" else remote_queue.task_signature(
        key, "c1", signing.photo_hash(data + (b"x" if how == "other bytes" else b"")), ".jpg", {"wire": 1})
    with caplog.at_level(logging.WARNING, logger="consent.worker"):
        remote_queue.analyse(redis_url, "c1", ".jpg", {"wire": 1}, 0, signature)
    assert sent == []  # nothing analysed, nothing sent back
    assert "refused a task not signed with this worker's key" in caplog.text
    assert conn.get(remote_queue.photo_key("c1")) == data  # the genuine task's bytes are left alone
    assert not conn.hlen(remote_queue.ANALYSING)


# --- leftovers ----------------------------------------------------------------------------------


def test_a_photo_that_stopped_its_last_analyser_leaves_no_bytes_in_redis(redis_url, monkeypatch):
    from consent.jobs import remote_queue, signing
    from consent.remote import verify_result

    sent = []
    monkeypatch.setattr(remote_queue, "_give_back", lambda *args: sent.append(args))
    monkeypatch.setattr(remote_queue, "_key", None)
    conn = remote_queue.pixels_huey(redis_url).storage.conn
    conn.set(remote_queue.photo_key("c2"), b"photo bytes")
    held = {"worker": "gone-machine:1", "at": 0,
            "args": ["c2", ".jpg", {"settings": {}}, remote_queue.MAX_TRIES - 1, "sig"]}
    conn.hset(remote_queue.ANALYSING, "c2", json.dumps(held))
    assert remote_queue.rescue(redis_url) == 1
    ((check_id, reply, _),) = sent
    assert check_id == "c2" and "analysis processes stopped on it" in reply["local"]
    verify_result(signing.load_key(), None, reply)  # signed: the main machine trusts the reason it logs
    assert conn.get(remote_queue.photo_key("c2")) is None  # not left for 48 hours
    assert not conn.hlen(remote_queue.ANALYSING)


def test_a_worker_deletes_temporary_photos_a_killed_analysis_left_when_it_starts(tmp_path, redis_url):
    import signal
    import subprocess
    import sys

    from tests.test_batch_queue import ROOT

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp / f"consent-remote-{dead.pid}-k1ll3d00.png"
    left.write_bytes(b"a pupil's photo")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}, "TMPDIR": str(tmp),
           "PYTHONPATH": str(ROOT), "CONSENT_WORKER_KEY_FILE": os.environ["CONSENT_WORKER_KEY_FILE"]}
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "consent", "worker", "--remote", redis_url, "--workers", "1"],
                              cwd=tmp_path, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        wait_until(lambda: not left.exists(), timeout=60, what="the leftover to be deleted")
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=90)  # a worker still loading its models on a busy machine
    assert "deleted 1 temporary photo file(s) left by analyses that were stopped" in log.read_text()
