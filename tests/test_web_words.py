"""What the pages say, for their reader: a limit an admin can lift is named as the Settings
page names it, and anyone else is told to ask their admin; the audit log in sentences."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from consent.settings import Settings
from tests.web_helpers import client_as, csrf, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, CONSENT_SETTINGS=Settings(max_pixels=20_000_000))


def big_png() -> bytes:
    """A 5000 x 4500 photo: 22.5 megapixels, over a 20-megapixel limit (a plain colour, so small)."""
    buf = io.BytesIO()
    Image.new("L", (5000, 4500), 128).save(buf, "PNG")
    return buf.getvalue()


def upload(client, data: bytes, name: str, script: bool = True):
    headers = {"X-Requested-With": "fetch"} if script else {}
    url = "/check/upload" if script else "/check/"
    return client.post(url, data={"photo": (io.BytesIO(data), name), "csrf_token": csrf(client)}, headers=headers)


def test_office_is_told_what_they_can_do_not_to_change_a_setting_they_cannot_open(app):
    office = client_as(app, "office")
    response = upload(office, big_png(), "hall.png")
    assert response.status_code == 413
    message = response.get_json()["error"]["message"]
    assert "22 megapixels, over the limit of 20" in message
    assert message.endswith("save a smaller copy (e.g. 4000 px on the long side, as JPEG) and try again")
    assert "max_pixels" not in message and "settings" not in message.lower()
    page = upload(office, big_png(), "hall.png", script=False).get_data(as_text=True)  # the page without scripts
    assert "save a smaller copy" in page and "max_pixels" not in page


def test_a_setting_named_in_a_message_is_said_for_its_reader(app):
    """No library message names a setting today; should one again, an admin is told where it is
    on the Settings page and anyone else to ask their admin (web.core.words.for_reader)."""
    from web.core.words import for_reader

    class Reader:
        def __init__(self, role):
            self.role = role

        def has(self, *roles):
            return self.role in roles

    said = for_reader("x.jpg: too big (or raise max_decode_mb in settings)", Reader("office"))
    assert said == "x.jpg: too big (or ask your admin to raise “Memory one photo may need (MB)” in the settings)"
    assert for_reader("x.jpg: too big (or raise max_pixels in settings)", Reader("admin")) == (
        "x.jpg: too big (or raise “Largest photo in pixels” under Settings, Expert)")
    assert for_reader("no hint here", Reader("office")) == "no hint here"


def test_the_audit_log_says_each_web_event_as_a_sentence(tmp_path):
    from web.audit.audit_log import log_event
    from web.core.db import connect

    app = make_app(tmp_path)
    db = connect(app.config["CONSENT_DB"])
    log_event(db, "office", "caption.tried", None, {"photo": "17307b9c0d1e2f3a", "caption": "a1b2c3d4e5f6a7b8"})
    log_event(db, "comms", "batch.created", None, {"job": "j1", "photos": 12, "title": "Sports day", "blurred copies": False})
    log_event(db, "comms", "download.batch_zip", None, {"job": "j1", "photos": 12, "blurred copies": 3})
    log_event(db, "senior", "review.approved", "c1", {"photo": "trip.jpg", "note": "fine", "verdict": "review",
                                                       "channels": "website, social_media"})
    log_event(db, "office", "download.safe", "c1", {"photo": "trip.jpg", "channels": ["website"], "publishing": "newsletter"})
    log_event(db, "admin", "account.created", None, {"user": "ann", "roles": "office,senior"})
    log_event(db, "admin", "something.new", None, {"photo": "x.jpg"})  # an action with no sentence of its own yet
    page = client_as(app, "admin").get("/audit/").get_data(as_text=True)
    for sentence in (
        "Tried a caption on a photo, as someone who may not see names (their tries are limited); photo fingerprint 17307b9c.",
        "Started the batch “Sports day” of 12 photos, without blurred copies.",
        "Downloaded the safe copies of a batch: 12 photos, 3 of them with faces blurred.",
        "Approved trip.jpg for website and social media (the check said needs sign-off). Note: “fine”.",
        "Downloaded the safe copy of trip.jpg to publish on newsletter.",
        "Created the account ann (office and senior).",
        "Something: new: photo x.jpg.",
    ):
        assert sentence.replace("“", "&#8220;").replace("”", "&#8221;") in page or sentence in page, sentence
    for code in ("caption: tried", "blurred copies False", "a1b2c3d4", "social_media", "review.approved"):
        assert code not in page, code


def test_removed_metadata_is_said_once_in_plain_words_with_the_list_behind_details(tmp_path):
    import re

    from tests.test_web_check import landscape_jpeg, upload as upload_photo

    app = make_app(tmp_path)
    card = upload_photo(client_as(app, "office"), landscape_jpeg(), "field.jpg").get_data(as_text=True)
    found = re.search(r'<details class="removed"><summary>(.*?)</summary>\s*<p class="hint">(.*?)</p></details>', card, re.S)
    assert found, card[:2000]
    assert found.group(1).startswith("Camera and name details removed from the safe copy")
    assert "camera details and serial numbers" in found.group(2) and "owner or copyright names" in found.group(2)
    assert card.count("camera details and serial numbers") == 1  # not again in the reasons
    assert "<h3>Why</h3>" not in card  # a photo with nothing else to say has no "Why" list
