"""Videos in the web app: a clip in a batch job's folder or zip is checked by the worker with the
same video check as ``consent check`` (verdict, reasons with times, safe copy without metadata,
reports), and the stored check judged again later keeps what the tool could not check (the
sound, the kit) and the times. Clips are made here from the fixture photos (tests/test_video.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest

av = pytest.importorskip("av")

from consent.jobs import batch_jobs  # noqa: E402
from consent.rejudge import StoredCheck, reason_codes  # noqa: E402
from consent.register.view import empty_view  # noqa: E402
from web.check import checked_photos  # noqa: E402

from .conftest import fixture_dir  # noqa: E402
from .test_video import blank, make_clip, picture  # noqa: E402
from .test_check import enrolled_db  # noqa: E402,F401  (the module-scoped register fixture)
from .test_web_batch import _db, job_files, job_id_of, send_folder, send_zip  # noqa: E402
from .web_helpers import client_as, make_app  # noqa: E402

#: how phones write the place a clip was taken (QuickTime's ISO 6709 location tag)
GPS = {"location": "+51.5072-000.1276/", "com.apple.quicktime.location.ISO6709": "+51.5072-000.1276+011.000/"}


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, BATCH_INLINE=True)


@pytest.fixture(scope="module")
def relay(tmp_path_factory) -> bytes:
    """A 3-second phone clip with sound and GPS: a wall, a face from 1.0 s to 2.0 s, a wall."""
    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    path = tmp_path_factory.mktemp("clips") / "relay.mp4"
    make_clip(path, [(blank(), 1.0), (face, 1.0), (blank(), 1.0)], audio=True, metadata=GPS,
              options={"movflags": "use_metadata_tags"})
    return path.read_bytes()


def rows_of(app, job_id: str) -> dict[str, dict]:
    return {r["name"]: r for r in _db(app)["web_checks"].rows_where("job_id = ?", [job_id])}


def codes(row: dict) -> list[str]:
    return [r["code"] for r in row["data"]["reasons"]]


@pytest.mark.parametrize("send", [send_folder, send_zip])
def test_a_clip_in_a_batch_is_checked_with_reasons_by_time_and_other_videos_still_say_watch_it(app, relay, send):
    client = client_as(app, "comms")
    job_id = job_id_of(send(client, {"sports/relay.mp4": relay, "sports/old.avi": b"\x00" * 5000}))

    rows = rows_of(app, job_id)
    assert rows["sports/relay.mp4"]["state"] == "done", rows["sports/relay.mp4"]["summary"]
    assert rows["sports/old.avi"]["summary"].startswith("sports/old.avi: a video; this tool checks photos only")
    row = checked_photos.get(_db(app), rows["sports/relay.mp4"]["id"])  # judged again, as every page shows it
    assert row["verdict"] == "review"
    reasons = {r["code"]: r for r in row["data"]["reasons"]}
    assert reasons["sound_not_checked"]["message"] == "the sound was not checked: listen for pupils' names"
    # the batch reads text and looks for PE kit on the frames: neither is left unchecked, and
    # judging the stored clip again (this row) does not make them so
    assert not {"kit_not_checked", "picture_text_not_checked"} & set(reasons)
    assert row["data"]["video"]["kit_frames"] >= 3
    about_faces = [r for r in row["data"]["reasons"] if r.get("faces")]
    assert about_faces
    for reason in about_faces:  # each says when the face is on screen: from 1.0 s to 2.0 s
        assert reason["message"].startswith(("0:01: ", "0:01-0:02: ")), reason["message"]
        (span,) = reason["times"]
        assert 0.9 <= span["start"] <= 1.3 and 1.5 <= span["end"] <= 2.1, span
    assert row["data"]["video"]["audio"] is True and row["data"]["video"]["duration"] == pytest.approx(3.0, abs=0.1)

    # the safe copy: a remux with the picture and sound, without the place it was taken
    with av.open(row["safe_path"]) as copy:
        assert len(copy.streams.video) == 1 and len(copy.streams.audio) == 1
        assert not [k for k in copy.metadata if "location" in k.lower()], copy.metadata
    assert row["safe_path"].endswith(".mp4")
    # the preview is the strip of frames behind the reasons; the original is gone once checked
    assert row["preview_path"].endswith(".jpg")
    from PIL import Image

    with Image.open(row["preview_path"]) as strip:
        assert strip.width > strip.height
    assert not [p for p in job_files(app) if p.suffix.lower() in (".mp4", ".avi")]

    report = client.get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig")
    (line,) = [r for r in csv.DictReader(io.StringIO(report)) if r["photo"] == "sports/relay.mp4"]
    assert "sound_not_checked" in line["reasons"] and "sound not listened to" in line["why"]
    html = client.get(f"/batch/{job_id}/report.html").data.decode()
    assert "sports/relay.mp4" in html and "sound not listened to" in html


def test_a_damaged_clip_in_a_batch_is_could_not_check_with_why_and_the_job_goes_on(app, relay):
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"day/cut.mov": relay[: len(relay) // 3], "day/empty.m4v": b""}))
    rows = rows_of(app, job_id)
    for name in ("day/cut.mov", "day/empty.m4v"):
        assert rows[name]["state"] == "error", rows[name]
        assert rows[name]["summary"].startswith(name.split("/")[1]) or rows[name]["summary"].startswith(name), \
            rows[name]["summary"]
        assert "/jobs/" not in rows[name]["summary"]  # the server's folder is never shown
    assert client.get(f"/batch/{job_id}/progress").get_json()["state"] == "done"


def test_judging_a_stored_clip_again_keeps_the_sound_and_kit_reasons_and_the_times(app, relay):
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"sports/relay.mp4": relay}))
    (row,) = rows_of(app, job_id).values()
    stored = StoredCheck.from_json(json.loads(row["stored"])["check"])
    assert stored.video is not None
    # the stored form says when each face is on screen, never who it is
    assert stored.video["face_times"] and all(spans for spans in stored.video["face_times"])

    again = stored.judge(empty_view(), channels=stored.channels)
    assert reason_codes(again) == stored.codes  # nothing dropped, nothing added
    assert "sound_not_checked" in {r.code for r in again.reasons}
    assert all(r.times for r in again.reasons if r.faces)
    # through JSON and back again: the same
    again2 = StoredCheck.from_json(json.loads(json.dumps(stored.to_json()))).judge(
        empty_view(), channels=stored.channels)
    assert [r.message for r in again2.reasons] == [r.message for r in again.reasons]


def test_a_stored_clip_missing_its_facts_still_needs_listening_to():
    """What the tool cannot check is never ok: a stored clip whose facts say nothing of sound
    keeps the sound reason."""
    from consent.check import Analysis

    stored = StoredCheck(Analysis(sha256="0", format="MP4", width=64, height=36, faces=[], metadata_found=[],
                                  notes=[], timings={}), ["website"], "a.mp4", video={})
    judged = stored.judge(empty_view())
    assert {r.code for r in judged.reasons} == {"sound_not_checked", "picture_text_not_checked"}
    assert judged.verdicts["website"].verdict == "review"


def test_batch_jobs_take_the_video_endings_the_check_reads():
    assert batch_jobs.clean_name("a/Sports Day.MOV", batch_jobs.CHECKED_SUFFIXES) is not None
    assert batch_jobs.clean_name("a/clip.webm", batch_jobs.CHECKED_SUFFIXES) is not None
    assert batch_jobs.clean_name("a/clip.avi", batch_jobs.CHECKED_SUFFIXES) is None


def test_a_clip_a_senior_signed_off_after_watching_joins_the_zip_of_safe_copies(app, relay):
    """The sound and the kit are what a person releases by watching and listening: once a senior
    signs the clip off, its safe copy is in the batch's zip (without GPS)."""
    import zipfile

    from .web_helpers import post

    comms = client_as(app, "comms")
    job_id = job_id_of(send_folder(comms, {"sports/relay.mp4": relay}))
    (row,) = rows_of(app, job_id).values()
    assert comms.get(f"/batch/{job_id}/safe-copies.zip").status_code == 404  # nothing cleared yet
    assert post(comms, f"/batch/{job_id}/review", {"check": [row["id"]], "note": "relay clip"}).status_code == 302
    senior = client_as(app, "senior")
    assert "relay.mp4" in senior.get("/review/").get_data(as_text=True)
    post(senior, f"/review/{row['id']}/approve", {"note": "watched and listened: fine"})
    assert "website" in checked_photos.cleared_channels(checked_photos.get(_db(app), row["id"]))

    download = comms.get(f"/batch/{job_id}/safe-copies.zip")
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert archive.namelist() == ["sports/relay.mp4"]
    data = archive.read("sports/relay.mp4")
    assert b"+51.5072" not in data and b"loci" not in data


def test_a_blurred_clip_of_a_batch_still_needs_listening_to(app, relay, monkeypatch):
    """Asked for, a batch blurs the faces in a clip as in photos; the blurred copy is judged by
    rule when shown, and blurring cures neither the sound nor the kit. The clip's frames are
    looked at twice: the clip, then the copy's faces (its stored check reads that back, with
    the clip's own kit frames; it once looked at the whole copy a third time)."""
    from consent.video import check as video_check

    real, analyses = video_check.analyse, []

    def analyse(checker, clip, *args, **kwargs):  # the real analysis, each call written down
        analyses.append((clip.path.name, checker.text_check, checker.kit_check))
        return real(checker, clip, *args, **kwargs)

    monkeypatch.setattr(video_check, "analyse", analyse)
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"sports/relay.mp4": relay}, blur="1"))
    (row,) = rows_of(app, job_id).values()
    assert len(analyses) == 2 and analyses[1][1:] == (False, False), analyses
    stored = json.loads(row["stored"])
    assert stored["blurred"]["video"].get("kit_frames") == stored["check"]["video"].get("kit_frames")
    row = checked_photos.get(_db(app), row["id"])
    assert row["state"] == "done" and row["blurred_path"], row["summary"]
    with av.open(row["blurred_path"]) as copy:
        assert len(copy.streams.video) == 1
    blurred = json.loads(row["stored"])["blurred"]
    assert blurred is not None and blurred["video"]["original_face_times"]
    assert row["data"]["blurred"]["verdict"] == "review"
    assert checked_photos.blurred_channels(row) == []
    again = StoredCheck.from_json(blurred).judge(empty_view())
    assert "sound_not_checked" in {r.code for r in again.reasons}
    assert not [r for r in again.reasons if r.faces]  # the face was blurred: its reasons cured


# --- the check page -------------------------------------------------------------------------


def upload_clip(client, data: bytes, name: str = "relay.mp4"):
    from .web_helpers import csrf

    return client.post("/check/upload", data={"photo": (io.BytesIO(data), name), "channel": "all", "caption": "",
                                              "csrf_token": csrf(client)},
                       headers={"X-Requested-With": "fetch"})


def test_a_clip_on_the_check_page_shows_each_channel_reasons_with_times_and_the_frames(app, relay):
    client = client_as(app, "office")
    response = upload_clip(client, relay)
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    card = response.get_data(as_text=True)
    assert "the sound was not checked: listen for pupils&#39; names" in card
    assert "0:01" in card and 'data-verdict="review"' in card
    assert card.count('class="badge badge-review"') >= 4  # each channel's verdict
    assert "A video, 0:03 long, with sound" in card and "Frames of relay.mp4" in card
    (row,) = [checked_photos.get(_db(app), r["id"]) for r in _db(app)["web_checks"].rows]
    strip = client.get(f"/check/{row['id']}/preview.jpg")
    assert strip.status_code == 200 and strip.mimetype == "image/jpeg"
    # not cleared for any channel until a senior has watched it: the card says so, no download yet
    assert "needs a senior colleague to watch it" in card
    assert client.get(f"/check/{row['id']}/download/safe").status_code == 403
    # the original is gone once checked; the safe copy has the picture and sound, no location
    files = [p.name for p in checked_photos.Place.from_app(app).checks.rglob("*") if p.is_file()]
    assert sorted(files) == ["preview.jpg", "relay.mp4"]
    with av.open(row["safe_path"]) as copy:
        assert len(copy.streams.audio) == 1 and not [k for k in copy.metadata if "location" in k.lower()]


def test_a_clip_signed_off_on_the_check_page_downloads_as_a_video(app, relay):
    from .web_helpers import post

    office = client_as(app, "office")
    upload_clip(office, relay, "Relay Day.mp4")
    (row,) = list(_db(app)["web_checks"].rows)
    post(office, f"/check/{row['id']}/review", {"note": "watched it"})
    post(client_as(app, "senior"), f"/review/{row['id']}/approve", {"note": "listened: no names"})
    download = office.get(f"/check/{row['id']}/download/safe")
    assert download.status_code == 200 and download.mimetype == "video/mp4"
    assert download.headers["Content-Disposition"].endswith('.mp4"') or ".mp4" in download.headers["Content-Disposition"]
    assert b"+51.5072" not in download.data and download.data[4:8] == b"ftyp"


def test_clips_that_cannot_be_checked_are_refused_clearly_on_the_check_page_and_nothing_is_kept(tmp_path, relay):
    from consent.settings import Settings

    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(video_max_seconds=10))
    client = client_as(app, "office")
    for data, name, status, words in (
        (b"", "empty.mp4", 422, "empty"),
        (relay[: len(relay) // 3], "cut.mov", 422, "cut.mov"),
        (b"\x00" * 4000, "noise.webm", 422, "noise.webm"),
    ):
        response = upload_clip(client, data, name)
        assert response.status_code == status, (name, response.status_code, response.get_data(as_text=True)[:300])
        message = response.get_json()["error"]["message"]
        assert words in message and "/checks/" not in message, message
    assert not [p for p in checked_photos.Place.from_app(app).checks.rglob("*") if p.is_file()]


def test_a_clip_longer_than_the_setting_is_refused_with_413_saying_the_limit(tmp_path, relay):
    from consent.settings import Settings

    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(video_max_seconds=10))
    long_clip = tmp_path / "long.mp4"
    make_clip(long_clip, [(blank(160, 90), 12.0)], fps=5)
    response = upload_clip(client_as(app, "office"), long_clip.read_bytes(), "long.mp4")
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert "long.mp4" in response.get_json()["error"]["message"]
    assert response.get_json()["error"]["code"] == "video_too_large"


def test_a_clip_with_frames_larger_than_the_setting_is_refused_with_413(tmp_path):
    from consent.settings import Settings

    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(video_max_pixels=2_073_600))
    big = tmp_path / "big.mp4"
    make_clip(big, [(blank(2560, 1440), 0.2)], fps=5)
    response = upload_clip(client_as(app, "office"), big.read_bytes(), "big.mp4")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "video_too_large"


def test_a_clip_larger_than_the_upload_limit_is_refused_before_it_is_read(tmp_path, relay):
    from consent.settings import Settings

    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(max_upload_mb=1))
    response = upload_clip(client_as(app, "office"), relay + b"\x00" * (1024 * 1024), "relay.mp4")
    assert response.status_code == 413
    assert not [p for p in checked_photos.Place.from_app(app).checks.rglob("*") if p.is_file()]


# --- a worker killed mid-video --------------------------------------------------------------


def test_kill_9_of_server_and_worker_mid_video_then_restart_finishes_every_clip_once(tmp_path, relay):
    """A power cut while a worker decodes a clip: after the restart every clip is checked once,
    with one safe copy each (no half-written copy left beside it) and no original left."""
    import signal

    from .test_batch_queue import Client, finished, kill_group, rows, start_worker, wait_until
    from .web_helpers import LiveServer

    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = tmp_path / "long.mp4"  # long enough to be killed in the middle of
    make_clip(clip, [(blank(), 2.0), (face, 2.0), (blank(), 2.0), (face, 2.0)], audio=True)
    clips = {f"day/c{i}.mp4": clip.read_bytes() for i in range(3)}
    data = tmp_path / "data"
    env = {"CONSENT_TEST_SLOW_S": "0"}
    with LiveServer(data, workers=0, extra_env=env) as server:
        worker = start_worker(data, env, workers=1)
        job_id = Client(server.url).upload_zip(clips)
        held = []
        wait_until(lambda: held.extend(r["name"] for r in rows(data, job_id) if r["state"] == "running") or held,
                   what="a clip in hand")
        import time

        time.sleep(0.8)  # into the clip's frames
        was_running = [r["name"] for r in rows(data, job_id) if r["state"] == "running"]
        kill_group(server.process)
        kill_group(worker)
    assert was_running and finished(data, job_id) < len(clips), "nothing was mid-clip; make the clips longer"
    with LiveServer(data, workers=0, extra_env=env):
        worker = start_worker(data, env, workers=1)
        try:
            wait_until(lambda: finished(data, job_id) == len(clips), timeout=180, what="the job after the restart")
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=30)
    got = rows(data, job_id)
    assert sorted(r["name"] for r in got) == sorted(clips)
    for r in got:
        assert r["state"] == "done" and r["verdict"] == "review" and r["stored"], (r["name"], r["summary"])
        assert json.loads(r["stored"])["check"]["video"]["face_times"]
        folder = checked_photos.Place(data, "", None).check_dir(r["id"])
        safe = [p for p in folder.rglob("*") if p.is_file() and "safe" in p.parts]
        assert [p.name for p in safe] == [r["name"].rsplit("/", 1)[1]], safe
        assert r["upload_path"] is None
    assert max(r["attempts"] for r in got) >= 2  # the clip killed mid-check was checked again
    assert not [p for p in (data / "web" / "jobs").rglob("*") if p.is_file()], "originals left behind"


# --- memory ---------------------------------------------------------------------------------

#: a batch worker's check of one clip (``consent.jobs.check_thread.run_batch_photo``, the
#: function the web app's workers run), in a fresh process warmed up on a photo first (models
#: loaded); prints the rise of the process's peak memory over the clip's check
MEMORY_CHILD = r"""
import json, sys, tempfile
from pathlib import Path

def peak_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

path, warm, sample_fps = sys.argv[1:4]
from consent.batch import BatchOptions, Job
from consent.jobs import check_thread
from consent.register import Register
from consent.settings import Settings

out = Path(tempfile.mkdtemp())
db = str(out / "consent.db")
with Register(db, user="test") as reg:
    reg.add_person("P1", "Ann", "Example", year_group="6", form="6A")
settings = Settings(video_sample_fps=float(sample_fps))
check_thread.run_batch_photo(db, settings, Job(warm, Path(warm).name), BatchOptions(safe_dir=str(out / "warm")))
before = peak_kb()
result, stored = check_thread.run_batch_photo(db, settings, Job(path, Path(path).name),
                                              BatchOptions(safe_dir=str(out / "batch")))
print(json.dumps({"rise_mb": (peak_kb() - before) / 1024, "error": result.error, "faces": len(result.faces),
                  "stored": stored is not None, "budget_mb": settings.max_decode_mb,
                  "frames": (result.video or {}).get("sampled_frames")}))
"""


@pytest.mark.slow
def test_a_4k_clip_in_a_batch_worker_stays_under_the_per_check_memory_budget(tmp_path):
    """Frames are decoded one at a time (4K is not decoded ahead), and the words and kit of one
    frame at a time are read beside: a 4K clip (3840x2160, 16 s) checked by a batch worker
    raises its warm process's peak by less than ``max_decode_mb``, the budget one photo's check
    keeps to. Measured: +245 MB for this clip (32 frames sampled); +396 MB decoded a frame ahead,
    +191 MB before the words and kit were read beside. Earlier, 30 s of 4K (120 frames) raised
    it as much as 16 s: what is held is a frame or two, whatever the length."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    width, height, fps = 3840, 2160, 5
    face = picture(fixture_dir("people", "train", "biden") / "biden.jpg", width, height)
    wall = blank(width, height)
    clip = tmp_path / "4k.mp4"
    make_clip(clip, [(wall, 6), (face, 4), (wall, 6)], fps=fps, codec_options={"preset": "ultrafast"})

    warm = fixture_dir("faces") / "bald_guys.jpg"
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(clip), str(warm), "2"], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n4K clip, 16 s, in a batch worker: peak {got['rise_mb']:+,.0f} MB over {got['frames']} sampled frames")
    assert got["error"] is None and got["stored"] and got["faces"] >= 1, got
    assert got["rise_mb"] < got["budget_mb"], got


def test_with_a_redis_queue_clips_are_checked_on_the_main_machine_and_photos_sent_out(tmp_path, relay, monkeypatch):
    """Analysis machines analyse photos only: a clip is never put on the Redis analysis queue
    (its bytes would fill it and come back unanalysed); it is checked on the main machine."""
    from consent.jobs import batch_queue, remote_queue, signing

    from .test_web_check import landscape_jpeg

    app = make_app(tmp_path)  # the queue, not inline: the job's rows wait, queued
    job_id = job_id_of(send_folder(client_as(app, "comms"), {"day/relay.mp4": relay, "day/a.jpg": landscape_jpeg()}))
    place = checked_photos.Place.from_app(app)
    signing.create_key(signing.key_path(place.data))
    sent = []
    monkeypatch.setenv("CONSENT_QUEUE", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(remote_queue, "send", lambda url, check_id, data, suffix, cfg, key: sent.append(suffix))
    db = _db(app)
    answers = {name: batch_queue.send_for_analysis(place, db, row["id"]) for name, row in rows_of(app, job_id).items()}
    assert answers == {"day/relay.mp4": False, "day/a.jpg": True} and sent == [".jpg"]


def test_a_clip_that_cannot_be_read_again_after_its_check_is_an_error_not_a_half_stored_result(tmp_path, relay):
    """What is kept of a clip comes from its analysis read again; a clip gone by then is a
    clear error ("check it again"), never a stored check without its times."""
    from consent.batch import BatchOptions, Job, check_photo
    from consent.check import Checker
    from consent.jobs.check_thread import _stored_video

    clip = tmp_path / "relay.mp4"
    clip.write_bytes(relay)
    checker = Checker(None, use_cache=False, kit_check=False, text_check=False, use_register=False)
    result = check_photo(checker, Job(str(clip), "relay.mp4"), BatchOptions())
    assert result.error is None, result.error
    clip.write_bytes(b"")
    assert _stored_video(checker, str(clip), result, False) is None
    assert result.error.endswith("(it could not be read again once checked; check it again)")
    assert result.error_code == "unreadable_video"


@pytest.mark.parametrize("send", [send_folder, send_zip])
def test_a_clip_larger_than_a_photo_may_be_is_taken_by_a_batch_but_a_photo_is_not(tmp_path, relay, send):
    """A clip is decoded a frame at a time, so a batch holds it to the batch's own limit, not a
    photo's (``max_upload_mb``); a photo that large is still refused."""
    from consent.settings import Settings

    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_upload_mb=1, max_batch_upload_mb=10))
    client = client_as(app, "comms")
    padded = relay + b"\x00" * (1024 * 1024)  # trailing bytes after the last box: still a clip
    job_id = job_id_of(send(client, {"day/relay.mp4": padded}))
    (row,) = rows_of(app, job_id).values()
    assert row["state"] == "done", row["summary"]
    response = send(client, {"day/big.jpg": b"\xff\xd8" + b"0" * (1024 * 1024 + 10)})
    assert response.status_code == 413 and "larger than 1 MB" in response.get_data(as_text=True)


def test_a_name_read_in_a_stored_clip_keeps_its_time_when_judged_again(enrolled_db, tmp_path):  # noqa: F811
    """The lines of text keep when they were read: judged again (a consent changed), the name
    on a badge still says when it is on screen, as the check said it."""
    from consent.check import Checker
    from consent.jobs.check_thread import _stored_video
    from consent.register import Register
    from consent.video.check import check_video

    from .conftest import copy_register
    from .drawn_text import draw, missing_fonts

    if missing_fonts():
        pytest.skip(f"fonts missing: {', '.join(missing_fonts())}")
    db = copy_register(enrolled_db, tmp_path)
    badge = tmp_path / "badge.jpg"
    draw(fixture_dir("people", "test") / "obama1.jpg", badge, "Joe Biden", size=0.05, where=(0.05, 0.05))
    obama = picture(fixture_dir("people", "test") / "obama1.jpg")
    clip = make_clip(tmp_path / "class.mp4", [(obama, 1.0), (picture(badge), 0.6), (obama, 1.4)])
    checker = Checker(db, kit_check=False, text_check=True)
    result = check_video(checker, clip, "website")
    stored = _stored_video(checker, clip, result, False)
    (said,) = [r for r in result.reasons if r.code == "name_in_picture"]

    with Register(db) as reg:
        reg.record_consent("P001", "website", "withdrawn")  # Obama's consent withdrawn since
    again = StoredCheck.from_json(json.loads(json.dumps(stored.to_json()))).judge(Checker(db).view())
    (name,) = [r for r in again.reasons if r.code == "name_in_picture"]
    assert (name.message, name.times) == (said.message, said.times) and name.message.startswith("0:01: ")
    (withdrawn,) = [r for r in again.reasons if r.code == "no_consent"]
    assert withdrawn.message.startswith("0:00-0:02: ") or withdrawn.message.startswith("0:00-0:03: "), withdrawn.message
    assert {"kit_not_checked"} <= {r.code for r in again.reasons}
    assert again.verdicts["website"].verdict == "block"


def test_the_api_checks_a_clip_with_times_and_refuses_a_damaged_one_clearly(app, relay):
    from tests.test_web_api import api_check, api_files, token_for

    token = token_for(app, "office")
    response = api_check(app, token, relay, "relay.mp4", channel="website")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["verdict"] == "review" and body["video"]["audio"] is True
    reasons = {r["code"]: r for r in body["reasons"]}
    assert "sound_not_checked" in reasons
    assert any(r["message"].startswith(("0:01: ", "0:01-0:02: ")) for r in body["reasons"] if r.get("faces"))
    assert api_files(app) == []  # the upload is gone once checked

    damaged = api_check(app, token, relay[: len(relay) // 3], "cut.mov")
    assert damaged.status_code == 422
    error = damaged.get_json()["error"]
    assert error["message"].startswith("cut.mov") and "/api/" not in error["message"], error
    assert api_check(app, token, b"\x00" * 5000, "old.avi").status_code == 415  # not a clip this tool checks
    assert api_files(app) == []
