"""Signed work between the main machine and its analysis workers (``consent.jobs.signing``):
the worker key, task and result signatures, the queue's JSON messages, and the analysis cache
that only verified remote analyses reach. Real models on a small synthetic photo; the whole
path with a real Redis and a forging analyser is in test_remote_forgery.py."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys

import pytest

from consent.cache import AnalysisCache
from consent.check import Checker
from consent.images import file_hash
from consent.jobs import signing
from consent.jobs.remote_queue import describe_url, task_signature
from consent.register import Register
from consent.remote import (RemoteResultRefused, analyse_bytes, config, remember, remove_temp_leftovers,
                            sign_result)
from consent.settings import DEFAULTS

from tests.conftest import fixture_dir
from tests.test_batch_queue import ROOT
from tests.test_remote import register  # noqa: F401  (a fixture: a register with one made-up template)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def cached_rows(db) -> list[tuple]:
    with Register(db) as reg:
        AnalysisCache(reg)
        return list(reg.db.execute("SELECT sha256, origin FROM analyses").fetchall())


@pytest.fixture
def photo(tmp_path):
    """A photo with a face (what a forger deletes)."""
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes((fixture_dir("people", "test") / "obama1.jpg").read_bytes())
    return path


@pytest.fixture
def main(register):  # noqa: F811
    return Checker(register, DEFAULTS, kit_check=False, text_check=False)


@pytest.fixture
def genuine(main, photo):
    """A worker's honest, signed analysis of ``photo``."""
    result = sign_result(KEY, file_hash(photo), analyse_bytes(photo.read_bytes(), ".jpg", config(main)))
    assert result["analysis"]["faces"] and result["encodings"]
    return result


# --- the key ------------------------------------------------------------------------------------


def test_worker_key_create_writes_a_key_only_its_owner_can_read_and_says_how_to_copy_it(tmp_path):
    data = tmp_path / "data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}, "CONSENT_DATA": str(data),
           "PYTHONPATH": str(ROOT)}
    made = subprocess.run([sys.executable, "-m", "consent", "worker-key", "create"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    path = data / "worker.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = signing.load_key(path)
    assert len(key) == 32 and key.hex() not in made.stdout  # the key itself is never printed
    assert signing.key_id(key) in made.stdout and "CONSENT_WORKER_KEY_FILE" in made.stdout and "scp" in made.stdout
    again = subprocess.run([sys.executable, "-m", "consent", "worker-key", "create"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists already" in again.stderr and "--replace" in again.stderr
    assert signing.load_key(path) == key  # not overwritten
    shown = subprocess.run([sys.executable, "-m", "consent", "worker-key", "id"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == signing.key_id(key)


def test_a_missing_open_or_malformed_key_is_one_clear_error(tmp_path):
    with pytest.raises(signing.WorkerKeyMissing, match="no worker key at .*consent worker-key create"):
        signing.load_key(tmp_path / "worker.key")
    path = tmp_path / "open.key"
    signing.create_key(path)
    path.chmod(0o644)
    with pytest.raises(signing.WorkerKeyMissing, match="may be read by other users.*chmod 600"):
        signing.load_key(path)
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(signing.WorkerKeyMissing, match="is not a worker key"):
        signing.load_key(path)


def test_with_a_redis_queue_and_no_key_the_worker_refuses_to_start(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}, "PYTHONPATH": str(ROOT),
           "CONSENT_DATA": str(tmp_path / "data"), "CONSENT_QUEUE": "redis://127.0.0.1:1/0"}
    for args in (["--remote"], []):
        run = subprocess.run([sys.executable, "-m", "consent", "worker", *args], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and "no worker key at" in run.stderr, run.stderr
        assert "consent worker-key create" in run.stderr and "Traceback" not in run.stderr


# --- signatures ---------------------------------------------------------------------------------


def test_a_signature_covers_its_purpose_and_every_field():
    sig = signing.sign(KEY, "task", check="a", photo="0" * 64, suffix=".jpg", config={"x": 1})
    assert signing.verify(KEY, sig, "task", check="a", photo="0" * 64, suffix=".jpg", config={"x": 1})
    assert not signing.verify(KEY, sig, "result", check="a", photo="0" * 64, suffix=".jpg", config={"x": 1})
    assert not signing.verify(KEY, sig, "task", check="b", photo="0" * 64, suffix=".jpg", config={"x": 1})
    assert not signing.verify(KEY, sig, "task", check="a", photo="0" * 64, suffix=".jpg", config={"x": 2})
    assert not signing.verify(OTHER_KEY, sig, "task", check="a", photo="0" * 64, suffix=".jpg", config={"x": 1})
    assert not signing.verify(KEY, None, "task", check="a")
    assert not signing.verify(KEY, "é" * 64, "task", check="a")
    # the main machine's task signature, as a worker checks it
    t = task_signature(KEY, "a", "0" * 64, ".jpg", {"x": 1})
    assert signing.verify(KEY, t, "task", check="a", photo="0" * 64, suffix=".jpg", config={"x": 1})


def test_a_genuine_signed_result_is_used_and_cached_as_a_verified_remote_analysis(main, photo, genuine, register):  # noqa: F811
    remember(main, photo, genuine, key=KEY)
    assert main.check(photo).timings.get("cached") == 1.0  # the check used the remote analysis
    assert cached_rows(register) == [(file_hash(photo), f"remote, signed with worker key {signing.key_id(KEY)}")]


def forged(result: dict) -> dict:
    """The tampered analyser's change: every face deleted from the analysis."""
    body = {k: v for k, v in result.items() if k != "signature"}
    return {**body, "analysis": {**body["analysis"], "faces": []}, "encodings": {}}


@pytest.mark.parametrize("how", ["unsigned", "wrong key", "changed after signing", "signature of a task"])
def test_a_forged_result_is_refused_and_nothing_of_it_reaches_the_cache(main, photo, genuine, register, how):  # noqa: F811
    sha = file_hash(photo)
    bad = {
        "unsigned": forged(genuine),
        "wrong key": sign_result(OTHER_KEY, sha, forged(genuine)),
        "changed after signing": {**forged(genuine), "signature": genuine["signature"]},
        "signature of a task": {**forged(genuine), "signature": task_signature(KEY, "x", sha, ".jpg", config(main))},
    }[how]
    with pytest.raises(RemoteResultRefused, match="not signed with this machine's worker key"):
        remember(main, photo, bad, key=KEY)
    assert cached_rows(register) == []  # nothing unverified reached the cache
    main.check(photo)
    assert [origin for _, origin in cached_rows(register)] == ["local"]  # the photo was analysed here


def test_the_forgery_would_pass_if_it_were_signed_with_the_key(main, photo, genuine):
    # what makes the refusals above the signature's doing: the same forgery, signed with the
    # key, is accepted (a worker given the key is trusted; docs/security.md)
    remember(main, photo, sign_result(KEY, file_hash(photo), forged(genuine)), key=KEY)
    assert main.check(photo).timings.get("cached") == 1.0


# --- the queue's messages -----------------------------------------------------------------------


def test_queue_messages_are_json_and_a_pickle_written_to_redis_runs_nothing(tmp_path):
    import datetime as dt

    from huey.registry import Message

    serializer = signing.JsonSerializer()
    message = Message("id-1", "consent-batch.check_photo", dt.datetime(2026, 1, 2, 3, 4, 5), 3, 2, None,
                      ("abc", {"analysis": {"faces": [1.5]}}), {})
    back = serializer.deserialize(serializer.serialize(message))
    assert back.name == message.name and back.eta == message.eta and back.retries == 3
    assert back.args == ["abc", {"analysis": {"faces": [1.5]}}]

    witness = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(witness), "w"))

    with pytest.raises(ValueError, match="not a consent queue message"):
        serializer.deserialize(pickle.dumps(Exploit()))
    assert not witness.exists()
    with pytest.raises(ValueError):
        serializer.deserialize(b'{"message": {"name": "x", "evil": 1}}')


def test_redis_addresses_are_shown_without_their_password():
    assert describe_url("redis://:s3cret-pw@queue.school.lan:6380/2") == "Redis queue.school.lan:6380/2 with a password"
    assert describe_url("rediss://consent:s3cret-pw@queue.school.lan/0") == \
        "Redis queue.school.lan:6379 (TLS) with a password"
    assert describe_url("redis://127.0.0.1:6379/0") == "Redis 127.0.0.1:6379"
    assert describe_url("unix://:s3cret-pw@/run/redis/redis.sock") == "Redis socket /run/redis/redis.sock with a password"


# --- leftovers ----------------------------------------------------------------------------------


def test_temporary_files_of_stopped_analyses_are_deleted_and_running_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"consent-remote-{dead.pid}-abcd1234.png"
    mine = tmp_path / f"consent-remote-{os.getpid()}-efgh5678.jpg"
    old_style = tmp_path / "consent-remote-ab12cd.png"
    fresh_old_style = tmp_path / "consent-remote-xy98zz.png"
    other = tmp_path / "someone-else.png"
    for p in (left, mine, old_style, fresh_old_style, other):
        p.write_bytes(b"x")
    os.utime(old_style, (1, 1))
    assert remove_temp_leftovers(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, fresh_old_style.name, other.name])
