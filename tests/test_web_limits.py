"""Request bodies: small everywhere but the upload routes, and those only for someone allowed to
upload, decided before the body is read; memory bombs refused naming the limit, on a live server."""

from __future__ import annotations

import io
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.web_helpers import PASSWORD, LiveServer, client_as, csrf, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


class NeverRead(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    read_from = False

    def __init__(self, length: int):
        self.length = length

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: getattr(self, "pos", 0) + offset, 2: self.length + offset}[whence]
        return self.pos

    def tell(self):
        return getattr(self, "pos", 0)

    def readinto(self, buffer):
        NeverRead.read_from = True
        raise AssertionError("the body was read")


def _post_unread(client, url, length, headers=None):
    NeverRead.read_from = False
    return client.post(
        url, input_stream=NeverRead(length), content_length=length,
        content_type="multipart/form-data; boundary=xyz", headers=headers or {},
    )


def test_sign_in_refuses_a_large_body_without_reading_it(app):
    response = _post_unread(app.test_client(), "/login", 1500 * 1024 * 1024)
    assert response.status_code == 413 and not NeverRead.read_from
    assert "512 KB" in response.get_data(as_text=True)


def test_anonymous_batch_upload_is_refused_before_its_body_is_read(app):
    response = _post_unread(app.test_client(), "/batch/", 300 * 1024 * 1024)
    assert response.status_code in (302, 401) and not NeverRead.read_from


def test_an_upload_from_the_wrong_role_is_refused_before_its_body_is_read(app):
    office = client_as(app, "office")
    response = _post_unread(office, "/batch/", 300 * 1024 * 1024, {"X-CSRF-Token": csrf(office)})
    assert response.status_code == 403 and not NeverRead.read_from


def test_an_upload_with_a_wrong_csrf_token_is_refused_before_its_body_is_read(app):
    comms = client_as(app, "comms")
    response = _post_unread(comms, "/batch/", 300 * 1024 * 1024, {"X-CSRF-Token": "forged"})
    assert response.status_code == 400 and not NeverRead.read_from


def test_ordinary_forms_are_limited_to_a_small_body(app):
    admin = client_as(app, "admin")
    big = {"username": "x" * (600 * 1024), "password": PASSWORD, "roles": "office", "csrf_token": csrf(admin)}
    assert admin.post("/admin/users/", data=big).status_code == 413


def test_ordinary_forms_stay_small_after_settings_are_saved(app):
    """Saving the Settings page puts them in force (web.settings.views.apply): an ordinary form
    keeps the small limit (it was raised to a photo upload's, 25 MB, on every form before)."""
    from consent.settings import Settings
    from web.settings.views import apply

    apply(app, Settings())
    admin = client_as(app, "admin")
    big = {"username": "x" * (600 * 1024), "password": PASSWORD, "roles": "office", "csrf_token": csrf(admin)}
    assert admin.post("/admin/users/", data=big).status_code == 413


def test_a_photo_upload_may_still_be_large(app):
    office = client_as(app, "office")
    buf = io.BytesIO()
    Image.effect_noise((1200, 1200), 64).convert("RGB").save(buf, "PNG")
    assert len(buf.getvalue()) > 1024 * 1024
    response = office.post(
        "/check/upload", data={"photo": (io.BytesIO(buf.getvalue()), "noise.png")},
        headers={"X-CSRF-Token": csrf(office)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


# --- a live waitress server -------------------------------------------------------------------


def _raw_post(url: str, path: str, length: int, headers: str = "") -> tuple[str, float]:
    """Send only the headers of a POST announcing ``length`` bytes; the server's answer."""
    host, port = url.split("//")[1].split(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n{headers}\r\n".encode()
        )
        s.sendall(b"a" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < 200:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode("latin-1"), time.monotonic() - start


def test_live_server_refuses_an_anonymous_huge_sign_in_before_buffering_it(tmp_path):
    with LiveServer(tmp_path / "data", workers=0) as server:
        answer, took = _raw_post(server.url, "/login", 1500 * 1024 * 1024)
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "512 KB" in answer and took < 10
        answer, _ = _raw_post(server.url, "/batch/", 300 * 1024 * 1024)
        assert answer.startswith("HTTP/1.1 413"), answer[:200]


def _sixteen_bit_bomb(path):
    Image.new("I;16", (10000, 10000)).save(path, optimize=True)
    return path.read_bytes()


def _vm_hwm_mb(pid: int) -> float:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _vm_rss_mb(pid: int) -> float:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_eight_memory_bombs_at_once_are_refused_saying_what_to_do_within_the_memory_goal(tmp_path):
    import json
    import re

    bomb = _sixteen_bit_bomb(tmp_path / "bomb.png")
    assert len(bomb) < 400_000
    with LiveServer(tmp_path / "data", workers=0) as server:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        login = opener.open(server.url + "/login").read().decode()
        token = re.search(r'name="csrf-token" content="([^"]+)"', login).group(1)
        form = f"username=office&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()
        opener.open(server.url + "/login", data=form).read()
        page = opener.open(server.url + "/check/").read().decode()
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        before = _vm_rss_mb(server.process.pid)

        def upload(i):
            boundary = f"bomb{i}"
            body = (
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"bomb{i}.png\"\r\n"
                "Content-Type: image/png\r\n\r\n"
            ).encode() + bomb + f"\r\n--{boundary}--\r\n".encode()
            request = urllib.request.Request(
                server.url + "/check/upload", data=body, method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-CSRF-Token": token,
                         "X-Requested-With": "fetch", "Accept": "application/json"},
            )
            try:
                opener.open(request, timeout=120)
                return 200, ""
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        peak = [before]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], _vm_rss_mb(server.process.pid))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(upload, range(8)))
        done.set()
        watcher.join()
        peak_hwm = _vm_hwm_mb(server.process.pid)
    for status, body in answers:
        assert status == 413, (status, body[:300])
        message = json.loads(body)["error"]["message"]
        assert "too large to check" in message and "16-bit greyscale" in message
        assert str(tmp_path) not in message
    print(f"\nserver RSS before {before:.0f} MB, peak while refusing 8 bombs {max(peak[0], peak_hwm):.0f} MB")
    assert max(peak[0], peak_hwm) < 1500
    assert max(peak[0], peak_hwm) - before < 600
