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
    assert {"kit_not_checked", "picture_text_not_checked"} & set(reasons)
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


def test_a_blurred_clip_of_a_batch_still_needs_listening_to(app, relay):
    """Asked for, a batch blurs the faces in a clip as in photos; the blurred copy is judged by
    rule when shown, and blurring cures neither the sound nor the kit."""
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"sports/relay.mp4": relay}, blur="1"))
    (row,) = rows_of(app, job_id).values()
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
