"""The check page: uploads, verdicts, downloads, sign-off requests, refusals, expiry."""

from __future__ import annotations

import io
import os
import time

import pytest
from PIL import Image, ImageDraw

from consent.settings import Settings
from web.check import checked_photos
from web.core.db import connect

from tests.conftest import far_away_group, fixture_dir, models_loaded
from tests.web_helpers import PASSWORD, client_as, csrf, make_app, metadata_tags, post

from web.accounts import accounts


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def _db(app):
    return connect(app.config["CONSENT_DB"])


def landscape_jpeg(with_exif: bool = True) -> bytes:
    """A small picture with no people (ruled lines on paper), carrying camera and owner EXIF."""
    img = Image.new("RGB", (640, 420), (236, 228, 214))
    draw = ImageDraw.Draw(img)
    for y in range(0, 420, 30):
        draw.line([(0, y), (640, y)], fill=(120, 110, 100), width=3)
    exif = Image.Exif()
    if with_exif:
        exif[0x010F] = "Acme Cameras"
        exif[0x0110] = "Snapper 3000"
        exif[0x013B] = "Jo Photographer"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def upload(client, data: bytes, name: str = "field.jpg", channel: str = "all", **headers):
    return client.post(
        "/check/upload",
        data={"photo": (io.BytesIO(data), name), "channel": channel, "caption": "", "csrf_token": csrf(client)},
        headers={"X-Requested-With": "fetch", **headers},
    )


def stored_files(app) -> list:
    root = checked_photos.Place.from_app(app).data / "web" / "checks"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def only_check(app) -> dict:
    rows = list(_db(app)["web_checks"].rows)
    assert len(rows) == 1
    return checked_photos.get(_db(app), rows[0]["id"])


def test_photo_without_people_is_ok_and_its_safe_copy_has_no_metadata(app, tmp_path):
    client = client_as(app, "office")
    response = upload(client, landscape_jpeg())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-verdict="ok"' in html and "OK to publish" in html
    row = only_check(app)
    download = client.get(f"/check/{row['id']}/download/safe")
    assert download.status_code == 200
    assert "field-safe.jpg" in download.headers["Content-Disposition"]
    out = tmp_path / "safe.jpg"
    out.write_bytes(download.data)
    assert metadata_tags(out) == {}


def test_original_upload_is_deleted_once_checked(app):
    client = client_as(app, "office")
    upload(client, landscape_jpeg())
    assert not [p for p in stored_files(app) if "original" in p.parts]
    assert only_check(app)["upload_path"] is None


def test_original_is_kept_when_a_retention_period_is_set(tmp_path):
    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(upload_retention_days=7))
    upload(client_as(app, "office"), landscape_jpeg())
    assert [p for p in stored_files(app) if "original" in p.parts]


def test_group_photo_of_unknown_people_needs_review_and_offers_no_plain_safe_copy(app):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "office")
    response = upload(client, photo.read_bytes(), photo.name)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-verdict="review"' in html
    assert "Send to a senior for sign-off" in html
    row = only_check(app)
    assert client.get(f"/check/{row['id']}/download/safe").status_code == 403
    # the faces are amber (review) in the list, and the preview exists
    assert "swatch-review" in html
    assert client.get(f"/check/{row['id']}/preview.jpg").mimetype == "image/jpeg"


def test_faces_nobody_could_recognise_are_grey_and_say_why_not_amber(app, tmp_path):
    photo = far_away_group(tmp_path / "far_away.png")  # faces of about 15-37 px
    html = upload(client_as(app, "office"), photo.read_bytes(), photo.name).get_data(as_text=True)
    assert "swatch-not_identifiable" in html and "swatch-review" not in html
    assert "counted as a person only — too small for anyone to recognise (" in html
    assert "check who this is" not in html


def test_until_someone_is_enrolled_the_check_and_batch_pages_say_every_face_will_be_unknown(app):
    from consent.images import file_hash
    from consent.register import Register
    from consent.vision import faces

    office = client_as(app, "office").get("/check/").get_data(as_text=True)
    assert 'id="nobody-enrolled"' in office and "Ask the admin to import pupils" in office
    admin = client_as(app, "admin").get("/batch/").get_data(as_text=True)
    assert 'id="nobody-enrolled"' in admin and "Open the register</a> to import pupils" in admin
    photo = fixture_dir("people", "train") / "obama" / "obama.jpg"
    with Register(app.config["CONSENT_DB"], user="test") as reg:
        person = reg.add_person("T001", "Harry", "Patel")
        reg.record_consent(person, "biometric", "granted")
        encoding, quality = faces.enrolment_encoding(photo)
        reg.add_template(person, encoding, file_hash(photo), quality)
    for role, page in (("office", "/check/"), ("admin", "/batch/")):
        assert 'id="nobody-enrolled"' not in client_as(app, role).get(page).get_data(as_text=True)


def test_a_starting_server_loads_the_check_models_before_the_first_upload(app, no_models_loaded):
    """python -m web warms the check thread up as it starts; an upload meanwhile waits its turn
    on that thread, so the first photo never loads a model itself."""
    from consent.jobs import check_thread

    check_thread.warm_up(app.config["CONSENT_DB"], app.config["CONSENT_SETTINGS"])
    check_thread.run(lambda: None)  # the check thread runs in order: this waits for the warm-up
    assert models_loaded(no_models_loaded) == {"detector", "recogniser", "text", "scene"}


def test_non_image_upload_is_refused_clearly_and_nothing_is_stored(app):
    client = client_as(app, "office")
    response = upload(client, b"%PDF-1.4 this is a letter to parents", "letter.pdf")
    assert response.status_code == 415
    message = response.get_json()["error"]["message"]
    assert message.startswith("letter.pdf: not a photo")
    assert "/web/checks/" not in message
    assert stored_files(app) == []
    assert _db(app)["web_checks"].count == 0
    response = upload(client, b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, "Sports day relay.avi")
    assert response.status_code == 415  # a video in a format the video check does not read
    assert response.get_json()["error"]["message"].startswith(
        "Sports day relay.avi: a video; this tool checks photos only, so watch it")
    assert stored_files(app) == []
    # a MOV is checked as a video (tests/test_web_video.py): a damaged one is refused as one
    response = upload(client, b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 64, "Sports day relay.mov")
    assert response.status_code == 422
    assert response.get_json()["error"]["message"].startswith("Sports day relay.mov")
    assert stored_files(app) == []


def test_oversized_upload_is_refused_with_413_and_nothing_is_stored(tmp_path):
    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(max_upload_mb=1))
    client = client_as(app, "office")
    big = b"\xff\xd8" + b"0" * (1024 * 1024 + 10)
    response = upload(client, big, "huge.jpg")
    assert response.status_code == 413
    assert "1 MB" in response.get_json()["error"]["message"]
    assert stored_files(app) == []


def test_oversized_upload_without_scripts_gets_a_page_saying_so(tmp_path):
    app = make_app(tmp_path, CONSENT_SETTINGS=Settings(max_upload_mb=1))
    client = client_as(app, "office")
    response = client.post("/check/", data={"photo": (io.BytesIO(b"0" * (2 * 1024 * 1024)), "big.jpg"), "csrf_token": csrf(client)})
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)


def test_upload_without_csrf_token_is_refused_and_nothing_is_stored(app):
    client = client_as(app, "office")
    response = client.post("/check/upload", data={"photo": (io.BytesIO(landscape_jpeg()), "a.jpg")},
                           headers={"X-Requested-With": "fetch"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf"
    assert stored_files(app) == []


def test_upload_with_no_file_says_so(app):
    client = client_as(app, "office")
    response = post(client, "/check/upload", headers={"X-Requested-With": "fetch"})
    assert response.status_code == 400
    assert "No photo" in response.get_json()["error"]["message"]


def test_unknown_channel_is_refused(app):
    client = client_as(app, "office")
    response = upload(client, landscape_jpeg(), channel="billboard")
    assert response.status_code == 400
    assert "unknown channel" in response.get_json()["error"]["message"]
    assert stored_files(app) == []


def test_form_without_scripts_checks_several_photos_at_once(app):
    client = client_as(app, "office")
    response = client.post("/check/", data={
        "photo": [(io.BytesIO(landscape_jpeg()), "one.jpg"), (io.BytesIO(landscape_jpeg(False)), "two.jpg"),
                  (io.BytesIO(b"not a photo"), "three.jpg")],
        "channel": "newsletter", "csrf_token": csrf(client),
    })
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('data-verdict="ok"') == 2
    assert "three.jpg: not a photo" in html


@pytest.mark.parametrize("role", ["comms", "senior"])
def test_check_page_is_refused_to_roles_that_do_not_check_photos(app, role):
    client = client_as(app, role)
    assert client.get("/check/").status_code == 403
    assert upload(client, landscape_jpeg()).status_code == 403
    assert stored_files(app) == []


def test_check_page_needs_sign_in(app):
    assert app.test_client().get("/check/").status_code == 302
    response = app.test_client().post("/check/upload", headers={"X-Requested-With": "fetch"})
    assert response.status_code in (400, 401)


def test_another_office_user_cannot_see_or_download_my_check(app):
    client = client_as(app, "office")
    upload(client, landscape_jpeg())
    row = only_check(app)
    accounts.create_user(_db(app), "office2", PASSWORD, ["office"])
    other = client_as(app, "office2")
    for url in (f"/check/{row['id']}", f"/check/{row['id']}/download/safe", f"/check/{row['id']}/preview.jpg"):
        assert other.get(url).status_code == 403
    assert client_as(app, "senior").get(f"/check/{row['id']}").status_code == 200


def test_safe_copy_expires(app):
    client = client_as(app, "office")
    upload(client, landscape_jpeg())
    row = only_check(app)
    _db(app)["web_checks"].update(row["id"], {"expires_at": 1.0})
    assert client.get(f"/check/{row['id']}/download/safe").status_code in (403, 404)
    assert checked_photos.sweep(_db(app), checked_photos.Place.from_app(app)) == 1
    assert stored_files(app) == []
    assert client.get(f"/check/{row['id']}/download/safe").status_code == 404
    assert "have expired" in client.get(f"/check/{row['id']}").get_data(as_text=True)


def test_sweep_deletes_what_a_server_stopped_mid_check_left_behind(app):
    client = client_as(app, "office")
    upload(client, landscape_jpeg())
    row = only_check(app)
    place = checked_photos.Place.from_app(app)
    # stopped after storing the result and before deleting the original
    left = place.check_dir(row["id"]) / "original" / "photo.jpg"
    left.parent.mkdir()
    left.write_bytes(b"a pupil")
    # stopped mid-check: a folder with no row, and one just started (no row yet either)
    stale, fresh = place.check_dir("stopped-mid-check"), place.check_dir("being-checked-now")
    for folder in (stale, fresh):
        (folder / "original").mkdir(parents=True)
        (folder / "original" / "photo.jpg").write_bytes(b"a pupil")
    day_ago = time.time() - checked_photos.ORPHAN_UPLOAD_AGE - 60
    os.utime(stale, (day_ago, day_ago))
    assert checked_photos.sweep(_db(app), place) == 0
    assert not left.parent.exists() and not stale.exists() and fresh.exists()
    assert client.get(f"/check/{row['id']}/download/safe").status_code == 200  # the result's files stay


def test_ok_photo_cannot_be_sent_for_sign_off(app):
    client = client_as(app, "office")
    upload(client, landscape_jpeg())
    row = only_check(app)
    response = post(client, f"/check/{row['id']}/review")
    assert response.status_code == 302
    assert only_check(app)["review_state"] is None


def test_office_user_sees_face_states_but_not_names(app):
    """The register-matched case is covered in test_web_register; here: no names for office."""
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "office")
    upload(client, photo.read_bytes(), photo.name)
    row = only_check(app)
    assert "person_name" not in client.get(f"/check/{row['id']}").get_data(as_text=True)


def test_blurred_copy_hides_unrecognised_faces_and_is_metadata_free(app, tmp_path):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    client = client_as(app, "office")
    html = upload(client, photo.read_bytes(), photo.name).get_data(as_text=True)
    row = only_check(app)
    assert "Download with faces blurred" in html  # the re-check of the blurred copy cleared it
    download = client.get(f"/check/{row['id']}/download/blurred")
    assert download.status_code == 200
    assert "obama_and_biden-blurred.jpg" in download.headers["Content-Disposition"]
    out = tmp_path / "blurred.jpg"
    out.write_bytes(download.data)
    assert metadata_tags(out) == {}
    # the face regions really changed
    box = row["data"]["faces"][0]["box"]
    with Image.open(photo) as original, Image.open(out) as blurred:
        region = (box["left"], box["top"], box["right"], box["bottom"])
        assert original.convert("RGB").crop(region).tobytes() != blurred.convert("RGB").crop(region).tobytes()


def test_a_pupils_name_written_in_the_photo_is_named_only_to_roles_that_see_names(app, tmp_path):
    from consent.register import Register
    from tests.drawn_text import draw, missing_fonts

    if missing_fonts():
        pytest.skip("fonts missing: run 'make install'")
    with Register(app.config["CONSENT_DB"], user="test") as reg:
        reg.add_person("T002", "Oliver", "Nowak", year_group="6", form="6A")
    accounts.create_user(_db(app), "head", PASSWORD, ["office", "senior"], display_name="Head of Year")
    photo = tmp_path / "book.jpg"
    draw(fixture_dir("people", "test") / "obama1.jpg", photo, "Oliver Nowak", card="exercise book",
         font="serif", size=0.025, where=(0.05, 0.9))
    for user, sees_names in (("office", False), ("head", True)):
        html = upload(client_as(app, user), photo.read_bytes(), "book.jpg").get_data(as_text=True)
        assert "the picture shows the full name of 1 pupil on roll (bottom left)" in html
        assert ("names Oliver Nowak, on roll" in html) is sees_names
