"""Batch jobs: folder and zip uploads, zip safety, the queue, progress, results, downloads."""

from __future__ import annotations

import csv
import io
import socket
import sqlite3
import unicodedata
import zipfile
from pathlib import Path

import pytest

from consent.settings import Settings
from consent.jobs import batch_jobs
from web.check import checked_photos
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.test_web_check import landscape_jpeg
from tests.web_helpers import client_as, csrf, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, BATCH_INLINE=True)


def _db(app):
    return connect(app.config["CONSENT_DB"])


def send_folder(client, files: dict[str, bytes], **form):
    data = {"photos": [(io.BytesIO(b), name) for name, b in files.items()], "csrf_token": csrf(client),
            "channel": "all", **form}
    return client.post("/batch/", data=data)


def send_zip(client, members: dict[str, bytes], **form):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, b in members.items():
            zf.writestr(name, b)
    buf.seek(0)
    return client.post("/batch/", data={"zip": (buf, "event.zip"), "csrf_token": csrf(client), **form})


def job_id_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]


def job_files(app) -> list:
    root = checked_photos.Place.from_app(app).data / "web" / "jobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_folder_upload_is_checked_and_reaches_100_percent(app):
    client = client_as(app, "comms")
    response = send_folder(client, {
        "Art club/field.jpg": landscape_jpeg(), "Art club/more/lines.jpg": landscape_jpeg(False),
        "Art club/notes.txt": b"not a photo", "Art club/.DS_Store": b"junk",
    })
    job_id = job_id_of(response)
    progress = client.get(f"/batch/{job_id}/progress").get_json()
    assert progress == {"state": "done", "total": 2, "done": 2, "failed": 0, "percent": 100,
                        "counts": {"ok": 2, "review": 0, "block": 0, "error": 0}}
    page = client.get(f"/batch/{job_id}").get_data(as_text=True)
    assert "Art club" in page  # the title comes from the folder name
    assert "more/lines.jpg" in page
    assert "Download 2 safe copies" in page
    # originals are deleted once checked
    assert not [p for p in job_files(app) if p.suffix == ".jpg"]


def test_zip_upload_keeps_photos_with_unsafe_paths_inside_the_job_and_skips_non_photos(app, tmp_path):
    client = client_as(app, "comms")
    response = send_zip(client, {
        "../../escape.jpg": landscape_jpeg(), "/etc/abs.jpg": landscape_jpeg(),
        "event/ok.jpg": landscape_jpeg(), "event/readme.txt": b"hello", "__MACOSX/event/._ok.jpg": b"x",
    })
    job_id = job_id_of(response)
    rows = list(_db(app)["web_checks"].rows_where("job_id = ?", [job_id]))
    assert sorted(r["name"] for r in rows) == ["escape.jpg", "etc/abs.jpg", "event/ok.jpg"]
    assert {r["state"] for r in rows} == {"done"}
    data = checked_photos.Place.from_app(app).data
    # only its safe copy, inside the check's own folder, carries the name
    assert [p.relative_to(data).parts[:2] for p in tmp_path.rglob("escape.jpg")] == [("web", "checks")]


@pytest.mark.parametrize("send", [send_folder, send_zip])
def test_videos_and_unreadable_pictures_are_listed_as_could_not_check_not_passed_over(app, send):
    client = client_as(app, "comms")
    job_id = job_id_of(send(client, {
        "trip/a.jpg": landscape_jpeg(), "trip/Relay.AVI": b"\x00" * 5000, "trip/IMG_2.CR2": b"II*\x00raw",
        "trip/wave.gif": b"GIF89a", "trip/notes.txt": b"a list", "trip/.hidden.mp4": b"x",
    }))
    rows = {r["name"]: r for r in _db(app)["web_checks"].rows_where("job_id = ?", [job_id])}
    assert sorted(rows) == sorted(["trip/a.jpg", "trip/IMG_2.CR2", "trip/Relay.AVI", "trip/wave.gif"])
    assert rows["trip/a.jpg"]["state"] == "done"
    for name, words in (("trip/Relay.AVI", "a video; this tool checks photos only"),
                        ("trip/IMG_2.CR2", "a camera RAW file"), ("trip/wave.gif", "GIF images are not supported")):
        assert rows[name]["state"] == "error" and rows[name]["upload_path"] is None, rows[name]
        assert rows[name]["summary"].startswith(name + ": " + words), rows[name]["summary"]
    assert client.get(f"/batch/{job_id}/progress").get_json() == {
        "state": "done", "total": 4, "done": 4, "failed": 3, "percent": 100,
        "counts": {"ok": 1, "review": 0, "block": 0, "error": 3}}
    page = client.get(f"/batch/{job_id}").get_data(as_text=True)
    assert "a video; this tool checks photos only" in page
    report = client.get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig")
    assert "trip/Relay.AVI" in report and "a video" in report
    assert not [p for p in job_files(app) if p.suffix.lower() in (".avi", ".cr2", ".gif")]  # never saved


def test_a_folder_of_videos_alone_is_a_job_that_says_so(app):
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"day/clip.mp4": b"\x00" * 100}))
    assert client.get(f"/batch/{job_id}/progress").get_json()["counts"] == {"ok": 0, "review": 0, "block": 0, "error": 1}
    assert send_folder(client, {"day/notes.txt": b"x"}).status_code == 400


def test_zip_that_unpacks_past_the_limit_is_refused_and_nothing_is_kept(tmp_path):
    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_batch_upload_mb=1))
    client = client_as(app, "comms")
    bomb = b"\0" * (3 * 1024 * 1024)  # compresses to a few KB
    response = send_zip(client, {"a.jpg": bomb})
    assert response.status_code == 413
    assert "more than 1 MB" in response.get_data(as_text=True)
    assert job_files(app) == [] and _db(app)["web_jobs"].count == 0


def test_batch_upload_larger_than_the_batch_limit_is_refused_with_413(tmp_path):
    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_batch_upload_mb=1))
    client = client_as(app, "comms")
    response = send_folder(client, {"x/a.jpg": b"0" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert job_files(app) == []


def test_batch_allows_more_than_a_single_photo_upload(tmp_path):
    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_upload_mb=1, max_batch_upload_mb=5))
    client = client_as(app, "comms")
    files = {f"x/{i}.jpg": landscape_jpeg() + b"\0" * 400_000 for i in range(4)}  # ~1.6 MB together
    assert send_folder(client, files).status_code == 302


def test_too_many_photos_are_refused(tmp_path):
    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_batch_files=2))
    client = client_as(app, "comms")
    response = send_folder(client, {f"x/{i}.jpg": landscape_jpeg() for i in range(3)})
    assert response.status_code == 413
    assert "more than 2 photos" in response.get_data(as_text=True)
    assert job_files(app) == []


def test_not_a_zip_is_refused_clearly(app):
    client = client_as(app, "comms")
    response = client.post("/batch/", data={"zip": (io.BytesIO(b"PK nope"), "sports day.zip"),
                                            "csrf_token": csrf(client)})
    assert response.status_code == 400
    assert "sports day.zip is not a zip archive" in response.get_data(as_text=True)


def test_folder_without_photos_is_refused(app):
    client = client_as(app, "comms")
    response = send_folder(client, {"x/notes.txt": b"hi"})
    assert response.status_code == 400
    assert "No photos were found" in response.get_data(as_text=True)


def test_a_bad_photo_does_not_stop_the_batch(app):
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"e/good.jpg": landscape_jpeg(), "e/broken.jpg": b"\xff\xd8\xff garbage"}))
    progress = client.get(f"/batch/{job_id}/progress").get_json()
    assert progress["done"] == 2 and progress["failed"] == 1 and progress["counts"]["ok"] == 1
    page = client.get(f"/batch/{job_id}?show=error").get_data(as_text=True)
    assert "e/broken.jpg" in page and "e/good.jpg" not in page


def test_gallery_filters_by_verdict_and_zip_holds_only_cleared_safe_copies(app):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"trip/lines.jpg": landscape_jpeg(), "trip/group.jpg": photo.read_bytes()}))
    review = client.get(f"/batch/{job_id}?show=review").get_data(as_text=True)
    assert "trip/group.jpg" in review and "trip/lines.jpg" not in review
    download = client.get(f"/batch/{job_id}/safe-copies.zip")
    assert download.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    assert names == ["trip/lines.jpg"]


def test_blurred_copies_join_the_zip_only_where_blurring_makes_the_photo_ok(app, tmp_path):
    """Asked for, a batch makes blurred copies as the single check does (same library call),
    re-checks them, and the zip and both reports say which copies are blurred."""
    from PIL import Image

    from tests.web_helpers import metadata_tags

    group = fixture_dir("people", "test") / "obama_and_biden.jpg"  # nobody on roll: unknown faces
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"trip/lines.jpg": landscape_jpeg(), "trip/group.jpg": group.read_bytes()},
                                   blur="1"))
    db = _db(app)
    rows = {r["name"]: checked_photos.get(db, r["id"]) for r in db.query("select id, name from web_checks")}
    assert rows["trip/lines.jpg"]["blurred_path"] is None  # nothing to blur
    assert rows["trip/group.jpg"]["verdict"] != "ok" and checked_photos.blurred_channels(rows["trip/group.jpg"])
    page = client.get(f"/batch/{job_id}").get_data(as_text=True)
    assert "Download 2 safe copies" in page and "1 of them with faces blurred" in page
    download = client.get(f"/batch/{job_id}/safe-copies.zip")
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert sorted(archive.namelist()) == ["trip/group-blurred.jpg", "trip/lines.jpg"]
    out = tmp_path / "group-blurred.jpg"
    out.write_bytes(archive.read("trip/group-blurred.jpg"))
    assert metadata_tags(out) == {}
    box = rows["trip/group.jpg"]["data"]["faces"][0]["box"]
    with Image.open(group) as original, Image.open(out) as blurred:
        region = (box["left"], box["top"], box["right"], box["bottom"])
        assert original.convert("RGB").crop(region).tobytes() != blurred.convert("RGB").crop(region).tobytes()
    report = list(csv.DictReader(io.StringIO(client.get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig"))))
    blurred = {r["photo"]: r["blurred_copy"] for r in report}
    assert blurred == {"trip/group.jpg": "trip/group-blurred.jpg", "trip/lines.jpg": ""}
    html = client.get(f"/batch/{job_id}/report.html").get_data(as_text=True)
    assert "Blurred copy trip/group-blurred.jpg: faces without consent blurred; re-checked: ok for" in html
    assert html.count("Blurred copy") == 1


def test_no_blurred_copy_is_offered_when_the_caption_names_a_pupil(app):
    """Blurring changes the picture, not the words beside it: a caption naming a pupil on roll
    stays on the blurred copy, so neither the zip nor the photo's page offers that copy."""
    from consent.register.store import Register

    with Register(app.config["CONSENT_DB"], user="setup") as reg:
        reg.add_person("A1", "Rose", "Tyler", year_group="6", form="6B")
    group = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"trip/group.jpg": group.read_bytes()}, blur="1",
                                   caption="Rose Tyler at sports day"))
    row = checked_photos.get(_db(app), next(_db(app).query("select id from web_checks"))["id"])
    assert "name_in_caption" in {r["code"] for r in row["data"]["reasons"]}
    # the faces are blurred (unknown faces cured), the caption's name stays
    assert row["data"]["blurred"]["verdict"] == "review"
    assert "named in the caption" in row["data"]["blurred"]["channels"]["website"]["detail"]
    assert checked_photos.blurred_channels(row) == []
    assert client.get(f"/batch/{job_id}/safe-copies.zip").status_code == 404
    page = client.get(f"/check/{row['id']}").get_data(as_text=True)
    assert "Download with faces blurred" not in page and "blurring the picture does not change that" in page


def test_a_batch_makes_no_blurred_copies_unless_asked(app):
    group = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"trip/group.jpg": group.read_bytes()}))
    row = next(_db(app).query("select blurred_path from web_checks where job_id = ?", [job_id]))
    assert row["blurred_path"] is None
    assert client.get(f"/batch/{job_id}/safe-copies.zip").status_code == 404


def test_csv_and_html_reports_list_every_photo(app):
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"e/a.jpg": landscape_jpeg(), "e/b.jpg": b"bad"}))
    response = client.get(f"/batch/{job_id}/report.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert {r[0] for r in rows[1:]} == {"e/a.jpg", "e/b.jpg"}
    html = client.get(f"/batch/{job_id}/report.html").get_data(as_text=True)
    assert "e/a.jpg" in html and "data:image/jpeg;base64" in html
    # the same word for each state as the batch page (one place: consent.results)
    page = client.get(f"/batch/{job_id}").get_data(as_text=True)
    for words in ("Needs sign-off", "Do not publish", "Could not check", "2 photos: ok 1, needs sign-off 0, "
                  "do not publish 0, could not check 1"):
        assert words in html
    for words in ("Needs sign-off", "Do not publish", "Could not check"):
        assert words in page
    assert "need review" not in html.lower() and "blocked" not in html.lower()


def test_photos_a_dead_worker_held_are_recovered_and_checked_once(app):
    client = client_as(app, "comms")
    app.config["BATCH_INLINE"] = False
    app.config["BATCH_ENQUEUE"] = False
    job_id = job_id_of(send_folder(client, {f"e/{i}.jpg": landscape_jpeg() for i in range(3)}))
    place = checked_photos.Place.from_app(app)
    db = _db(app)
    ids = [r["id"] for r in db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq")]
    assert batch_jobs.process(db, place, ids[0], "here:1") == "done"
    # a worker on this machine took the second photo and died (no such process)
    assert batch_jobs.claim(db, ids[1], f"{socket.gethostname()}:999999999") is not None
    assert client.get(f"/batch/{job_id}/progress").get_json()["state"] == "running"
    queued = []
    assert batch_jobs.recover(db, place, {ids[2]}, queued.extend) == 1
    assert queued == [ids[1]]  # the third photo's task is still waiting in the queue
    assert [batch_jobs.process(db, place, i, "here:2") for i in ids] == ["skipped", "done", "done"]
    assert client.get(f"/batch/{job_id}/progress").get_json()["percent"] == 100
    assert [r["attempts"] for r in db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq")] == [1, 2, 1]


def test_files_a_worker_killed_after_recording_left_behind_are_deleted_by_recovery(app):
    client = client_as(app, "comms")
    app.config["BATCH_INLINE"] = False
    app.config["BATCH_ENQUEUE"] = False
    job_id = job_id_of(send_folder(client, {"e/a.jpg": landscape_jpeg(), "e/b.jpg": b"bad", "e/c.jpg": landscape_jpeg()}))
    place = checked_photos.Place.from_app(app)
    db = _db(app)
    ids = [r["id"] for r in db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq")]
    originals = [Path(r["upload_path"]) for r in db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq")]
    saved = {p: p.read_bytes() for p in originals}
    assert [batch_jobs.process(db, place, i, "here:1") for i in ids[:2]] == ["done", "failed"]
    # a worker killed just after writing the outcomes and before deleting the files
    for path, data in saved.items():
        path.write_bytes(data)
    place.check_dir(ids[1]).mkdir(parents=True)
    (place.check_dir(ids[1]) / "safe.jpg").write_bytes(b"partial")
    assert batch_jobs.recover(db, place, {ids[2]}, [].extend) == 0
    assert [p.exists() for p in originals] == [False, False, True]  # the third is still to check
    assert not place.check_dir(ids[1]).exists() and place.check_dir(ids[0]).exists()
    # an upload still being saved (no job row yet) is not touched
    early = batch_jobs.job_dir(place, "not-yet-a-job") / "in" / "00001.jpg"
    early.parent.mkdir(parents=True)
    early.write_bytes(b"x")
    checked_photos.remove_leftovers(db, place)
    assert early.exists()
    assert batch_jobs.process(db, place, ids[2], "here:2") == "done" and not originals[2].exists()


@pytest.mark.parametrize("role", ["office", "senior"])
def test_batch_pages_are_refused_to_other_roles(app, role):
    comms = client_as(app, "comms")
    job_id = job_id_of(send_folder(comms, {"e/a.jpg": landscape_jpeg()}))
    client = client_as(app, role)
    for url in ("/batch/", f"/batch/{job_id}", f"/batch/{job_id}/progress", f"/batch/{job_id}/safe-copies.zip",
                f"/batch/{job_id}/report.csv"):
        assert client.get(url).status_code == 403, url
    assert send_folder(client, {"e/b.jpg": landscape_jpeg()}).status_code == 403
    assert _db(app)["web_jobs"].count == 1


def test_another_comms_user_cannot_open_my_job(app):
    from web.accounts import accounts
    from tests.web_helpers import PASSWORD

    job_id = job_id_of(send_folder(client_as(app, "comms"), {"e/a.jpg": landscape_jpeg()}))
    accounts.create_user(_db(app), "comms2", PASSWORD, ["comms"])
    assert client_as(app, "comms2").get(f"/batch/{job_id}").status_code == 403


def test_batch_upload_without_csrf_is_refused(app):
    client = client_as(app, "comms")
    response = client.post("/batch/", data={"photos": [(io.BytesIO(landscape_jpeg()), "e/a.jpg")]})
    assert response.status_code == 400
    assert _db(app)["web_jobs"].count == 0 and job_files(app) == []


def test_clean_name_keeps_photos_inside_the_job_and_skips_junk():
    assert str(batch_jobs.clean_name("../x.jpg")) == "x.jpg"
    assert str(batch_jobs.clean_name("a/../../x.jpg")) == "a/x.jpg"
    assert batch_jobs.clean_name(".hidden/x.jpg") is None
    assert batch_jobs.clean_name("a/._x.jpg") is None
    assert batch_jobs.clean_name("a/notes.txt") is None
    assert batch_jobs.clean_name("") is None and batch_jobs.clean_name("/") is None
    assert str(batch_jobs.clean_name("C:\\Users\\me\\x.jpg")) == "C_/Users/me/x.jpg"
    assert str(batch_jobs.clean_name("/abs/y.JPG")) == "abs/y.JPG"
    assert str(batch_jobs.clean_name("trip/ .jpg")) == "trip/photo.jpg"
    assert str(batch_jobs.clean_name("trip/\x07bell\x00.jpg")) == "trip/bell.jpg"


def test_clean_name_cuts_long_names_to_a_safe_length_keeping_the_ending():
    name = batch_jobs.clean_name("é" * 150 + ".jpeg")  # 300 bytes before the ending
    assert len(name.name.encode()) <= batch_jobs.NAME_BYTES and name.suffix == ".jpeg"
    assert set(name.stem) == {"é"}  # cut between characters, never inside one


def test_unicode_forms_are_one_name():
    nfc, nfd = unicodedata.normalize("NFC", "café.jpg"), unicodedata.normalize("NFD", "café.jpg")
    assert nfc != nfd and batch_jobs.clean_name(nfc) == batch_jobs.clean_name(nfd)


ODD_NAMES = {
    "ev/" + "a" * 296 + ".jpg": "300-byte name",
    "ev/" + "a" * 297 + ".JPG": "another 300-byte name, the same once cut",
    "ev/Photo.jpg": "case", "ev/photo.jpg": "differs only in case", "ev/PHOTO.JPG": "and again",
    "ev/" + unicodedata.normalize("NFC", "café.jpg"): "composed",
    "ev/" + unicodedata.normalize("NFD", "café.jpg"): "decomposed",
    "ev/../x.jpg": "dot-dot", "ev/ .jpg": "empty stem",
}


@pytest.mark.parametrize("how", ["folder", "zip"])
def test_long_and_odd_names_become_safe_unique_names_and_every_photo_is_checked(app, how):
    client = client_as(app, "comms")
    files = {name: landscape_jpeg() for name in ODD_NAMES}
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
            empty = zipfile.ZipInfo("x")
            empty.filename = ""  # a member with an empty name is skipped, not a crash
            zf.writestr(empty, landscape_jpeg())
        buf.seek(0)
        response = client.post("/batch/", data={"zip": (buf, "odd.zip"), "csrf_token": csrf(client)})
    else:
        response = send_folder(client, files)
    job_id = job_id_of(response)
    rows = list(_db(app)["web_checks"].rows_where("job_id = ?", [job_id]))
    names = [r["name"] for r in rows]
    assert len(rows) == len(ODD_NAMES)
    assert len({n.casefold() for n in names}) == len(names)  # unique even ignoring case
    assert all(len(part.encode()) <= batch_jobs.NAME_BYTES for n in names for part in n.split("/"))
    assert {"ev/Photo.jpg", "ev/photo (2).jpg", "ev/PHOTO (3).JPG", "ev/café.jpg", "ev/café (2).jpg",
            "ev/x.jpg", "ev/photo (4).jpg"} <= set(names)
    assert {r["state"] for r in rows} == {"done"}
    download = client.get(f"/batch/{job_id}/safe-copies.zip")
    assert len(zipfile.ZipFile(io.BytesIO(download.data)).namelist()) == len(ODD_NAMES)


def test_an_upload_that_fails_half_way_leaves_no_job_and_no_files(tmp_path):
    app = make_app(tmp_path, BATCH_INLINE=True, CONSENT_SETTINGS=Settings(max_upload_mb=1))
    client = client_as(app, "comms")
    big = landscape_jpeg() + b"\0" * (1024 * 1024 + 1)
    response = send_zip(client, {"e/a.jpg": landscape_jpeg(), "e/b.jpg": landscape_jpeg(), "e/c.jpg": big})
    assert response.status_code == 413 and "e/c.jpg" in response.get_data(as_text=True)
    assert _db(app)["web_jobs"].count == 0 and _db(app)["web_checks"].count == 0
    assert job_files(app) == []


def test_sweep_never_touches_a_job_that_is_not_finished(tmp_path):
    app = make_app(tmp_path, BATCH_ENQUEUE=False, CONSENT_SETTINGS=Settings(upload_retention_days=0))
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {f"e/{i}.jpg": landscape_jpeg() for i in range(3)}))
    place = checked_photos.Place.from_app(app)
    db = _db(app)
    ids = [r["id"] for r in db["web_checks"].rows_where("job_id = ?", [job_id], order_by="seq")]
    batch_jobs.process(db, place, ids[0], "here:1")
    for when in (None, 2e9):  # now, and far in the future (everything expired)
        checked_photos.sweep(db, place, now=when)
        originals = [p for p in job_files(app) if "/in/" in p.as_posix()]
        assert len(originals) == 2
    assert [batch_jobs.process(db, place, i, "here:1") for i in ids[1:]] == ["done", "done"]
    assert client.get(f"/batch/{job_id}/progress").get_json()["counts"]["ok"] == 3


def test_a_busy_register_puts_the_photo_back_for_a_retry_and_loses_nothing(tmp_path):
    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(register_busy_timeout_s=0.2))
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"e/a.jpg": landscape_jpeg()}))
    place = checked_photos.Place.from_app(app)
    db = connect(app.config["CONSENT_DB"], 0.2)
    (check_id,) = [r["id"] for r in db["web_checks"].rows_where("job_id = ?", [job_id])]
    other = sqlite3.connect(app.config["CONSENT_DB"])
    other.execute("begin immediate")  # a long import holds the register
    with pytest.raises(batch_jobs.TryAgain):
        batch_jobs.process(db, place, check_id, "here:1", last_try=False)
    other.rollback()
    row = db["web_checks"].get(check_id)
    assert row["state"] == "queued" and not row["attempts"] and row["upload_path"]
    assert batch_jobs.process(db, place, check_id, "here:1") == "done"
    assert client.get(f"/batch/{job_id}/progress").get_json()["counts"]["ok"] == 1


def test_comms_batch_reports_say_a_name_is_there_not_whether_it_is_a_pupils(app):
    """Issue 27 (d): comms' reports said "1 pupil in the photo is named in the caption"; a file
    named after a pupil on roll and one named after nobody now read and judge the same."""
    from consent.register.store import Register

    with Register(app.config["CONSENT_DB"], user="setup") as reg:
        reg.add_person("A1", "Rose", "Tyler", year_group="6", form="6B")
    client = client_as(app, "comms")
    job_id = job_id_of(send_folder(client, {"trip/rose_tyler.jpg": landscape_jpeg(),
                                            "trip/joseph_bidden.jpg": landscape_jpeg(),
                                            "trip/IMG_0001.jpg": landscape_jpeg()}))
    report = {r["photo"]: r for r in csv.DictReader(io.StringIO(
        client.get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig")))}
    pupil, nobody, plain = (report[f"trip/{n}.jpg"] for n in ("rose_tyler", "joseph_bidden", "IMG_0001"))
    assert {k: v for k, v in pupil.items() if k != "photo"} == {k: v for k, v in nobody.items() if k != "photo"}
    assert "file name names a person" in str(pupil) and "on roll" not in str(pupil)
    assert "names a person" not in str(plain)
    html = client.get(f"/batch/{job_id}/report.html").get_data(as_text=True)
    assert "pupil on roll" not in html and "pupils on roll" not in html and html.count("names a person") >= 2
    # an admin's report still tells them apart
    admin = client_as(app, "admin").get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig")
    assert "1 pupil on roll is named in the file name" in admin
