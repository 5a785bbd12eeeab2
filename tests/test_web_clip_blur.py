"""The check page's blurred copy of a clip: offered where blurring the faces would clear a
channel (the photos' rule, ``consent.blurring``), made in the background (the batch queue's
``blur_clip`` task; inline in these tests), its progress on the page, then the copy's verdict per
channel and its download. Clips are made here from the fixture photos, small and short."""

from __future__ import annotations

import io
import json
import os

import pytest

av = pytest.importorskip("av")

from consent.jobs import clip_blur  # noqa: E402
from web.check import checked_photos  # noqa: E402

from .conftest import copy_register, fixture_dir  # noqa: E402
from .test_check import PUBLICATION, enrolled_db  # noqa: E402,F401  (the module-scoped register fixture)
from .test_video import blank, make_clip, picture  # noqa: E402
from .test_web_batch import _db  # noqa: E402
from .web_helpers import client_as, csrf, make_app, post  # noqa: E402

W, H, FPS = 640, 360, 25


@pytest.fixture
def app(enrolled_db, tmp_path):  # noqa: F811
    """The web app over the enrolled register, Joe Biden (P002) refusing every channel."""
    from consent.register import Register

    data = tmp_path / "data"
    data.mkdir()
    copy_register(enrolled_db, data)
    with Register(data / "consent.db") as reg:
        for channel in PUBLICATION:
            reg.record_consent("P002", channel, "refused")
    return make_app(tmp_path, BATCH_INLINE=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    """``sports.mp4``: 3 s, no sound, Joe Biden on screen from 0.6 s to the end; ``wall.mp4``:
    nobody; ``loud.mp4``: ``sports.mp4`` with a sound track."""
    folder = tmp_path_factory.mktemp("clips")
    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg", W, H)
    shots = [(blank(W, H), 0.6), (face, 2.4)]
    return {
        "sports.mp4": make_clip(folder / "sports.mp4", shots, fps=FPS).read_bytes(),
        "wall.mp4": make_clip(folder / "wall.mp4", [(blank(W, H), 1.0)], fps=FPS).read_bytes(),
        "loud.mp4": make_clip(folder / "loud.mp4", shots, fps=FPS, audio=True).read_bytes(),
    }


def upload(client, data: bytes, name: str) -> str:
    response = client.post("/check/upload", data={"photo": (io.BytesIO(data), name), "channel": "all",
                                                  "caption": "", "csrf_token": csrf(client)},
                           headers={"X-Requested-With": "fetch"})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return next(r["id"] for r in _db(app_of(client))["web_checks"].rows_where("name = ?", [name]))


def app_of(client):
    return client.application


BUTTON = "Make a blurred copy (takes a few minutes)"


def test_a_clip_with_a_pupil_without_consent_is_blurred_in_the_background_with_progress_then_downloads(
        app, clips, monkeypatch, tmp_path):
    from consent.check import Checker
    from consent.video.check import check_video

    office = client_as(app, "office")
    check_id = upload(office, clips["sports.mp4"], "sports.mp4")
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    row = checked_photos.get(_db(app), check_id)
    assert 'data-verdict="block"' in page and BUTTON in page
    assert "it could be OK for website, social media, newsletter and press." in page

    # every progress write kept (not once a second), through the real callback and row
    writes = []
    real_update = clip_blur._update
    monkeypatch.setattr(clip_blur, "WRITE_EVERY_S", 0.0)
    monkeypatch.setattr(clip_blur, "_update", lambda db, c, w, changes: writes.append(dict(changes))
                        or real_update(db, c, w, changes))
    response = post(office, f"/check/{check_id}/blur")
    assert response.status_code == 302

    frames = [w["frame"] for w in writes if "frame" in w]
    assert len(frames) >= 3 and frames == sorted(frames) and frames[-1] == 3 * FPS, writes
    assert [w["phase"] for w in writes if "frame" in w][-1] == "rechecking"
    asked = clip_blur.status(_db(app), check_id)
    assert asked["state"] == "done" and asked["percent"] == 100, asked

    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "The blurred copy" in page and BUTTON not in page
    assert 'aria-label="Verdict for each channel of the blurred copy"' in page
    assert "Download with faces blurred" in page
    row = checked_photos.get(_db(app), check_id)
    assert checked_photos.blurred_channels(row) == list(PUBLICATION)
    assert row["verdict"] == "block"  # the clip's own check is untouched
    download = office.get(f"/check/{check_id}/download/blurred")
    assert download.status_code == 200 and download.mimetype == "video/mp4"
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(download.data)
    with av.open(str(copy)) as back:
        assert back.streams.video[0].frames == 3 * FPS
    # the detector finds nobody in the copy where Joe Biden was
    again = check_video(Checker(app.config["CONSENT_DB"], kit_check=False, text_check=False), copy)
    assert again.error is None and again.faces == [], [f.match for f in again.faces]
    # asked for once, audited once; pressing again does nothing new
    post(office, f"/check/{check_id}/blur")
    audit = [r for r in _db(app)["web_audit"].rows if r["action"] == "blur.requested"]
    assert len(audit) == 1 and json.loads(audit[0]["detail"])["photo"] == "sports.mp4"
    assert "Asked for a copy of a clip with faces blurred" in client_as(app, "admin").get("/audit/").get_data(as_text=True)


def test_while_it_is_made_the_page_shows_how_far_and_pressing_again_does_nothing_new(app, clips):
    from consent.jobs.batch_jobs import worker_name

    office = client_as(app, "office")
    check_id = upload(office, clips["sports.mp4"], "sports.mp4")
    db = _db(app)
    # a form without its CSRF token, or from a role that may not ask, starts nothing
    assert office.post(f"/check/{check_id}/blur").status_code in (400, 403)
    assert post(client_as(app, "senior"), f"/check/{check_id}/blur").status_code == 403
    assert clip_blur.status(db, check_id) is None
    assert clip_blur.start(db, check_id, "office")
    assert clip_blur._claim(db, check_id, worker_name())  # this process holds it: alive
    clip_blur._Reporter(db, check_id, worker_name())(30, 75)

    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "Blurring: 40% (frame 30 of 75)" in page and BUTTON not in page
    assert 'data-progress-url="/check/' in page and "clip-blur.js" in page
    progress = office.get(f"/check/{check_id}/blur").get_json()
    assert progress == {"state": "running", "percent": 40, "frame": 30, "frames": 75,
                        "words": "Blurring: 40% (frame 30 of 75)", "running": True}
    post(office, f"/check/{check_id}/blur")  # a second press while it runs
    assert clip_blur.status(db, check_id)["frame"] == 30
    assert not [r for r in db["web_audit"].rows if r["action"] == "blur.requested"]
    assert not checked_photos.get(db, check_id)["blurred_path"]


def test_a_copy_whose_worker_was_killed_can_be_made_again_and_leaves_no_half_written_file(app, clips):
    office = client_as(app, "office")
    check_id = upload(office, clips["sports.mp4"], "sports.mp4")
    db = _db(app)
    assert clip_blur.start(db, check_id, "office")
    import socket

    host = socket.gethostname()
    dead = 2 ** 22 + 12345  # no such process
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    assert clip_blur._claim(db, check_id, f"{host}:{dead}")
    clip_blur._Reporter(db, check_id, f"{host}:{dead}")(30, 75)
    folder = checked_photos.Place.from_app(app).check_dir(check_id) / "blurred"
    folder.mkdir()
    (folder / ".consent-0a1b2c3d4e5f.mp4").write_bytes(b"\x00" * 1000)  # what a kill mid-frame leaves

    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "stopped before it was finished" in page and BUTTON in page
    assert not checked_photos.get(db, check_id)["blurred_path"]
    post(office, f"/check/{check_id}/blur")
    row = checked_photos.get(db, check_id)
    assert clip_blur.status(db, check_id)["state"] == "done" and row["blurred_path"]
    assert sorted(p.name for p in folder.iterdir()) == ["sports-blurred.mp4"]


def test_a_clip_with_nothing_to_blur_or_whose_sound_still_needs_listening_to_gets_no_button(app, clips):
    office = client_as(app, "office")
    wall = upload(office, clips["wall.mp4"], "wall.mp4")
    page = office.get(f"/check/{wall}").get_data(as_text=True)
    assert BUTTON not in page and "No blurred copy offered" not in page
    loud = upload(office, clips["loud.mp4"], "loud.mp4")
    page = office.get(f"/check/{loud}").get_data(as_text=True)
    assert BUTTON not in page and "No blurred copy offered" in page
    # and asking anyway makes nothing
    response = post(office, f"/check/{loud}/blur", follow_redirects=True)
    assert "cannot be made" in response.get_data(as_text=True)
    assert clip_blur.status(_db(app), loud) is None


def test_a_copy_that_cannot_be_made_says_why_and_the_check_stands(app, clips):
    office = client_as(app, "office")
    check_id = upload(office, clips["sports.mp4"], "sports.mp4")
    row = checked_photos.get(_db(app), check_id)
    with open(row["safe_path"], "r+b") as fh:  # the safe copy damaged on the disk
        fh.truncate(os.path.getsize(row["safe_path"]) // 3)
    post(office, f"/check/{check_id}/blur")
    asked = clip_blur.status(_db(app), check_id)
    assert asked["state"] == "error" and asked["message"].startswith("The blurred copy could not be made: ")
    assert "sports.mp4: " in asked["message"] and "/checks/" not in asked["message"] and "Traceback" not in asked["message"]
    page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert "The blurred copy could not be made" in page and 'data-verdict="block"' in page
    assert not checked_photos.get(_db(app), check_id)["blurred_path"]


def test_the_blurred_copy_reports_its_progress_frame_by_frame(tmp_path):
    from consent.video.blur import reporting, write_blurred_copy
    from consent.video.frames import probe

    clip = make_clip(tmp_path / "c.mp4", [(blank(W, H), 2.6)], fps=FPS)
    calls, around = [], []
    write_blurred_copy(probe(clip), [], tmp_path / "a.mp4", progress=lambda f, n: calls.append((f, n)))
    assert calls == [(30, 65), (60, 65), (65, 65)]
    with reporting(lambda f, n: around.append((f, n))):  # as check_video's copy reports
        write_blurred_copy(probe(clip), [], tmp_path / "b.mp4")
    assert around == calls


def test_kill_9_of_the_worker_mid_copy_keeps_no_copy_and_the_copy_can_be_asked_for_again(enrolled_db, tmp_path):  # noqa: F811
    """A power cut while the worker writes the blurred copy: no copy is kept (a temporary file at
    most), the page says it stopped, and asked again a new worker makes it, once."""
    import re
    import urllib.parse
    import urllib.request
    import uuid

    from consent.register import Register

    from .test_batch_queue import Client, kill_group, start_worker, wait_until
    from .web_helpers import LiveServer

    data = tmp_path / "data"
    data.mkdir()
    copy_register(enrolled_db, data)
    with Register(data / "consent.db") as reg:
        reg.record_consent("P002", "website", "refused")
    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "long.mp4", [(blank(), 0.5), (face, 15.5)])  # 400 frames: long enough to kill mid-copy

    def blur_row():
        from web.core.db import connect

        db = connect(data / "consent.db")
        try:
            return next(db["web_clip_blurs"].rows, None) if db["web_clip_blurs"].exists() else None
        finally:
            db.conn.close()

    with LiveServer(data, workers=0) as server:
        office = Client(server.url, "office")
        token = office._token("/check/")
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="channel"\r\n\r\nwebsite\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="long.mp4"\r\n'
                "Content-Type: video/mp4\r\n\r\n").encode() + clip.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(server.url + "/check/upload", body, {
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-CSRF-Token": token,
            "X-Requested-With": "fetch"})
        card = office.opener.open(request, timeout=120).read().decode()
        check_id = re.search(r'id="result-([^"]+)"', card).group(1)
        assert "Make a blurred copy" in card

        def ask():
            form = urllib.parse.urlencode({"csrf_token": office._token(f"/check/{check_id}")}).encode()
            office.opener.open(server.url + f"/check/{check_id}/blur", form, timeout=30).read()

        worker = start_worker(data, {}, workers=1)
        try:
            ask()
            wait_until(lambda: (blur_row() or {}).get("phase") == "blurring", timeout=120, what="the copy being written")
        finally:
            kill_group(worker)
        folder = data / "web" / "checks" / check_id / "blurred"
        assert not [p for p in folder.glob("*") if not p.name.startswith(".consent-")]  # no copy, at most a temporary file

        def page():
            return office.opener.open(server.url + f"/check/{check_id}", timeout=30).read().decode()

        # as soon as the killed process is gone (a moment after the signal)
        wait_until(lambda: "stopped before it was finished" in page(), timeout=15, what="the page to say it stopped")
        assert "Make a blurred copy" in page()

        worker = start_worker(data, {}, workers=1)
        try:
            ask()
            wait_until(lambda: (blur_row() or {}).get("state") in ("done", "error"), timeout=180, what="the copy")
        finally:
            kill_group(worker)
        assert blur_row()["state"] == "done", blur_row()
        assert [p.name for p in folder.iterdir()] == ["long-blurred.mp4"]
        assert "Download with faces blurred" in page() and "Make a blurred copy" not in page()
