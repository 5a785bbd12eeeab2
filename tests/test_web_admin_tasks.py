"""Register admin in the browser's pages: add one person, leaving date, consent until a date,
consent changes that can be undone, settings changed in the page, and an audit log in words."""

from __future__ import annotations

import os
import re

import pytest

from consent.register.store import Register

from tests.web_helpers import client_as, make_app, post


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def admin(app):
    return client_as(app, "admin")


def _add(admin, **extra):
    data = {"mis_id": "N300", "forename": "Ada", "surname": "Stone", "role": "pupil", "year": "3", "form": "3S"}
    data.update(extra)
    return post(admin, "/register/people/new", data)


def test_admin_adds_one_person_and_a_taken_mis_id_is_refused_with_a_reason(app, admin):
    response = _add(admin)
    assert response.status_code == 302
    with Register(app.config["CONSENT_DB"]) as reg:
        ada = reg.person_by_mis_id("N300")
    assert ada.display_name == "Ada Stone" and ada.year_group == "3"
    again = _add(admin, forename="Other")
    assert again.status_code == 400 and "N300 is already in the register" in again.get_data(as_text=True)


def test_leaving_date_is_recorded_and_the_leavers_page_finds_them(app, admin):
    _add(admin)
    with Register(app.config["CONSENT_DB"]) as reg:
        pid = reg.person_by_mis_id("N300").id
    post(admin, f"/register/people/{pid}/left", {"left_on": "2026-07-22"})
    page = admin.get(f"/register/people/{pid}").get_data(as_text=True)
    assert "Left on 22 Jul 2026" in page
    leavers = admin.get("/register/leavers?before=2026-08-01").get_data(as_text=True)
    assert "Ada Stone" in leavers and "1 person left before 1 Aug 2026" in leavers
    none = admin.get("/register/leavers?before=2026-01-01").get_data(as_text=True)
    assert "Nobody left before 1 Jan 2026" in none and "Leaving" in none  # says how a date is set


def test_consent_until_a_date_and_undo_within_the_window(app, admin):
    _add(admin)
    with Register(app.config["CONSENT_DB"]) as reg:
        pid = reg.person_by_mis_id("N300").id
    js = {"X-Requested-With": "fetch", "Accept": "application/json"}
    body = post(admin, f"/register/people/{pid}/consent",
                {"channel": "website", "status": "granted", "until": "2027-07-31"}, headers=js).get_json()
    assert body["status"] == "granted" and body["until"] == "31 Jul 2027" and body["record"]
    body2 = post(admin, f"/register/people/{pid}/consent", {"channel": "website", "status": "withdrawn"}, headers=js).get_json()
    undone = post(admin, f"/register/people/{pid}/consent/undo",
                  {"channel": "website", "record": body2["record"]}, headers=js).get_json()
    assert undone["status"] == "granted"  # back to what it was, until date included
    with Register(app.config["CONSENT_DB"]) as reg:
        assert str(reg.consent_state(pid, "website").until) == "2027-07-31"
        actions = [e.action for e in reg.audit(person=pid)]
    assert "consent.undo" in actions
    # an older change cannot be undone once a newer one exists
    stale = post(admin, f"/register/people/{pid}/consent/undo", {"channel": "website", "record": body2["record"]}, headers=js)
    assert stale.status_code == 400
    log = admin.get("/audit/").get_data(as_text=True)
    assert "undid a consent change" in log and "recorded consent" in log
    assert "website: consent not asked → yes; until 31 Jul 2027" in log
    assert "consent.set" not in log and "flag.never_publish" not in log


def test_settings_are_changed_in_the_page_validated_audited_and_applied_at_once(app, admin):
    page = admin.get("/admin/settings/").get_data(as_text=True)
    assert re.search(r'Safe copies can be downloaded for \(hours\)</label>\s*<input id="s-safe_copy_expiry_hours" '
                     r'name="safe_copy_expiry_hours" value="24"', page)
    bad = post(admin, "/admin/settings/", {"safe_copy_expiry_hours": "two days"}, follow_redirects=True)
    assert bad.status_code == 400
    assert "Not saved yet: 1 value to put right" in bad.get_data(as_text=True)
    assert '<p class="field-error" id="e-safe_copy_expiry_hours">“two days” is not a whole number</p>' in bad.get_data(as_text=True)
    assert app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours == 24
    post(admin, "/admin/settings/", {"safe_copy_expiry_hours": "48", "min_group_size": "-1"})
    assert app.config["CONSENT_SETTINGS"].min_group_size == 3  # negative refused, nothing written
    post(admin, "/admin/settings/", {"safe_copy_expiry_hours": "48"})
    assert app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours == 48
    toml = (app.config["CONSENT_DATA"] + "/settings.toml")
    assert "safe_copy_expiry_hours = 48" in open(toml).read()
    from consent.settings import load

    assert load(toml).safe_copy_expiry_hours == 48
    assert "Safe copies can be downloaded for (hours): 24 → 48" in admin.get("/audit/").get_data(as_text=True)


def test_a_hand_edit_of_settings_toml_is_picked_up_without_a_restart(tmp_path):
    app = make_app(tmp_path)
    admin = client_as(app, "admin")
    admin.get("/admin/settings/")
    with open(app.config["CONSENT_DATA"] + "/settings.toml", "w") as fh:
        fh.write("min_group_size = 4\n")
    import os

    os.utime(app.config["CONSENT_DATA"] + "/settings.toml", ns=(1, 10**18))
    admin.get("/admin/settings/")
    assert app.config["CONSENT_SETTINGS"].min_group_size == 4


def test_dates_shown_as_text_are_in_uk_style_read_as_the_register_reads_them():
    import datetime as dt

    from web.core.words import uk_date

    assert uk_date("2026-09-01") == uk_date("01/09/2026") == uk_date(dt.date(2026, 9, 1)) == "1 Sep 2026"
    assert uk_date("2026-09-01T10:30:00") == "1 Sep 2026"
    assert uk_date(None) == uk_date("") == ""
    assert uk_date("not known") == "not known"  # shown as it is, never a traceback


def test_a_setting_outside_its_range_is_refused_naming_the_field_and_keeping_the_other_edits(app, admin):
    page = post(admin, "/admin/settings/", {"safe_copy_expiry_hours": "48", "min_identifiable_face_px": "100000"})
    text = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Not saved yet: 1 value to put right, marked below." in text
    assert "Your other 1 change is still in the form" in text
    assert re.search(r'id="e-min_identifiable_face_px">Must be between 10 and 80 px, not 100000: ', text)
    assert re.search(r'id="s-min_identifiable_face_px" name="min_identifiable_face_px" value="100000"[^>]*aria-invalid="true"', text)
    assert re.search(r'<details class="panel expert" id="expert" open>', text)  # the marked field is not folded away
    assert 'name="safe_copy_expiry_hours" value="48"' in text  # the other edit is kept in the form
    assert app.config["CONSENT_SETTINGS"].min_identifiable_face_px == 40
    assert app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours == 24
    assert not os.path.exists(app.config["CONSENT_DATA"] + "/settings.toml")
    post(admin, "/admin/settings/", {"detect_side": "0"})
    assert app.config["CONSENT_SETTINGS"].detect_side == 1600


def test_a_weakening_change_needs_a_confirming_tick_is_audited_and_shown_to_admins_only(app, admin):
    first = post(admin, "/admin/settings/", {"min_identifiable_face_px": "60", "safe_copy_expiry_hours": "48"})
    text = first.get_data(as_text=True)
    assert "I understand this weakens: Smallest face anyone could recognise: 60 px (default 40 px)" in text
    assert app.config["CONSENT_SETTINGS"].min_identifiable_face_px == 40  # nothing saved yet
    assert app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours == 24
    token = re.search(r'name="confirm_weakening" value="(\w+)"', text).group(1)
    post(admin, "/admin/settings/", {"min_identifiable_face_px": "60", "confirm_weakening": "wrong"})
    assert app.config["CONSENT_SETTINGS"].min_identifiable_face_px == 40
    done = post(admin, "/admin/settings/", {"min_identifiable_face_px": "60", "safe_copy_expiry_hours": "48",
                                            "confirm_weakening": token}, follow_redirects=True)
    assert "Saved and in force now" in done.get_data(as_text=True)
    assert app.config["CONSENT_SETTINGS"].min_identifiable_face_px == 60
    log = admin.get("/audit/").get_data(as_text=True)
    assert "Smallest face anyone could recognise (px): 40 → 60" in log
    assert "Smallest face anyone could recognise: 60 px (default 40 px)" in log
    from web.audit.audit_log import events
    from web.core.db import connect

    entry = events(connect(app.config["CONSENT_DB"]), 1, action="settings")[0]
    assert entry["by_user"] == "admin"
    assert entry["detail"] == {"changes": "Smallest face anyone could recognise (px): 40 → 60; "
                                          "Safe copies can be downloaded for (hours): 24 → 48",
                               "settings": ["min_identifiable_face_px", "safe_copy_expiry_hours"],
                               "weakens": "Smallest face anyone could recognise: 60 px (default 40 px)"}
    home = admin.get("/").get_data(as_text=True)
    assert "Checks weakened: Smallest face anyone could recognise: 60 px (default 40 px)" in home
    assert "Checks weakened" not in client_as(app, "office").get("/").get_data(as_text=True)
    # a later change of something else does not ask again
    post(admin, "/admin/settings/", {"safe_copy_expiry_hours": "36"})
    assert app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours == 36


def test_a_stricter_change_needs_no_confirmation(app, admin):
    post(admin, "/admin/settings/", {"min_identifiable_face_px": "30", "detect_threshold": "0.3"})
    assert app.config["CONSENT_SETTINGS"].min_identifiable_face_px == 30
    assert "Checks weakened" not in admin.get("/").get_data(as_text=True)


def test_a_switch_is_changed_with_on_and_off_and_said_so(app, admin):
    page = admin.get("/admin/settings/").get_data(as_text=True)
    assert re.search(r'<select id="s-text_check_batch" name="text_check_batch"[^>]*>\s*<option value="true" selected>on</option>', page)
    done = post(admin, "/admin/settings/", {"text_check_batch": "false", "confirm_weakening": ""})
    token = re.search(r'name="confirm_weakening" value="(\w+)"', done.get_data(as_text=True)).group(1)
    saved = post(admin, "/admin/settings/", {"text_check_batch": "false", "confirm_weakening": token}, follow_redirects=True)
    assert "Read names in photos in command-line batches: on → off" in saved.get_data(as_text=True)
    assert app.config["CONSENT_SETTINGS"].text_check_batch is False


def test_a_refusal_that_is_not_about_a_photo_is_not_headed_as_one(tmp_path):
    """/audit/?person=unknown is refused with the library's words; its page said "The photo could
    not be checked" (every ConsentError was headed as a photo's problem)."""
    admin = client_as(make_app(tmp_path), "admin")
    response = admin.get("/audit/?person=nobody-with-this-id")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "That could not be done" in page and "The photo could not be checked" not in page
