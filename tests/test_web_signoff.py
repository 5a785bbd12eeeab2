"""Sign-off journeys without dead ends: every verdict that is not ok offers the next step, one
state reads as one headline (channel by channel), decisions reach the sender with the senior's
note and a count in the header, and batch photos are sent and approved many at a time.

The stored checks here are written as the web app stores them (a ``web_checks`` row holding the
check's JSON), so each channel's verdict is exactly the one under test; the full path from a
real photo is covered by tests/test_web_review.py and the browser tests.
"""

from __future__ import annotations

import json
import time

import pytest

from web.check import checked_photos, result_cards
from web.core.db import connect

from tests.web_helpers import client_as, csrf, make_app, post


def _data(channels: dict[str, str], reasons=(), faces=(), blurred=None) -> dict:
    """A check's JSON as the library writes it, with exactly these verdicts and reasons."""
    from consent.results import ChannelVerdict, PhotoCheck, Reason

    full = [Reason.from_json({"channels": [], "faces": [], "senior_signoff": False, "suggestion": None, **r})
            for r in reasons]
    check = PhotoCheck(path="x.jpg", name="x.jpg", channels=list(channels), reasons=full, pupil_count=3,
                       verdicts={c: ChannelVerdict(c, v) for c, v in channels.items()})
    data = check.to_json(names=True, admin=True)
    data["faces"] = list(faces)
    if blurred is not None:
        data["blurred"] = {"verdict": "ok", "channels": {c: {"verdict": v} for c, v in blurred.items()}}
    return data


def _row(channels: dict[str, str], **extra) -> dict:
    """A stored check as checked_photos.get returns it."""
    data = extra.pop("data", None) or _data(channels)
    verdict = max(channels.values(), key=["ok", "review", "block"].index)
    row = {"id": "c1", "user_id": 1, "job_id": None, "seq": None, "state": "done", "name": "fair.jpg",
           "verdict": verdict, "summary": "", "data": data, "safe_path": None, "blurred_path": None,
           "expires_at": time.time() + 3600, "review_state": None, "approved_channels": None}
    row.update(extra)
    return row


NEVER = {"code": "never_publish", "severity": "block", "message": "1 person in this photo cannot be published on any channel", "channels": []}
NO_CONSENT = {"code": "no_consent", "severity": "block", "message": "1 pupil without consent for press (consent refused)", "channels": ["press"]}


def test_mixed_channels_get_one_headline_channel_by_channel():
    row = _row({"website": "ok", "newsletter": "review", "press": "block"})
    assert result_cards.headline(row) == ("block", "OK for website; OK for newsletter after sign-off; not for press")


def test_the_same_verdict_everywhere_keeps_the_short_headline():
    assert result_cards.headline(_row({"website": "review", "press": "review"}))[1] == "Needs a senior's sign-off"


def test_after_sign_off_the_headline_no_longer_says_do_not_publish():
    row = _row({"website": "review", "press": "block"}, review_state="approved",
               approved_channels=json.dumps(["website"]))
    state, text = result_cards.headline(row)
    assert state == "ok" and text == "Signed off: OK for website; not for press"
    assert "Do not publish" not in text
    assert result_cards.headline(_row({"website": "review"}, review_state="pending"))[1] == "Waiting for a senior's sign-off: do not publish it yet"


@pytest.mark.parametrize("reasons, who", [
    ([NEVER], "designated safeguarding lead"),
    ([NO_CONSENT], "ask the admin"),
    ([], "senior colleague"),
])
def test_every_verdict_that_is_not_ok_offers_the_next_step_and_says_who_decides(reasons, who):
    channels = {"website": "block" if reasons else "review", "press": "block" if reasons else "review"}
    step = result_cards.next_step(_row(channels, data=_data(channels, reasons)))
    assert step is not None and who in step["text"]
    assert result_cards.next_step(_row({"website": "ok"})) is None


def test_never_publish_is_never_cleared_by_blurring():
    faces = [{"index": 0, "never_publish": True, "match": "matched", "state": "no_consent"}]
    data = _data({"website": "block"}, [NEVER], faces, blurred={"website": "ok"})
    row = _row({"website": "block"}, data=data)
    assert checked_photos.blurred_channels(row) == []
    other = _row({"website": "block"}, data=_data({"website": "block"}, [NO_CONSENT], blurred={"website": "ok"}))
    assert checked_photos.blurred_channels(other) == ["website"]


def test_downloads_get_a_neutral_name_when_the_file_name_names_a_pupil():
    named = {"code": "name_in_caption", "severity": "review", "channels": [],
             "message": "1 pupil on roll is named in the file name; pupils must not be named next to photos"}
    row = _row({"website": "review"}, name="kit_with_rose.jpg", data=_data({"website": "review"}, [named]))
    assert checked_photos.download_name(row, "blurred", ".jpg") == "photo-c1-blurred.jpg"
    row.update(job_id="j", seq=4)
    assert checked_photos.download_name(row, "safe", ".jpg", "Sports day 2026") == "Sports_day_2026-005-safe.jpg"
    plain = _row({"website": "ok"}, name="DSCN0010.jpg")
    assert checked_photos.download_name(plain, "safe", ".jpg") == "DSCN0010-safe.jpg"


# --- through the app --------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def _store(app, check_id: str, channels: dict[str, str], reasons=(), **extra) -> None:
    db = connect(app.config["CONSENT_DB"])
    users = {r["username"]: r["id"] for r in db["web_users"].rows}
    verdict = max(channels.values(), key=["ok", "review", "block"].index)
    db["web_checks"].insert({
        "id": check_id, "user_id": users[extra.pop("owner", "office")], "created_at": time.time(), "state": "done",
        "name": f"{check_id}.jpg", "channels": json.dumps(list(channels)), "caption": "", "verdict": verdict,
        "summary": "", "result": json.dumps(_data(channels, reasons)), "expires_at": time.time() + 3600,
        **extra,
    }, alter=True)
    db.conn.close()


def _get(app, check_id):
    return checked_photos.get(connect(app.config["CONSENT_DB"]), check_id)


def test_a_blocked_photo_is_sent_with_a_note_and_the_sender_sees_the_decision_and_its_note(app):
    _store(app, "b1", {"website": "block", "press": "block"}, [NO_CONSENT])
    office = client_as(app, "office")
    page = office.get("/check/b1").get_data(as_text=True)
    assert "Next step" in page and "Send to a senior for sign-off" in page and 'name="note"' in page
    card = post(office, "/check/b1/review", {"note": "mum emailed consent today"},
                headers={"X-Requested-With": "fetch", "Accept": "text/html"})
    assert card.status_code == 200 and "<article" in card.get_data(as_text=True)  # the card, not a new page
    assert "Waiting for a senior" in card.get_data(as_text=True)

    senior = client_as(app, "senior")
    assert "1 photo waiting for your sign-off" in senior.get("/").get_data(as_text=True)
    queue = senior.get("/review/").get_data(as_text=True)
    assert "mum emailed consent today" in queue and "A senior colleague will look at it" not in queue
    assert queue.count("mum emailed consent today") == 1  # above the card, not again inside it
    # a blocked channel is released only when ticked, with the reason in the note
    post(senior, "/review/b1/approve", {"release": ["website"]})
    assert _get(app, "b1")["review_state"] == "pending"
    post(senior, "/review/b1/approve", {"release": ["website"], "note": "consent form seen, website only"})
    row = _get(app, "b1")
    assert row["review_state"] == "approved" and checked_photos.cleared_channels(row) == ["website"]

    home = office.get("/").get_data(as_text=True)
    assert "1 new sign-off decision" in home
    check_page = office.get("/check/").get_data(as_text=True)
    assert "signed off" in check_page and "consent form seen, website only" in check_page
    assert "new sign-off decision" not in office.get("/").get_data(as_text=True)  # seen now
    mine = office.get("/review/mine").get_data(as_text=True)
    assert "mum emailed consent today" in mine and "consent form seen, website only" in mine


def test_comms_sends_many_batch_photos_with_one_note_and_a_senior_approves_the_batch(app):
    db = connect(app.config["CONSENT_DB"])
    comms_id = next(db["web_users"].rows_where("username = 'comms'"))["id"]
    db["web_jobs"].insert({"id": "job1", "user_id": comms_id, "created_at": time.time(), "state": "done",
                           "channels": "[]", "caption": "", "title": "Sports day", "total": 6, "done": 6, "failed": 0})
    db.conn.close()
    for i in range(5):
        _store(app, f"p{i}", {"website": "review"}, owner="comms", job_id="job1", seq=i)
    _store(app, "p5", {"website": "ok"}, owner="comms", job_id="job1", seq=5)
    comms = client_as(app, "comms")
    page = comms.get("/batch/job1").get_data(as_text=True)
    assert page.count('name="check"') == 5  # the ok photo has nothing to send
    detail = comms.get("/check/p0").get_data(as_text=True)
    assert "/batch/job1" in detail and "Check more photos" not in detail  # back to the batch, not a 403
    response = post(comms, "/batch/job1/review", {"check": [f"p{i}" for i in range(5)] + ["p5"], "note": "for the newsletter"})
    assert response.status_code == 302
    assert [_get(app, f"p{i}")["review_state"] for i in range(6)] == ["pending"] * 5 + [None]

    senior = client_as(app, "senior")
    queue = senior.get("/review/").get_data(as_text=True)
    assert "Approve all 5" in queue and queue.count("for the newsletter") >= 5
    post(senior, "/review/batch/job1/approve", {"check": [f"p{i}" for i in range(5)], "note": "lovely"})
    assert _get(app, "p0")["review_state"] == "pending"  # "I have looked at every photo" not ticked
    post(senior, "/review/batch/job1/approve", {"check": [f"p{i}" for i in range(5)], "note": "lovely", "looked": "yes"})
    assert all(_get(app, f"p{i}")["review_state"] == "approved" for i in range(5))
    assert "5 new sign-off decisions" in comms.get("/").get_data(as_text=True)


def test_a_shared_report_shows_a_blocked_photo_as_a_grey_box_with_the_reason(tmp_path):
    from PIL import Image

    from consent import reports
    from consent.results import ChannelVerdict, PhotoCheck, Reason

    photo = tmp_path / "a.jpg"
    Image.new("RGB", (64, 48), "red").save(photo)
    blocked = PhotoCheck(path=str(photo), name="a.jpg", channels=["press"],
                         reasons=[Reason("no_consent", "block", "1 pupil without consent for press", ["press"])],
                         verdicts={"press": ChannelVerdict("press", "block", "")})
    ok = PhotoCheck(path=str(photo), name="b.jpg", channels=["press"], verdicts={"press": ChannelVerdict("press", "ok")})
    page = reports.render_html([blocked, ok])
    assert page.count("data:image/jpeg;base64") == 1  # only the ok photo is embedded
    assert "Photo not shown: 1 pupil without consent for press" in page


def test_the_csv_report_names_each_downloadable_safe_copy(tmp_path):
    import csv
    import io

    from tests.test_web_batch import job_id_of, landscape_jpeg, send_folder

    app = make_app(tmp_path, BATCH_INLINE=True)
    comms = client_as(app, "comms")
    job_id = job_id_of(send_folder(comms, {"e/a.jpg": landscape_jpeg(), "e/b.jpg": b"bad"}))
    rows = list(csv.DictReader(io.StringIO(comms.get(f"/batch/{job_id}/report.csv").data.decode("utf-8-sig"))))
    by_photo = {r["photo"]: r["safe_copy"] for r in rows}
    assert by_photo == {"e/a.jpg": "e/a.jpg", "e/b.jpg": ""}


# --- optional email, against a real local SMTP server ------------------------------------------


def _wait_for(mail: list, count: int, seconds: float = 10.0) -> list:
    deadline = time.time() + seconds
    while len(mail) < count and time.time() < deadline:
        time.sleep(0.05)
    return mail


@pytest.fixture
def smtp_server():
    """aiosmtpd on a free local port; yields (port, the messages it received)."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    import socket
    from email import message_from_bytes

    received = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = controller_mod.Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def test_no_email_is_sent_unless_smtp_is_configured(app, smtp_server):
    port, received = smtp_server
    _store(app, "e0", {"website": "review"})
    post(client_as(app, "office"), "/check/e0/review", {"note": "n"})
    time.sleep(0.5)
    assert received == []  # smtp_host is empty by default


def test_with_smtp_seniors_hear_of_waiting_photos_and_the_sender_hears_the_decision(tmp_path, smtp_server):
    from dataclasses import replace

    from consent.settings import DEFAULTS

    port, received = smtp_server
    settings = replace(DEFAULTS, smtp_host="127.0.0.1", smtp_port=port, smtp_from="consent@school.test",
                       signoff_email_to="dsl@school.test, head@school.test", staff_email_domain="school.test",
                       public_url="https://consent.school.test")
    app = make_app(tmp_path, CONSENT_SETTINGS=settings)
    _store(app, "e1", {"website": "review"})
    post(client_as(app, "office"), "/check/e1/review", {"note": "for the newsletter"})
    (to, message), = _wait_for(received, 1)
    assert to == ["dsl@school.test", "head@school.test"]
    assert message["Subject"] == "1 photo waiting for your sign-off"
    body = message.get_payload()
    assert "e1.jpg" in body and "for the newsletter" in body and "/review/" in body
    post(client_as(app, "senior"), "/review/e1/approve", {"note": "fine"})
    (to, message) = _wait_for(received, 2)[1]
    assert to == ["office@school.test"] and message["Subject"] == "Sign-off: e1.jpg approved"
    assert "The senior's note: fine" in message.get_payload()


def _smtp_settings(port: int, **changes):
    from dataclasses import replace

    from consent.settings import DEFAULTS

    return replace(DEFAULTS, smtp_host="127.0.0.1", smtp_port=port, smtp_from="consent@school.test",
                   signoff_email_to="dsl@school.test", staff_email_domain="school.test", **changes)


EVIL_HOST = "consent-school.evil.example"


def _post_with_host(client, url: str, data: dict, host: str = EVIL_HOST):
    """POST as ``client``'s signed-in user (its cookies and CSRF token, sent by hand, as curl
    would) with a forged ``Host`` header."""
    token = csrf(client)  # first: making the token may renew the session cookie
    cookies = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())
    bare = client.application.test_client(use_cookies=False)
    return bare.post(url, data={**data, "csrf_token": token},
                     headers={"Host": host, "X-Forwarded-Host": host, "Cookie": cookies})


def test_links_in_emails_use_the_public_address_never_the_requests_host(tmp_path, smtp_server):
    """Issue 27: a sign-off request sent with a forged Host header put that host in the link."""
    port, received = smtp_server
    app = make_app(tmp_path, CONSENT_SETTINGS=_smtp_settings(port, public_url="https://consent.stmarys.example/"))
    _store(app, "h1", {"website": "review"})
    assert _post_with_host(client_as(app, "office"), "/check/h1/review", {"note": "n"}).status_code == 302
    (_, message), = _wait_for(received, 1)
    body = message.get_payload()
    assert "Decide here: https://consent.stmarys.example/review/" in body and "evil" not in body
    assert _post_with_host(client_as(app, "senior"), "/review/h1/approve", {"note": "fine"}).status_code == 302
    (_, message) = _wait_for(received, 2)[1]
    body = message.get_payload()
    assert "See it here: https://consent.stmarys.example/check/h1" in body and "evil" not in body


def test_without_a_public_address_no_email_is_sent_and_settings_refuse_smtp_alone(tmp_path, smtp_server):
    from consent import settings as consent_settings
    from consent.errors import SettingsError

    port, received = smtp_server
    app = make_app(tmp_path, CONSENT_SETTINGS=_smtp_settings(port))  # smtp, but no public_url
    _store(app, "h2", {"website": "review"})
    assert _post_with_host(client_as(app, "office"), "/check/h2/review", {"note": "n"}).status_code == 302
    time.sleep(0.5)
    assert received == []
    assert [name for name, _ in consent_settings.problems(_smtp_settings(port))] == ["public_url"]
    with pytest.raises(SettingsError, match="public_url|public url"):
        consent_settings.from_mapping({"smtp_host": "mail.school.test"})
    for bad in ("consent.school.example", "javascript:alert(1)", "https://", "https://a.example/?x=1",
                "https://user@a.example"):
        assert consent_settings.problems(_smtp_settings(port, public_url=bad)), bad
    assert not consent_settings.problems(_smtp_settings(port, public_url="http://10.0.0.5:8080"))
