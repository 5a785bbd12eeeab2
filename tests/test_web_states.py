"""One state, one headline: every page and list says the same thing about a checked photo.

For each state a photo can be in, the office user's recent checks, the photo's page and "Sent
for sign-off" show the same badge, and the senior's photo page and sign-off queue agree with
each other; both read ``web.check.result_cards.status`` (the stored check judged again against today's
register, with its sign-off state, as the viewer may see it). Real app, real register, the
fixture's Obama photo under a pupil name of our own."""

from __future__ import annotations

import html
import io
import re

import pytest

from web.check import result_cards
from web.core.db import connect

from tests.conftest import fixture_dir
from tests.test_web_check import landscape_jpeg
from tests.test_web_withdrawal import CHANNELS, make_app, pupil_id, register, with_enrolled_pupil
from tests.web_helpers import client_as, csrf, post

ON_ROLL = ("Q200", "Ottoline", "Vandersnoot")  # on roll, never in the photo


@pytest.fixture
def app(tmp_path):
    app = with_enrolled_pupil(make_app(tmp_path))
    with register(app) as reg:
        reg.add_person(*ON_ROLL, year_group="9")
    return app


def _check(app, data: bytes, name: str, caption: str = "") -> str:
    office = client_as(app, "office")
    response = office.post("/check/upload", data={"photo": (io.BytesIO(data), name),
                                                  "channel": "all", "caption": caption,
                                                  "csrf_token": csrf(office)},
                           headers={"X-Requested-With": "fetch"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return connect(app.config["CONSENT_DB"]).execute(
        "select id from web_checks order by created_at desc limit 1").fetchone()[0]


def obama(app) -> str:
    return _check(app, (fixture_dir("people", "test") / "obama1.jpg").read_bytes(), "IMG_0412.jpg")


def sent(app) -> str:
    check_id = obama(app)
    assert post(client_as(app, "office"), f"/check/{check_id}/review", {"note": "newsletter"}).status_code == 302
    return check_id


def approved(app) -> str:
    check_id = sent(app)
    assert post(client_as(app, "senior"), f"/review/{check_id}/approve", {"note": "fine"}).status_code == 302
    return check_id


def state_ok(app):
    return _check(app, landscape_jpeg(), "field.jpg")


def state_do_not_publish(app):
    with register(app) as reg:
        for channel in CHANNELS:
            reg.record_consent(pupil_id(app), channel, "refused")
    return obama(app)


def state_rejected(app):
    check_id = sent(app)
    assert post(client_as(app, "senior"), f"/review/{check_id}/reject", {"note": "not this one"}).status_code == 302
    return check_id


def state_no_longer_stands(app):
    check_id = approved(app)
    with register(app) as reg:
        reg.record_consent(pupil_id(app), "newsletter", "withdrawn")
    return check_id


def state_could_not_check(app):
    check_id = state_ok(app)
    db = connect(app.config["CONSENT_DB"])
    with db.conn:
        db.execute("update web_checks set verdict = 'error', stored = null, result = null where id = ?", [check_id])
    return check_id


def state_caption_names_a_pupil_on_roll(app):
    """Full reading: a pupil on roll named, not pictured (needs sign-off); for roles that may
    not see names it reads as any pupil named (do not publish), so the office cannot tell."""
    return _check(app, landscape_jpeg(), "field.jpg", caption=f"{ON_ROLL[1]} {ON_ROLL[2]} at sports day")


NO_LONGER = result_cards.NO_LONGER_STANDS
#: state -> (set-up, (office badge, office headline), (senior badge, senior headline), sign-off state)
STATES = {
    "ok": (state_ok, ("ok", "OK to publish"), None, None),
    "needs sign-off": (obama, ("needs sign-off", "Needs a senior's sign-off"), None, None),
    "do not publish": (state_do_not_publish, ("do not publish", "Do not publish"), None, None),
    "waiting for sign-off": (sent, ("waiting for sign-off", "Waiting for a senior's sign-off: do not publish it yet"),
                             None, "pending"),
    "approved": (approved, ("signed off", "Signed off: OK to publish"), None, "decided"),
    "not approved": (state_rejected, ("not approved", "Not approved: do not publish"), None, "decided"),
    "approval no longer stands": (state_no_longer_stands, (NO_LONGER.badge, NO_LONGER.headline), None, "pending"),
    "could not check": (state_could_not_check, ("could not check", "Could not be checked"), None, None),
    "caption names a pupil on roll": (state_caption_names_a_pupil_on_roll, ("do not publish", "Do not publish"),
                                      ("needs sign-off", "Needs a senior's sign-off"), None),
}


def card_words(page: str, check_id: str) -> tuple[str, str]:
    """(badge, headline) of the result card of ``check_id`` on a page."""
    card = page[page.index(f'id="result-{check_id}"'):]
    card = card[:card.index("</article>")]
    headline = re.search(r'class="verdict-big[^"]*"[^>]*>([^<]*)</p>', card).group(1)
    badge = re.search(r'<p class="status"><span class="badge badge-\w+" data-badge="([^"]*)"', card).group(1)
    return html.unescape(badge), html.unescape(headline)


def listed_badge(page: str, check_id: str) -> str:
    """The badge beside the link to ``check_id`` in a list (recent checks, sent, decisions)."""
    at = page.index(f'href="/check/{check_id}"')
    return html.unescape(re.search(r'data-badge="([^"]*)"', page[at:]).group(1))


@pytest.mark.parametrize("name", list(STATES))
def test_every_page_and_list_says_the_same_for_each_state(app, name):
    make, office_words, senior_words, sign_off = STATES[name]
    senior_words = senior_words or office_words
    check_id = make(app)
    office, senior = client_as(app, "office"), client_as(app, "senior")

    photo_page = office.get(f"/check/{check_id}").get_data(as_text=True)
    assert card_words(photo_page, check_id) == office_words
    assert listed_badge(office.get("/check/").get_data(as_text=True), check_id) == office_words[0]
    if sign_off:
        assert listed_badge(office.get("/review/mine").get_data(as_text=True), check_id) == office_words[0]

    assert card_words(senior.get(f"/check/{check_id}").get_data(as_text=True), check_id) == senior_words
    queue = senior.get("/review/").get_data(as_text=True)
    if sign_off == "pending":
        assert card_words(queue, check_id) == senior_words
    elif sign_off == "decided":
        assert listed_badge(queue, check_id) == senior_words[0]
    else:
        assert check_id not in queue


def test_the_seniors_legend_names_the_channel_without_consent_not_every_one(app):
    check_id = state_no_longer_stands(app)
    page = client_as(app, "senior").get(f"/check/{check_id}").get_data(as_text=True)
    legend = re.search(r'<ul class="faces".*?</ul>', page, re.S).group(0)
    assert "consent held for website, social media and press; not for newsletter (withdrawn)" in " ".join(legend.split())
    assert "no consent (for at least one channel checked)" not in legend


def test_the_seniors_legend_says_consent_held_when_it_is(app):
    check_id = obama(app)
    page = client_as(app, "senior").get(f"/check/{check_id}").get_data(as_text=True)
    legend = re.search(r'<ul class="faces".*?</ul>', page, re.S).group(0)
    assert "Barnaby Quixwellington: consent held" in " ".join(legend.split())
