"""The whole check over real photos and a real register: recognition, every rule, safe copies,
blurring, the cache, the batch, reports and the command line's exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent import batch, reports
from consent.check import Checker
from consent.cli import main
from consent.register import Register
from consent.results import JSON_VERSION, VERDICT_WORDS

from .conftest import copy_register, fixture_dir

PEOPLE = {  # enrolment folder -> (MIS id, forename, surname)
    "obama": ("P001", "Barack", "Obama"),
    "biden": ("P002", "Joe", "Biden"),
    "kit_harington": ("P003", "Kit", "Harington"),
    "rose_leslie": ("P004", "Rose", "Leslie"),
    "alex_lacamoire": ("P005", "Alex", "Lacamoire"),
}
PUBLICATION = ("website", "social_media", "newsletter", "press")


@pytest.fixture(scope="module")
def enrolled_db(tmp_path_factory):
    """A register with the five fixture people enrolled from people/train, every consent granted."""
    from consent.vision import faces

    train = fixture_dir("people", "train")
    db = tmp_path_factory.mktemp("register") / "consent.db"
    with Register(db, user="test") as reg:
        for folder, (mis, first, last) in PEOPLE.items():
            person = reg.add_person(mis, first, last, year_group="6", form="6A")
            reg.record_consent(person, "biometric", "granted")
            for channel in PUBLICATION:
                reg.record_consent(person, channel, "granted")
            for photo in sorted((train / folder).iterdir()):
                encoding, quality = faces.enrolment_encoding(photo)
                from consent.images import file_hash

                reg.add_template(person, encoding, file_hash(photo), quality)
    return db


@pytest.fixture
def db(enrolled_db, tmp_path):
    """A private copy of the enrolled register, so tests can change consent freely."""
    return copy_register(enrolled_db, tmp_path)


NEUTRAL = "IMG_0001.jpg"  # the fixture file names name the people pictured


def person_of(result, reg):
    return {reg.get_person(f.person_id).mis_id for f in result.faces if f.match == "matched"}


def test_every_enrolled_face_in_the_test_photos_is_recognised_and_the_child_is_not(db):
    test = fixture_dir("people", "test")
    expected = {
        "obama1.jpg": {"P001"},
        "obama_and_biden.jpg": {"P001", "P002"},
        "kit_with_rose.jpg": {"P003", "P004"},
        "johnsnow_test1.jpg": {"P003"},
        "alex_lacamoire1.jpg": {"P005"},
    }
    checker = Checker(db, use_cache=False, kit_check=False)
    with Register(db) as reg:
        for name, people in expected.items():
            result = checker.check(test / name, "website")
            assert result.error is None, result.error
            assert person_of(result, reg) == people, name
    child_photo = checker.check(test / "obama_and_biden.jpg", "website")
    unmatched = [f for f in child_photo.faces if f.match != "matched"]
    assert len(unmatched) == 1 and unmatched[0].person_id is None
    # the child looks a little sideways: matched against nobody (unknown) or, turned past
    # max_face_turn, not matched at all (unchecked); review either way
    expected_code = "unchecked_face" if unmatched[0].match == "unchecked" else "unrecognised_face"
    assert expected_code in [r.code for r in child_photo.reasons]


def test_withdrawn_consent_blocks_social_media_but_not_the_website(db):
    with Register(db) as reg:
        reg.record_consent("P002", "social_media", "withdrawn")
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "obama_and_biden.jpg",
                                               display_name=NEUTRAL)
    assert result.verdicts["social_media"].verdict == "block"
    assert "consent withdrawn" in result.verdicts["social_media"].summary
    # the unknown child still needs review everywhere: unknown never means cleared
    assert result.verdicts["website"].verdict == "review"
    assert result.pupil_count == 3


def test_a_consent_change_takes_effect_on_the_next_check_without_reanalysis(db):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    checker = Checker(db, kit_check=False)
    first = checker.check(photo, "press", display_name=NEUTRAL)
    assert first.verdicts["press"].verdict == "review"
    with Register(db) as reg:
        reg.record_consent("P001", "press", "refused")
    second = checker.check(photo, "press", display_name=NEUTRAL)
    assert second.timings.get("cached") == 1.0  # the faces were not analysed again
    assert second.verdicts["press"].verdict == "block"
    assert "consent refused" in second.verdicts["press"].summary


def test_a_file_name_naming_the_pictured_pupils_blocks(db):
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "obama_and_biden.jpg", "website")
    (reason,) = [r for r in result.reasons if r.code == "name_in_caption"]
    assert reason.severity == "block" and "2 pupils in the photo are named in the file name" in reason.message


def test_expired_consent_blocks(db):
    with Register(db) as reg:
        reg.record_consent("P005", "newsletter", "granted", recorded_on="2024-09-01", until="2025-07-31")
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "alex_lacamoire1.jpg", "newsletter",
                                               display_name=NEUTRAL)
    assert result.verdict == "block" and "consent expired" in result.summary()


def test_never_publish_blocks_every_channel_with_a_safeguarding_message(db):
    with Register(db) as reg:
        reg.set_never_publish("P003", "court order")
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "johnsnow_test1.jpg")
    assert {v.verdict for v in result.verdicts.values()} == {"block"}
    (reason,) = [r for r in result.reasons if r.code == "never_publish"]
    assert "safeguarding lead" in reason.message and "court order" not in json.dumps(result.to_json())
    assert "court order" in json.dumps(result.to_json(admin=True))


def test_biometric_withdrawal_makes_the_person_unknown_not_cleared(db):
    photo = fixture_dir("people", "test") / "alex_lacamoire1.jpg"
    checker = Checker(db, kit_check=False)
    assert [f.match for f in checker.check(photo, "website", display_name=NEUTRAL).faces] == ["matched"]
    with Register(db) as reg:
        reg.record_consent("P005", "biometric", "withdrawn")
    result = checker.check(photo, "website", display_name=NEUTRAL)
    assert [f.match for f in result.faces] == ["unknown"]
    assert result.verdict == "review"


def test_close_up_portrait_of_one_pupil_needs_review(db):
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "obama1.jpg", "website", display_name=NEUTRAL)
    codes = {r.code for r in result.reasons}
    assert {"close_up", "small_group"} <= codes
    assert result.verdicts["website"].verdict == "review"


def test_caption_naming_a_pictured_pupil_blocks(db):
    photo = fixture_dir("people", "test") / "kit_with_rose.jpg"
    result = Checker(db, kit_check=False).check(photo, "website", caption="Rose at the school fair",
                                               display_name=NEUTRAL)
    assert result.verdict == "block"
    assert any(r.code == "name_in_caption" and r.severity == "block" for r in result.reasons)


def test_staff_are_not_counted_as_pupils(db):
    with Register(db) as reg:
        reg.update_person("P002", role="staff")
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "obama_and_biden.jpg", "website",
                                               display_name=NEUTRAL)
    assert result.pupil_count == 2
    assert any(f.role == "staff" for f in result.faces)


def test_photo_without_faces_passes_with_a_metadata_note_and_a_clean_safe_copy(db, tmp_path):
    photo = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    result = Checker(db, kit_check=False).check(photo, "all", safe_dir=tmp_path / "safe")
    assert result.faces == [] and result.verdict == "ok"
    assert [r.code for r in result.reasons] == ["location_metadata"]
    out = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-a", result.safe_copy],
                                    capture_output=True, text=True, check=True).stdout)[0]
    assert not [k for k in out if "GPS" in k]


def test_blurring_unconsented_faces_leaves_no_recognisable_face(db, tmp_path):
    with Register(db) as reg:
        reg.record_consent("P002", "website", "withdrawn")
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    checker = Checker(db, kit_check=False)
    result = checker.check(photo, "website", safe_dir=tmp_path, blur_unconsented=True, display_name=NEUTRAL)
    assert result.verdict == "block"
    recheck = result.blurred_recheck
    assert recheck is not None and Path(result.safe_copy).exists()
    # Biden (withdrawn) and the unknown child are obscured: only Obama can still be found
    matched = [f for f in recheck["faces"] if f["match"] == "matched"]
    assert [f["consent"]["website"] for f in matched] == ["granted"]
    assert "person_id" not in matched[0]  # the nested re-check carries no names or ids
    assert not [f for f in recheck["faces"] if f["match"] == "unknown"]
    assert "blurred copy was re-checked" in result.notes[-1]
    # the command line's reports say the copy is blurred and what its re-check found
    assert reports.blurred_copy(result) == result.safe_copy
    assert result.safe_copy in reports.render_csv([result]).splitlines()[1]
    word = VERDICT_WORDS[recheck["channels"]["website"]["verdict"]]
    assert f"faces without consent blurred; re-checked: {word} for website" in reports.render_html([result])


def test_the_blurred_copy_is_re_checked_with_the_caption_it_will_be_published_with(db, tmp_path):
    # Rose (pictured, consent withdrawn) is blurred, but the caption still names her: the
    # blurred copy is not cleared for the website with that caption
    with Register(db) as reg:
        reg.record_consent("P003", "website", "withdrawn")
    photo = fixture_dir("people", "test") / "kit_with_rose.jpg"
    result = Checker(db, kit_check=False).check(photo, "website", "Rose at the school fair", safe_dir=tmp_path,
                                               blur_unconsented=True, display_name=NEUTRAL)
    recheck = result.blurred_recheck
    assert recheck is not None
    assert recheck["channels"]["website"]["verdict"] != "ok"
    assert "name_in_caption" in {r["code"] for r in recheck["reasons"]}


def test_unknown_channel_is_a_clear_error(db):
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "obama1.jpg", "instagram")
    assert result.verdict == "error" and "unknown channel instagram" in result.error
    assert result.error_code == "unknown_channel"


def test_unreadable_photo_is_an_error_result_not_an_exception(db, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = Checker(db, kit_check=False).check(bad)
    assert result.verdict == "error" and result.error.startswith(str(bad))


def test_batch_goes_on_past_a_bad_file_and_keeps_input_order(db, tmp_path):
    event = tmp_path / "Summer fair"
    event.mkdir()
    test = fixture_dir("people", "test")
    for i, name in enumerate(("obama1.jpg", "kit_with_rose.jpg"), start=1):
        shutil.copy(test / name, event / f"IMG_{i:04}.jpg")
    (event / "IMG_0000.jpg").write_bytes(b"")
    jobs = batch.collect([event])
    seen = []
    results = batch.run_batch(jobs, batch.BatchOptions("website", safe_dir=str(tmp_path / "safe")), db=db,
                              workers=2, kit_check=False, progress=lambda d, t, r: seen.append((d, t)))
    assert [r.name for r in results] == ["IMG_0000.jpg", "IMG_0001.jpg", "IMG_0002.jpg"]
    # obama1 is a close-up (review); kit_with_rose shows both consented pupils and, at its edge,
    # a third person too small to recognise, who does not count towards the group of three: only
    # pupils someone could recognise do (review: only 2)
    assert batch.counts(results) == {"ok": 0, "review": 2, "block": 0, "error": 1}
    assert seen[-1] == (3, 3)
    assert (tmp_path / "safe" / "Summer fair" / "IMG_0001.jpg").exists()


def test_reports_are_written_and_self_contained(db, tmp_path):
    test = fixture_dir("people", "test")
    for i, name in enumerate(("obama1.jpg", "kit_with_rose.jpg"), start=1):
        shutil.copy(test / name, tmp_path / f"IMG_{i:04}.jpg")
    results = batch.run_batch(batch.collect([tmp_path / "IMG_0001.jpg", tmp_path / "IMG_0002.jpg"]),
                              batch.BatchOptions("website"), db=db, workers=1, kit_check=False)
    page = reports.write_html(results, tmp_path / "r.html").read_text()
    assert page.count('class="card') == 2 and "data:image/jpeg;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    rows = (tmp_path / "r.csv")
    reports.write_csv(results, rows)
    lines = rows.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("photo,verdict,website,decision,summary") and len(lines) == 3
    doc = json.loads(reports.write_json(results, tmp_path / "r.json").read_text())
    assert doc["version"] == JSON_VERSION == 2 and doc["counts"]["review"] == 2 and doc["counts"]["ok"] == 0  # as the batch test


def test_cli_exit_codes_follow_the_worst_verdict(db, tmp_path):
    test = fixture_dir("people", "test")
    gps = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    run = lambda *args: CliRunner().invoke(main, ["check", "--db", str(db), "-w", "1", *map(str, args)])
    assert run(gps, "-c", "website").exit_code == 0
    assert run(test / "obama1.jpg", "-c", "website").exit_code == 3
    assert run(test / "kit_with_rose.jpg", "-c", "website", "--caption", "Kit and Rose").exit_code == 4
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    outcome = run(empty, gps)
    assert outcome.exit_code == 1 and "the file is empty" in outcome.output
    # the words of the web pages and the reports: one word per state
    assert f"[could not check] {empty}: the file is empty" in outcome.output and "[ok]" in outcome.output
    assert "2 photos: ok 1, needs sign-off 0, do not publish 0, could not check 1" in outcome.output


def test_a_video_in_an_event_folder_is_could_not_check_and_documents_are_passed_over(db, tmp_path):
    event = tmp_path / "Sports day"
    event.mkdir()
    shutil.copy(fixture_dir("metadata", "gps") / "DSCN0010.jpg", event / "start.jpg")
    (event / "relay.AVI").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 64)
    (event / "programme.txt").write_text("races")
    outcome = CliRunner().invoke(main, ["check", "--db", str(db), "-w", "1", "-c", "website", str(event)])
    assert outcome.exit_code == 1, outcome.output  # not "ok": something in the folder was not checked
    (line,) = [x for x in outcome.output.splitlines() if "relay.AVI" in x]
    assert line.startswith("[could not check] ") and line.count("relay.AVI") == 1, line
    assert line.endswith(str(event / "relay.AVI") + ": a video; this tool checks photos only, so watch it and "
                         "check every face, name and caption yourself before publishing it"), line
    assert "programme" not in outcome.output
    assert "2 photos: ok 1" in outcome.output


def test_a_missing_photo_is_a_clear_could_not_check_not_an_internal_error(db, tmp_path):
    missing = tmp_path / "gone.jpg"
    result = Checker(db).check(missing, "website")
    assert result.verdict == "error" and result.error == f"{missing}: file not found; check the path"
    assert result.error_code == "unreadable_image"
    outcome = CliRunner().invoke(main, ["check", "--db", str(db), "-w", "1", str(missing)])
    assert outcome.exit_code == 1 and "internal error" not in outcome.output
    assert f"[could not check] {missing}: file not found; check the path" in outcome.output


def test_sportswear_photo_needs_senior_signoff(db):
    kit = fixture_dir("kit")
    result = Checker(db).check(kit / "COCO_val2014_000000000415.jpg", "website", display_name=NEUTRAL)
    (reason,) = [r for r in result.reasons if r.code == "pe_kit"]
    assert reason.severity == "review" and reason.senior_signoff
    assert "senior colleague" in reason.message


def test_child_without_a_top_is_blocked_until_a_senior_approves(db):
    kit = fixture_dir("kit")
    result = Checker(db).check(kit / "COCO_val2014_000000000428.jpg", "website", display_name=NEUTRAL)
    (reason,) = [r for r in result.reasons if r.code == "exposure"]
    assert reason.severity == "block" and reason.senior_signoff and result.verdict == "block"


def test_everyday_clothes_raise_no_kit_reason(db):
    kit = fixture_dir("kit")
    result = Checker(db).check(kit / "COCO_val2014_000000000459.jpg", "website", display_name=NEUTRAL)
    assert not {"pe_kit", "exposure"} & {r.code for r in result.reasons}


def test_rerunning_a_batch_reuses_every_analysis(db, tmp_path):
    test = fixture_dir("people", "test")
    for i, name in enumerate(("obama1.jpg", "kit_with_rose.jpg"), start=1):
        shutil.copy(test / name, tmp_path / f"IMG_{i:04}.jpg")
    jobs = batch.collect([tmp_path])
    first = batch.run_batch(jobs, batch.BatchOptions("website"), db=db, workers=1, kit_check=False)
    again = batch.run_batch(jobs, batch.BatchOptions("website"), db=db, workers=1, kit_check=False)
    assert [r.timings.get("cached") for r in first] == [None, None]
    assert [r.timings.get("cached") for r in again] == [1.0, 1.0]
    assert [r.to_json()["channels"] for r in again] == [r.to_json()["channels"] for r in first]


def test_new_enrolment_makes_photos_be_analysed_again(db):
    photo = fixture_dir("people", "test") / "alex_lacamoire1.jpg"
    checker = Checker(db, kit_check=False)
    checker.check(photo, "website", display_name=NEUTRAL)
    assert checker.check(photo, "website", display_name=NEUTRAL).timings.get("cached") == 1.0
    from consent.vision import faces
    from consent.images import file_hash

    extra = fixture_dir("people", "train") / "obama" / "obama2.jpg"
    with Register(db) as reg:
        reg.delete_templates("P001")
        encoding, quality = faces.enrolment_encoding(extra)
        reg.add_template("P001", encoding, file_hash(extra), quality)
    assert checker.check(photo, "website", display_name=NEUTRAL).timings.get("cached") is None


def test_never_publish_survives_the_json_round_trip(db):
    from consent.reports import face_state
    from consent.results import PhotoCheck

    with Register(db) as reg:
        reg.set_never_publish("P003", "court order")
    result = Checker(db, kit_check=False).check(fixture_dir("people", "test") / "johnsnow_test1.jpg", "website")
    rebuilt = PhotoCheck.from_json(result.to_json())
    assert [f.never_publish for f in rebuilt.faces] == [True]
    assert face_state(rebuilt, rebuilt.faces[0]) == "no_consent"  # red in reports, never green


def test_checking_without_a_register_says_how_to_create_one(tmp_path):
    photo = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    outcome = CliRunner().invoke(main, ["check", "--db", str(tmp_path / "none.db"), str(photo)])
    assert outcome.exit_code == 1 and "consent register init" in outcome.output
    assert not (tmp_path / "none.db").exists()
    assert CliRunner().invoke(main, ["check", "--no-register", "-w", "1", str(photo)]).exit_code == 0


def test_a_new_caption_is_judged_without_analysing_the_photo_again(db):
    # a child playing ball on a lawn: its sports-scene score (about 0.38) and its own body's
    # (about 0.71) are under a school's stricter thresholds of 0.5 and 0.8, and over them once
    # the words lower them (x0.5)
    import dataclasses

    from consent.settings import DEFAULTS

    photo = fixture_dir("kit") / "COCO_val2014_000000000474.jpg"
    checker = Checker(db, dataclasses.replace(DEFAULTS, kit_scene_threshold=0.5, kit_person_sport_threshold=0.8))
    plain = checker.check(photo, "website", display_name=NEUTRAL)
    assert "pe_kit" not in {r.code for r in plain.reasons}
    sports = checker.check(photo, "website", caption="Sports day 2026", display_name=NEUTRAL)
    assert sports.timings.get("cached") == 1.0
    (reason,) = [r for r in sports.reasons if r.code == "pe_kit"]
    assert "sports day" in reason.message
