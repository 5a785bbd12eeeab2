"""``consent register ...`` end to end through click, against a real register in tmp_path."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.register import Register

from .conftest import fixture_dir

CSV = "\r\n".join([
    "UPN,Legal Surname,Legal Forename,Preferred Forename,Year,Reg Group,Website,Social Media,"
    "Biometric",
    "A123456789012,O'Brien,Zoë,,7,7B,Yes,No,",
    "B123456789012,Jones,Siân,,8,8C,Yes,Yes,Yes",
    "C123456789012,Jones,Sian,,9,9A,,,",
    "A123456789012,O'Brien,Zoë,,7,7B,Yes,No,",
    "",
]).encode("utf-8-sig")


@pytest.fixture
def db(tmp_path):
    return tmp_path / "consent.db"


@pytest.fixture
def run(db):
    def run(*args, input=None):
        return CliRunner().invoke(main, ["register", "--db", str(db), "--by", "tester",
                                         *map(str, args)], input=input)
    return run


@pytest.fixture
def loaded(run, tmp_path):
    assert run("init").exit_code == 0
    (tmp_path / "pupils.csv").write_bytes(CSV)
    result = run("import", tmp_path / "pupils.csv")
    assert result.exit_code == 0, result.output
    return run


def assert_one_line_error(result, text):
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert text in result.stderr


def test_commands_before_init_say_how_to_start(run):
    assert_one_line_error(run("list"), "create it with 'consent register init'")


def test_init_creates_the_register_once(run, db):
    first = run("init")
    assert first.exit_code == 0 and "created" in first.output and db.exists()
    assert "is up to date" in run("init").output


def test_import_dry_run_shows_changes_and_writes_nothing(run, tmp_path, db):
    run("init")
    (tmp_path / "pupils.csv").write_bytes(CSV)
    result = run("import", tmp_path / "pupils.csv", "--dry-run")
    assert result.exit_code == 0
    assert "line 2: A123456789012 Zoë O'Brien: added" in result.output
    assert "website missing -> granted" in result.output
    assert "line 5: REJECTED: repeats line 2 (same MIS id and details)" in result.output
    assert "dry run: 3 would be added" in result.output
    with Register(db) as reg:
        assert reg.people() == []


def test_import_reports_rejected_rows_and_imports_the_rest(loaded, run):
    result = run("list")
    assert "Siân Jones (B123456789012, Year 8, 8C): website=granted social_media=granted" \
        in result.output
    assert "3 people" in result.output


def test_import_json_for_the_web_app(run, tmp_path):
    run("init")
    (tmp_path / "pupils.csv").write_bytes(CSV)
    data = json.loads(run("import", tmp_path / "pupils.csv", "--json").output)
    assert (data["added"], data["updated"], data["unchanged"]) == (3, 0, 0)
    assert [r["line"] for r in data["rejected"]] == [5]


def test_consent_grant_and_withdraw_take_effect(loaded, run):
    out = run("consent", "A123456789012", "press", "grant", "--until", "31/08/2099").output
    assert "Press consent granted until 2099-08-31" in out
    run("consent", "zoe o'brien", "press", "withdraw", "--note", "parent emailed")
    show = run("show", "A123456789012").output
    assert "Press" in show and "withdrawn" in show
    today = dt.date.today().isoformat()
    assert "press withdrawn (by tester, admin)" in run("withdrawals", "--since", today).output


def test_list_filters_by_channel_status(loaded, run):
    out = run("list", "--channel", "social_media", "--status", "refused").output
    assert "A123456789012" in out and "B123456789012" not in out and "1 person" in out
    assert_one_line_error(run("list", "--status", "refused"), "--status needs --channel")


def test_ambiguous_name_is_one_line_listing_candidates(loaded, run):
    result = run("show", "sian jones")
    assert_one_line_error(result, "matches 2 people")
    assert "B123456789012" in result.stderr and "C123456789012" in result.stderr


def test_unknown_channel_is_one_line_error(loaded, run):
    assert_one_line_error(run("consent", "A123456789012", "tiktok", "grant"),
                          "unknown channel 'tiktok'")


def test_never_publish_reason_needs_admin_to_see(loaded, run):
    run("never-publish", "A123456789012", "--reason", "court order")
    plain = run("show", "A123456789012").output
    assert "NEVER PUBLISH" in plain and "court order" not in plain
    assert "court order" in run("show", "A123456789012", "--admin").output
    assert "NEVER-PUBLISH" in run("list").output
    run("never-publish", "A123456789012", "--clear")
    assert "NEVER" not in run("show", "A123456789012").output


def test_channels_list_and_add(loaded, run):
    assert "biometric" in run("channels").output
    assert "added channel prospectus" in run("channels", "add", "Prospectus").output
    assert "prospectus" in run("channels", "list").output


def test_add_person_and_staff(loaded, run):
    assert "added Ann Teacher (S1, staff)" in run("add", "S1", "Ann", "Teacher", "--staff").output
    assert "added Bo Li (D1, Year 7, 7A)" in run("add", "D1", "Bo", "Li", "--year", "7",
                                                  "--form", "7A").output
    assert "S1" in run("list", "--staff").output


def test_enrol_refuses_without_biometric_consent(loaded, run, tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"")  # never opened: consent is checked first
    result = run("enrol", "A123456789012", photo)
    assert result.exit_code == 1
    assert "REFUSED" in result.output and "biometric consent" in result.output


def test_enrol_a_fixture_photo(loaded, run):
    photo = fixture_dir("people", "train", "alex_lacamoire") / "img1.jpg"
    run("consent", "B123456789012", "biometric", "grant")
    result = run("enrol", "B123456789012", photo)
    assert result.exit_code == 0, result.output
    assert "enrolled" in result.output and "1 of 1 photos" in result.output
    assert "enrolled: 1 face template(s)" in run("show", "B123456789012").output
    out = run("consent", "B123456789012", "biometric", "withdraw").output
    assert "face templates deleted" in out
    assert "not enrolled" in run("show", "B123456789012").output


def test_purge_asks_first_and_then_deletes(loaded, run, db):
    with Register(db) as reg:
        reg.update_person("C123456789012", left_on=dt.date.today() - dt.timedelta(days=400))
    cutoff = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    answer_no = run("purge", "--left-before", cutoff, input="n\n")
    assert "Sian Jones (C123456789012" in answer_no.output and "nothing purged" in answer_no.output
    result = run("purge", "--left-before", cutoff, "--yes")
    assert "purged 1 people" in result.output
    assert_one_line_error(run("show", "C123456789012"), "nobody in the register matches")
    assert "person.purge" in run("audit", "--action", "person").output


def test_export_writes_json_file(loaded, run, tmp_path):
    out = tmp_path / "sar" / "zoe.json"
    assert run("export", "A123456789012", "--out", out).exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["person"]["legal_forename"] == "Zoë"
    assert data["consent_now"]["social_media"]["status"] == "refused"


def test_backup_and_restore(loaded, run, tmp_path, db):
    backup = tmp_path / "backup.db"
    assert "backed up" in run("backup", backup).output
    run("add", "X1", "Extra", "Person")
    result = run("restore", backup, "--yes")
    assert result.exit_code == 0 and "restored 3 people" in result.output
    assert "X1" not in run("list").output
    assert_one_line_error(run("restore", db.parent / "pupils.csv", "--yes"),
                          "not a consent register backup")


def test_audit_shows_who_changed_what(loaded, run):
    run("consent", "A123456789012", "newsletter", "grant")
    out = run("audit", "--person", "A123456789012", "--limit", "1").output
    assert "tester  consent.set Zoë O'Brien (A123456789012): " in out
    assert "status missing -> granted" in out and "1 entry" in out


def test_templates_due_runs_on_an_empty_register(loaded, run):
    out = run("templates-due").output
    assert "0 people due for re-enrolment (templates older than 548 days)" in out


def test_enrol_a_photo_with_several_faces_names_the_file_once_and_says_what_to_do(loaded, run):
    assert run("consent", "B123456789012", "biometric", "grant").exit_code == 0
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    result = run("enrol", "B123456789012", photo)
    assert result.exit_code == 1
    assert (f"REFUSED   {photo}: 3 faces found; use a photo with only Siân in it, or crop it to "
            "Siân's face") in result.output
    assert result.output.count(str(photo)) == 1
