"""The register at a glance (issue 28): its figures equal counts made from the register directly,
for a register with every state in it; every figure links to the list of exactly the people it
counts; names only for roles that may see them."""

from __future__ import annotations

import datetime as dt
import html
import re

import numpy as np
import pytest

from consent.register import Register
from consent.register.glance import easter, glance, term_end
from consent.vision.faces import RECOGNISER

from tests.web_helpers import client_as, make_app

TODAY = dt.date.today()
PUBLICATION = ("website", "social_media", "newsletter", "press")
#: (status, until, recorded_on) per kind of consent a pupil can have on a channel
KINDS = {
    "granted": ("granted", None, None),
    "expiring": ("granted", term_end(TODAY), None),
    "later": ("granted", term_end(TODAY) + dt.timedelta(days=1), None),
    "refused": ("refused", None, None),
    "withdrawn": ("withdrawn", None, None),
    "expired": ("granted", TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=30)),
    "missing": None,
}


def _template(reg, person, model=RECOGNISER, seed=0):
    vector = np.random.default_rng(seed).normal(size=128)
    reg.add_template(person.id, vector / np.linalg.norm(vector), f"{seed:064x}", 0.9, model=model)


def build(reg: Register) -> None:
    """Pupils in three year groups and five classes (and one with neither), each channel in
    every state; never-publish pupils with consent; biometric consent with a current, an old or
    no template; staff and a leaver, who are not counted."""
    kinds = list(KINDS)
    places = [("7", "7A"), ("7", "7B"), ("8", "8A"), ("8", "8B"), ("R", "RS"), (None, None), ("8", None)]
    n = 0
    for i in range(28):
        year, form = places[i % len(places)]
        p = reg.add_person(f"P{i:03d}", f"Pupil{i}", f"Surname{i}", year_group=year, form=form)
        for j, ch in enumerate(PUBLICATION + ("biometric",)):
            kind = KINDS[kinds[(i + j) % len(kinds)]]
            if kind:
                status, until, since = kind
                reg.record_consent(p.id, ch, status, until=until, recorded_on=since)
        if reg.consent_state(p.id, "biometric").granted:
            n += 1
            if n % 3 == 1:
                _template(reg, p, seed=i)
            elif n % 3 == 2:
                _template(reg, p, model="dlib", seed=i)
        if i % 5 == 0:
            reg.set_never_publish(p.id, "looked-after child")
    reg.add_person("S001", "Staff", "Member", role="staff")
    left = reg.add_person("L001", "Gone", "Away", year_group="7", form="7A", left_on=TODAY - dt.timedelta(days=2))
    reg.record_consent(left.id, "website", "granted")


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    reg = Register(app.config["CONSENT_DB"])
    build(reg)
    return app


def direct_counts(reg: Register):
    """Counts made the plain way: every pupil on roll, one consent_state call at a time."""
    counts: dict = {}
    last = term_end(TODAY)
    pupils = [p for p in reg.people() if p.role == "pupil" and p.on_roll()]
    for p in pupils:
        keys = ["school", ("year", p.year_group or "none")] + ([("class", p.year_group or "none", p.form)] if p.form else [])
        for key in keys:
            c = counts.setdefault(key, {"pupils": 0, "never": 0})
            c["pupils"] += 1
            c["never"] += p.never_publish
            for ch in PUBLICATION + ("biometric",):
                st = reg.consent_state(p.id, ch)
                if ch != "biometric" and p.never_publish:
                    state = "never"
                else:
                    state = st.status
                c[(ch, state)] = c.get((ch, state), 0) + 1
                if state == "granted" and st.until and TODAY <= st.until <= last:
                    c[(ch, "expiring")] = c.get((ch, "expiring"), 0) + 1
                if ch == "biometric" and state == "granted" and not reg.templates(p.id, model=RECOGNISER):
                    c[(ch, "no_photo")] = c.get((ch, "no_photo"), 0) + 1
    return counts


def test_the_register_has_every_state_in_it(app):
    reg = Register(app.config["CONSENT_DB"])
    c = direct_counts(reg)["school"]
    for ch in PUBLICATION:
        for state in ("granted", "refused", "withdrawn", "expired", "missing", "never", "expiring"):
            assert c.get((ch, state)), (ch, state)
    for state in ("granted", "refused", "withdrawn", "expired", "missing", "no_photo"):
        assert c.get(("biometric", state)), state


def test_glance_figures_equal_counts_made_from_the_register_directly(app):
    reg = Register(app.config["CONSENT_DB"])
    want = direct_counts(reg)
    g = glance(reg)
    groups = [("school", g.school)] + [(("year", y.year), y) for y in g.years] + \
             [(("class", c.year, c.form), c) for c in g.classes]
    assert {k for k, _ in groups} == set(want)
    for key, group in groups:
        w = want[key]
        assert (group.pupils, group.never_publish) == (w["pupils"], w["never"]), key
        for ch in PUBLICATION + ("biometric",):
            t = group.channels[ch]
            for state in ("granted", "refused", "withdrawn", "expired", "missing", "never", "expiring", "no_photo"):
                assert getattr(t, state) == w.get((ch, state), 0), (key, ch, state)
            assert t.pupils == group.pupils  # rule 1: each pupil once per channel
    assert g.school.pupils == 28
    assert g.no_photo == want["school"][("biometric", "no_photo")]
    assert [y.label for y in g.years] == ["Reception", "Year 7", "Year 8", "No year group"]


def _figures(page: str) -> list[tuple[str, int]]:
    return [(html.unescape(href), int(n)) for href, n in re.findall(r'<a class="fig" href="([^"]+)">(\d+)</a>', page)]


def _listed(client, href: str) -> int:
    page = client.get(href).get_data(as_text=True)
    m = re.search(r'<p id="people-count"[^>]*>(\d+) (?:person|people)', page)
    assert m, href
    rows = page.count('<tr class="person')
    assert rows == int(m.group(1)), href  # all listed (fewer than a page)
    return int(m.group(1))


def test_every_figure_on_the_page_links_to_the_list_of_exactly_the_pupils_it_counts(app):
    client = client_as(app, "admin")
    page = client.get("/register/glance").get_data(as_text=True)
    want = direct_counts(Register(app.config["CONSENT_DB"]))["school"]
    section = page.split('id="channel-website"')[1].split("</div>")[0]
    figures = dict((re.search(r"[?&]status=(\w+)", h)[1] if "status=" in h else h, n)
                   for h, n in _figures(section) if "expiring" not in h)
    for state in ("granted", "refused", "withdrawn", "expired", "missing"):
        assert figures[state] == want[("website", state)], state
    links = _figures(page)
    year_page = client.get("/register/glance?year=7").get_data(as_text=True)
    links += _figures(year_page)
    assert len(links) > 60
    for href, n in links:
        assert _listed(client, href) == n, href
    assert ">Year 7</a>" in page and "Classes in Year 7" in year_page and ">7B<" in year_page


def test_the_never_publish_count_shows_without_names_to_a_senior(app):
    senior = client_as(app, "senior")
    page = senior.get("/register/glance").get_data(as_text=True)
    n = direct_counts(Register(app.config["CONSENT_DB"]))["school"]["never"]
    tile = page.split('id="tile-never"')[1].split("</li>")[0]
    assert f'<span class="fig">{n}</span>' in tile
    assert 'class="fig" href' not in page.replace('href="/review/"', "")  # no lists of names
    assert "Pupil0 " not in page and "Surname" not in page
    assert senior.get("/register/?flag=never").status_code == 403
    for role in ("office", "comms"):
        assert client_as(app, role).get("/register/glance").status_code == 403


def test_the_home_page_links_admins_and_seniors_to_the_glance(app):
    for role, shown in (("admin", True), ("senior", True), ("office", False)):
        page = client_as(app, role).get("/").get_data(as_text=True)
        assert ('href="/register/glance"' in page) is shown, role
    assert 'href="/register/glance"' in client_as(app, "admin").get("/register/").get_data(as_text=True)


@pytest.mark.parametrize("day, end", [
    (dt.date(2026, 10, 5), dt.date(2026, 12, 31)),
    (dt.date(2027, 1, 4), dt.date(2027, 3, 28)),   # Easter Sunday 2027
    (dt.date(2027, 4, 12), dt.date(2027, 8, 31)),
    (dt.date(2026, 4, 5), dt.date(2026, 4, 5)),    # Easter Sunday 2026 itself
])
def test_a_term_ends_at_christmas_easter_or_the_end_of_august(day, end):
    assert term_end(day) == end


def test_easter_sundays():
    assert [easter(y) for y in (2024, 2025, 2026, 2038)] == [
        dt.date(2024, 3, 31), dt.date(2025, 4, 20), dt.date(2026, 4, 5), dt.date(2038, 4, 25)]


def test_photos_waiting_on_a_decision_are_counted_and_link_to_the_sign_off_queue(tmp_path):
    from tests.conftest import fixture_dir
    from tests.test_web_check import upload
    from tests.web_helpers import post
    from web.core.db import connect

    app = make_app(tmp_path)
    office = client_as(app, "office")
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    assert upload(office, photo.read_bytes(), photo.name).status_code == 200
    check_id = next(connect(app.config["CONSENT_DB"])["web_checks"].rows)["id"]
    tile = lambda role: client_as(app, role).get("/register/glance").get_data(as_text=True).split(  # noqa: E731
        'id="tile-waiting"')[1].split("</li>")[0]
    assert '<span class="fig">0</span>' in tile("admin")
    assert post(office, f"/check/{check_id}/review", {"note": "for the newsletter"}).status_code == 302
    for role in ("admin", "senior"):
        assert '<a class="fig" href="/review/">1</a>' in tile(role)
        assert "photo waiting on a senior" in tile(role)


def test_a_year_group_page_lists_its_classes_and_an_unknown_year_is_not_found(app):
    client = client_as(app, "admin")
    page = client.get("/register/glance?year=none").get_data(as_text=True)
    assert "Classes in No year group" in page and "No classes are recorded for the pupils in No year group." in page
    assert client.get("/register/glance?year=99").status_code == 404
    assert client_as(app, "admin").get("/register/glance?year=8").status_code == 200
