"""The consent register: people, consent history, never-publish, templates, audit, concurrency,
purge, export, backup and restore. Every test uses a real SQLite register in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import sqlite3

import numpy as np
import pytest

from consent.errors import (
    AmbiguousPerson,
    NoBiometricConsent,
    PersonNotFound,
    RegisterBusy,
    RegisterError,
)
from consent.register import Register, name_key
from consent.register.housekeeping import backup, export_person, purge_leavers, restore

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


@pytest.fixture
def reg(tmp_path):
    with Register(tmp_path / "consent.db", user="office1") as r:
        yield r


@pytest.fixture
def zoe(reg):
    return reg.add_person("A100000000001", "Zoë", "O'Brien", year_group="Year 7", form="7B")


def encoding(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=128)
    return v / np.linalg.norm(v) * 0.6


# --- store ---------------------------------------------------------------------------------


def test_new_register_has_schema_and_builtin_channels(reg):
    assert reg.schema() == ["m001_initial", "m002_publications", "m003_templates_model",
                            "m004_publication_published"]
    assert reg.channel_names() == ["website", "social_media", "newsletter", "press"]
    assert "biometric" in reg.channel_names(include_biometric=True)
    assert reg.db.journal_mode == "wal"
    assert reg.version() == 0


def test_reopening_applies_no_migration_and_keeps_data(tmp_path):
    path = tmp_path / "consent.db"
    with Register(path) as r:
        r.add_person("A1", "Ann", "Lee")
    with Register(path, create=False) as r:
        assert r.migrate() == []
        assert r.find_person("A1").display_name == "Ann Lee"


def test_missing_register_is_not_created_when_create_is_false(tmp_path):
    with pytest.raises(RegisterError, match="consent register init"):
        Register(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_a_sqlite_file_that_is_not_a_register_is_refused(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(RegisterError, match="not a consent register"):
        Register(other)


def test_year_group_and_names_are_normalised(reg, zoe):
    assert zoe.year_group == "7"
    assert zoe.mis_id == "A100000000001"
    assert zoe.label == "Zoë O'Brien (A100000000001, Year 7, 7B)"
    assert zoe.on_roll()


def test_duplicate_mis_id_is_refused(reg, zoe):
    with pytest.raises(RegisterError, match="already in the register"):
        reg.add_person("a100000000001", "Other", "Child")


# --- finding people ------------------------------------------------------------------------


def test_find_person_by_mis_id_in_any_case(reg, zoe):
    assert reg.find_person("a100000000001").id == zoe.id


def test_find_person_by_name_ignores_accents_apostrophes_and_case(reg, zoe):
    assert reg.find_person("zoe obrien").id == zoe.id
    assert reg.find_person("ZOË O’BRIEN").id == zoe.id
    assert reg.find_person("O'Brien").id == zoe.id
    assert name_key("Siân") == name_key("sian")


def test_ambiguous_name_lists_the_candidates(reg):
    reg.add_person("A1", "Siân", "Jones", year_group="7", form="7B")
    reg.add_person("A2", "Sian", "Jones", year_group="9", form="9C")
    with pytest.raises(AmbiguousPerson) as err:
        reg.find_person("sian jones")
    message = str(err.value)
    assert "A1" in message and "A2" in message and "use the MIS id" in message


def test_unknown_person_is_a_clear_error(reg):
    with pytest.raises(PersonNotFound, match="nobody in the register matches 'Nobody Here'"):
        reg.find_person("Nobody Here")


def test_preferred_name_finds_the_person_too(reg):
    p = reg.add_person("A3", "Alexander", "Smith", preferred_forename="Alex")
    assert reg.find_person("Alex Smith").id == p.id
    assert p.display_name == "Alex Smith"


# --- consent -------------------------------------------------------------------------------


def test_missing_consent_means_no_consent(reg, zoe):
    state = reg.consent_state(zoe.id, "website")
    assert state.status == "missing" and not state.granted


def test_granted_consent_is_granted(reg, zoe):
    reg.record_consent(zoe, "website", "granted", source="paper form")
    state = reg.consent_state(zoe.id, "website")
    assert state.granted and state.since == TODAY and state.source == "paper form"


def test_withdrawn_consent_blocks_social_media_at_once(reg, zoe):
    reg.record_consent(zoe, "social_media", "granted")
    reg.record_consent(zoe, "social_media", "withdrawn", note="parent phoned")
    assert reg.consent_state(zoe.id, "social_media").status == "withdrawn"
    history = reg.consent_history(zoe.id, "social_media")
    assert [r.status for r in history] == ["granted", "withdrawn"]
    assert history[1].note == "parent phoned" and history[1].recorded_by == "office1"


def test_consent_expires_the_day_after_until(reg, zoe):
    reg.record_consent(zoe, "website", "granted", recorded_on=TODAY - 10 * DAY,
                       until=TODAY - DAY)
    assert reg.consent_state(zoe.id, "website").status == "expired"
    assert reg.consent_state(zoe.id, "website", on=TODAY - DAY).status == "granted"


def test_consent_on_a_past_date_ignores_later_records(reg, zoe):
    reg.record_consent(zoe, "press", "granted", recorded_on=TODAY - 30 * DAY)
    reg.record_consent(zoe, "press", "withdrawn")
    assert reg.consent_state(zoe.id, "press", on=TODAY - 5 * DAY).status == "granted"
    assert reg.consent_state(zoe.id, "press").status == "withdrawn"


def test_expiry_only_applies_to_grants(reg, zoe):
    with pytest.raises(RegisterError, match="only applies to granted"):
        reg.record_consent(zoe, "press", "refused", until=TODAY + DAY)


def test_unknown_channel_and_status_are_refused(reg, zoe):
    with pytest.raises(RegisterError, match="unknown channel 'tiktok'"):
        reg.record_consent(zoe, "tiktok", "granted")
    with pytest.raises(RegisterError, match="not one of"):
        reg.record_consent(zoe, "website", "maybe")


def test_channel_found_by_label(reg, zoe):
    reg.record_consent(zoe, "Social Media", "granted")
    assert reg.consent_state(zoe.id, "social_media").granted


def test_school_can_add_its_own_channel(reg, zoe):
    reg.add_channel("prospectus")
    assert reg.channel_names()[-1] == "prospectus"
    assert reg.consent_state(zoe.id, "prospectus").status == "missing"
    reg.record_consent(zoe, "prospectus", "granted")
    assert reg.consent_states(zoe.id)["prospectus"].granted
    with pytest.raises(RegisterError, match="not usable"):
        reg.add_channel("2 bad!")


def test_consent_states_many_reads_everyone_at_once(reg, zoe):
    ben = reg.add_person("A2", "Ben", "Ng")
    reg.record_consent(ben, "website", "granted")
    states = reg.consent_states_many([zoe.id, ben.id])
    assert states[zoe.id]["website"].status == "missing"
    assert states[ben.id]["website"].status == "granted"
    assert set(states[ben.id]) == {"website", "social_media", "newsletter", "press"}


def test_list_filters_by_channel_status_year_and_form(reg, zoe):
    ben = reg.add_person("A2", "Ben", "Ng", year_group="8", form="8C")
    reg.record_consent(ben, "website", "granted")
    reg.record_consent(zoe, "website", "withdrawn")
    assert [p.id for p in reg.people(channel="website", status="withdrawn")] == [zoe.id]
    assert [p.id for p in reg.people(channel="website", status="not_granted")] == [zoe.id]
    assert [p.id for p in reg.people(year="Year 8")] == [ben.id]
    assert [p.id for p in reg.people(form="7b")] == [zoe.id]


def test_withdrawals_since_a_date(reg, zoe):
    reg.record_consent(zoe, "website", "granted")
    reg.record_consent(zoe, "website", "withdrawn")
    found = reg.withdrawals(TODAY - DAY)
    assert [(p.id, r.channel) for p, r in found] == [(zoe.id, "website")]
    assert reg.withdrawals(TODAY + DAY) == []


# --- never publish -------------------------------------------------------------------------


def test_never_publish_reason_is_visible_to_admins_only(reg, zoe):
    reg.set_never_publish(zoe, "looked-after child")
    plain = reg.get_person(zoe.id)
    assert plain.never_publish and plain.never_publish_reason is None
    assert "never_publish_reason" not in plain.to_json()
    assert "looked-after" not in json.dumps(plain.to_json())
    assert all(p.never_publish_reason is None for p in reg.people())
    assert reg.get_person(zoe.id, admin=True).never_publish_reason == "looked-after child"


def test_never_publish_needs_a_reason_and_can_be_cleared(reg, zoe):
    with pytest.raises(RegisterError, match="give a reason"):
        reg.set_never_publish(zoe, "  ")
    reg.set_never_publish(zoe, "court order")
    cleared = reg.clear_never_publish(zoe)
    assert not cleared.never_publish and cleared.never_publish_reason is None
    actions = [e.action for e in reg.audit(person=zoe.id)]
    assert actions[-2:] == ["flag.never_publish", "flag.never_publish_cleared"]


# --- templates and biometric consent -------------------------------------------------------


def test_template_is_refused_without_biometric_consent(reg, zoe):
    with pytest.raises(NoBiometricConsent, match="biometric consent is missing"):
        reg.add_template(zoe, encoding(1), "sha-a", 0.9)
    assert reg.templates(zoe.id) == []


def test_database_refuses_a_template_without_biometric_consent(reg, zoe):
    with pytest.raises(sqlite3.IntegrityError, match="no granted biometric consent"):
        reg.db.conn.execute(
            "INSERT INTO templates (person_id, encoding, photo_sha256, enrolled_on, quality, "
            "created_at) VALUES (?, ?, 'x', '2024-01-01', 1, 'now')",
            [zoe.id, encoding(1).tobytes()],
        )


@pytest.mark.parametrize("status", ["refused", "withdrawn"])
def test_biometric_refusal_deletes_templates_at_once(reg, zoe, status):
    reg.record_consent(zoe, "biometric", "granted")
    reg.add_template(zoe, encoding(1), "sha-a", 0.9)
    reg.add_template(zoe, encoding(2), "sha-b", 0.8)
    assert reg.enrolled(zoe.id) and len(reg.gallery()) == 1
    reg.record_consent(zoe, "biometric", status)
    assert reg.templates(zoe.id) == []
    assert not reg.enrolled(zoe.id)
    assert len(reg.gallery()) == 0
    deleted = [e for e in reg.audit(person=zoe.id) if e.action == "template.delete"]
    assert deleted[0].after == {"deleted": 2, "reason": f"biometric consent {status}"}


def test_same_photo_is_stored_once(reg, zoe):
    reg.record_consent(zoe, "biometric", "granted")
    assert reg.add_template(zoe, encoding(1), "sha-a", 0.9) is not None
    assert reg.add_template(zoe, encoding(1), "sha-a", 0.9) is None
    assert len(reg.templates(zoe.id)) == 1


def test_expired_biometric_consent_keeps_person_out_of_the_gallery(reg, zoe):
    reg.record_consent(zoe, "biometric", "granted", recorded_on=TODAY - 10 * DAY,
                       until=TODAY + DAY)
    reg.add_template(zoe, encoding(1), "sha-a", 0.9)
    assert len(reg.gallery()) == 1
    assert len(reg.gallery(on=TODAY + 2 * DAY)) == 0


def test_templates_kept_after_biometric_consent_expired_are_found_and_deleted(reg, zoe):
    reg.record_consent(zoe, "biometric", "granted", recorded_on=TODAY - 10 * DAY,
                       until=TODAY + DAY)
    reg.add_template(zoe, encoding(1), "sha-a", 0.9)
    assert reg.lapsed_templates() == []
    later = TODAY + 2 * DAY
    assert [p.id for p in reg.lapsed_templates(on=later)] == [zoe.id]
    assert reg.delete_lapsed_templates(on=later, by="dpo") == 1
    assert reg.templates(zoe.id) == []
    assert reg.audit()[-1].after == {"deleted": 1, "reason": "biometric consent expired"}


def test_consent_cannot_be_dated_in_the_future(reg, zoe):
    with pytest.raises(RegisterError, match="in the future"):
        reg.record_consent(zoe, "website", "granted", recorded_on=TODAY + DAY)


def test_templates_stored_as_128_float64_numbers(reg, zoe):
    reg.record_consent(zoe, "biometric", "granted")
    e = encoding(3)
    reg.add_template(zoe, e, "sha-a", 0.75)
    (t,) = reg.templates(zoe.id, with_encodings=True)
    assert np.array_equal(t.encoding, e) and t.quality == 0.75 and t.photo_sha256 == "sha-a"
    with pytest.raises(RegisterError, match="128 finite numbers"):
        reg.add_template(zoe, np.zeros(64), "sha-b", 0.5)


def test_old_templates_are_due_for_reenrolment(reg, zoe):
    ben = reg.add_person("A2", "Ben", "Ng")
    for p in (zoe, ben):
        reg.record_consent(p, "biometric", "granted")
    reg.add_template(zoe, encoding(1), "old", 0.9, enrolled_on=TODAY - 600 * DAY)
    reg.add_template(ben, encoding(2), "new", 0.9, enrolled_on=TODAY - 10 * DAY)
    due = reg.templates_due()
    assert [(d.person.id, d.age_days) for d in due] == [(zoe.id, 600)]
    assert {d.person.id for d in reg.templates_due(max_age_days=5)} == {zoe.id, ben.id}


# --- audit and version ---------------------------------------------------------------------


def test_every_change_is_audited_with_who_before_and_after(reg, zoe):
    reg.record_consent(zoe, "website", "granted", by="head")
    entry = reg.audit(person="A100000000001")[-1]
    assert entry.action == "consent.set" and entry.by == "head"
    assert entry.before["status"] == "missing" and entry.after["status"] == "granted"
    assert entry.person_label == "Zoë O'Brien (A100000000001)"


def test_audit_log_is_append_only(reg, zoe):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        reg.db.conn.execute("UPDATE audit SET by_user = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        reg.db.conn.execute("DELETE FROM audit")
    assert len(reg.audit()) == 1


def test_version_goes_up_with_changes_only(reg, zoe):
    v = reg.version()
    reg.consent_states(zoe.id)
    reg.people()
    assert reg.version() == v
    reg.record_consent(zoe, "website", "granted")
    assert reg.version() == v + 1
    reg.set_never_publish(zoe, "court order")
    reg.set_never_publish(zoe, "court order")  # no change: no new version
    assert reg.version() == v + 2


def test_a_failed_transaction_leaves_nothing_behind(reg, zoe):
    v = reg.version()
    with pytest.raises(RuntimeError):
        with reg.transaction():
            reg.record_consent(zoe, "website", "granted")
            raise RuntimeError("power cut")
    assert reg.consent_state(zoe.id, "website").status == "missing"
    assert reg.version() == v and len(reg.audit()) == 1


# --- concurrency ---------------------------------------------------------------------------


def test_a_writer_that_waits_too_long_gets_register_busy(tmp_path):
    path = tmp_path / "consent.db"
    with Register(path) as first, Register(path, busy_timeout=0.2) as second:
        person = first.add_person("A1", "Ann", "Lee")
        with first.transaction():
            first.record_consent(person.id, "website", "granted")
            with pytest.raises(RegisterBusy, match="the register is busy"):
                second.record_consent(person.id, "press", "granted")
            # readers are never blocked by a writer (WAL)
            assert second.consent_state(person.id, "website").status == "missing"
        assert second.consent_state(person.id, "website").granted


def _writer(path: str, prefix: str, count: int) -> None:
    """Worker process: add people and change consent, one transaction per change."""
    with Register(path, user=prefix) as r:
        shared = r.find_person("SHARED")
        for i in range(count):
            p = r.add_person(f"{prefix}{i:04d}", "Child", f"{prefix}{i}")
            r.record_consent(p, "website", "granted")
            r.record_consent(shared, "newsletter", "granted" if i % 2 else "refused")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "consent.db"
    with Register(path) as r:
        r.add_person("SHARED", "Sam", "Both")
        start = r.version()
    n = 60
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), prefix, n)) for prefix in ("P", "Q")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    with Register(path) as r:
        assert len(r.people()) == 2 * n + 1
        granted = r.people(channel="website", status="granted")
        assert len(granted) == 2 * n
        shared = r.find_person("SHARED")
        assert len(r.consent_history(shared.id)) == 2 * n
        # 3 audited changes per step, each its own transaction: all there, in order
        assert len(r.audit()) == 1 + 3 * 2 * n
        assert r.version() == start + 3 * 2 * n
        assert r.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- purge, export, backup, restore --------------------------------------------------------


def test_a_purged_persons_id_is_never_given_to_someone_new(reg, zoe):
    leaver = reg.add_person("A999", "Siân", "Llewellyn", left_on=TODAY - 400 * DAY)
    purge_leavers(reg, TODAY - 30 * DAY)
    newcomer = reg.add_person("A1000", "Harry", "Patel")
    assert newcomer.id > leaver.id


def test_purge_deletes_leavers_and_keeps_an_anonymised_trace(reg, zoe):
    leaver = reg.add_person("A999", "Siân", "Llewellyn", left_on=TODAY - 400 * DAY)
    reg.record_consent(leaver, "website", "granted")
    reg.record_consent(leaver, "biometric", "granted")
    reg.add_template(leaver, encoding(5), "sha-l", 0.9)
    reg.set_never_publish(leaver, "court order")
    result = purge_leavers(reg, TODAY - 30 * DAY, by="dpo")
    assert result.person_ids == [leaver.id]
    assert (result.templates, result.consents) == (1, 2)
    with pytest.raises(PersonNotFound):
        reg.get_person(leaver.id)
    assert reg.get_person(zoe.id).display_name == "Zoë O'Brien"
    assert reg.db.conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0
    dump = json.dumps([e.to_json() for e in reg.audit()], ensure_ascii=False)
    for secret in ("Siân", "Llewellyn", "A999", "court order"):
        assert secret not in dump
    trace = [e for e in reg.audit(person=leaver.id)]
    assert trace[-1].action == "person.purge" and trace[-1].by == "dpo"
    assert trace[-1].after["summary"] == f"person #{leaver.id} purged"
    assert trace[-1].person_label == f"person #{leaver.id} (purged)"
    assert all(e.redacted for e in trace[:-1])


def test_purge_dry_run_changes_nothing_and_future_dates_are_refused(reg):
    leaver = reg.add_person("A999", "Old", "Pupil", left_on=TODAY - 400 * DAY)
    v = reg.version()
    plan = purge_leavers(reg, TODAY, dry_run=True)
    assert plan.person_ids == [leaver.id]
    assert reg.get_person(leaver.id) and reg.version() == v
    with pytest.raises(RegisterError, match="in the future"):
        purge_leavers(reg, TODAY + 10 * DAY)


def test_export_holds_everything_about_one_person(reg, zoe):
    reg.record_consent(zoe, "website", "granted")
    reg.record_consent(zoe, "website", "withdrawn")
    reg.record_consent(zoe, "biometric", "granted")
    reg.add_template(zoe, encoding(4), "sha-z", 0.8)
    reg.set_never_publish(zoe, "adopted")
    data = json.loads(json.dumps(export_person(reg, "zoe obrien")))
    assert data["person"]["mis_id"] == "A100000000001"
    assert data["person"]["never_publish_reason"] == "adopted"
    assert data["consent_now"]["website"]["status"] == "withdrawn"
    assert [r["status"] for r in data["consent_history"]] == ["granted", "withdrawn", "granted"]
    assert len(data["face_templates"]) == 1 and len(data["face_templates"][0]["encoding"]) == 128
    assert {e["action"] for e in data["audit"]} >= {"person.add", "consent.set", "template.add"}


def test_backup_and_restore_round_trip(tmp_path, reg, zoe):
    reg.record_consent(zoe, "website", "granted")
    copy = backup(reg, tmp_path / "backups" / "monday.db")
    reg.record_consent(zoe, "website", "withdrawn")
    reg.add_person("A2", "Ben", "Ng")
    before = reg.version()
    result = restore(reg, copy, by="admin")
    assert reg.consent_state(zoe.id, "website").granted
    assert [p.mis_id for p in reg.people()] == ["A100000000001"]
    assert reg.version() > before  # no cached check result can survive a restore
    assert reg.audit()[-1].action == "register.restore"
    with Register(result.previous_copy) as previous:  # the register as it was is kept
        assert len(previous.people()) == 2


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path, reg):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RegisterError, match="junk.db"):
        restore(reg, junk)


def test_backup_is_not_written_over_the_register(reg):
    with pytest.raises(RegisterError, match="the register itself"):
        backup(reg, reg.path)
