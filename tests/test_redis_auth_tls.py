"""The Redis queue over TLS with a password (``rediss://:PASSWORD@HOST:PORT/0?ssl_ca_certs=...``),
against a real ``redis-server`` started with ``--tls-port`` and ``--requirepass`` and a
certificate made in the test. The password is never shown: not in start-up lines, not in errors.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.test_batch_queue import ROOT, free_port, wait_until

PASSWORD = "Tr0ub4dor-and-3"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """(url, ca file): a redis-server answering only TLS on 127.0.0.1, with a password."""
    exe, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if not exe or not openssl:
        pytest.skip("redis-server and openssl are needed (Debian's packages)")
    folder = tmp_path_factory.mktemp("tls-redis")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60)
    if made.returncode:
        pytest.skip(f"openssl could not make a certificate: {made.stderr.decode()[-200:]}")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                             "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.skip("redis-server did not start with TLS (built without it?)")
            time.sleep(0.1)
    yield f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={cert}", cert
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def key_env(tmp_path, monkeypatch):
    from consent.jobs import signing

    path = tmp_path / "worker.key"
    signing.create_key(path)
    monkeypatch.setenv(signing.KEY_ENV, str(path))
    return {signing.KEY_ENV: str(path)}


def worker(args: list[str], env: dict, cwd) -> subprocess.Popen:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}, "PYTHONPATH": str(ROOT),
            "TMPDIR": str(cwd), **env}
    return subprocess.Popen([sys.executable, "-m", "consent", "worker", *args], cwd=cwd, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_signed_work_travels_over_tls_with_a_password(tls_redis, key_env):
    import redis

    from consent.jobs import remote_queue, signing

    url, _ = tls_redis
    redis.Redis.from_url(url).flushdb()
    remote_queue.send(url, "c1", b"photo bytes", ".jpg", {"wire": 1}, key=signing.load_key())
    task = remote_queue.pixels_huey(url).dequeue()
    check_id, suffix, cfg, _, signature = task.args
    assert (check_id, suffix, cfg) == ("c1", ".jpg", {"wire": 1})
    assert signing.verify(signing.load_key(), signature, "task", check="c1", photo=signing.photo_hash(b"photo bytes"),
                          suffix=".jpg", config={"wire": 1})
    assert remote_queue.pixels_huey(url).storage.conn.get(remote_queue.photo_key("c1")) == b"photo bytes"


def test_a_worker_on_tls_says_where_its_queue_is_without_the_password(tls_redis, key_env, tmp_path):
    url, _ = tls_redis
    proc = worker(["--remote", "--workers", "1"], {"CONSENT_QUEUE": url, **key_env}, tmp_path)
    lines = []
    try:
        wait_until(lambda: lines.append(proc.stdout.readline()) or "consent worker --remote" in "".join(lines),
                   timeout=60, what="the worker's start-up line")
    finally:
        proc.send_signal(signal.SIGINT)
        out = "".join(lines) + (proc.communicate(timeout=30)[0] or "")
    assert "(TLS) with a password" in out, out
    assert PASSWORD not in out


@pytest.mark.parametrize("how", ["wrong password", "no TLS"])
def test_a_queue_that_refuses_the_worker_is_one_clear_line_without_the_password(tls_redis, key_env, tmp_path, how):
    url, _ = tls_redis
    bad = url.replace(PASSWORD, "not-" + PASSWORD) if how == "wrong password" else \
        url.replace("rediss://", "redis://").split("?")[0]
    proc = worker(["--remote", "--workers", "1"], {"CONSENT_QUEUE": bad, **key_env}, tmp_path)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1 and "cannot reach the queue at Redis 127.0.0.1:" in out, out
    assert PASSWORD not in out and "Traceback" not in out
