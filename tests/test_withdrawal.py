"""A withdrawal reaches every photo already checked or published: stored checks judged again,
the publication record and its takedown list, and deletion that leaves no readable copy.

These tests use a real register in tmp_path and a stored analysis written the way the check
writes it (boxes and person ids); judging needs no face model, which is the point.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from click.testing import CliRunner

from consent.check import Analysis
from consent.cli import main
from consent.register import Register, publications
from consent.register.housekeeping import purge_leavers
from consent.register.view import load_view
from consent.rejudge import StoredCheck, day_words
from consent.results import Face

CHANNELS = ["website", "social_media", "newsletter", "press"]
NAMES = [("P1", "Quillon", "Zabriskie"), ("P2", "Marigold", "Featherstonehaugh"), ("P3", "Ottoline", "Vandersteen")]
TODAY = dt.date.today()


@pytest.fixture
def reg(tmp_path):
    r = Register(tmp_path / "consent.db", user="admin")
    for mis, first, last in NAMES:
        p = r.add_person(mis, first, last, year_group="7")
        for channel in CHANNELS:
            r.record_consent(p.id, channel, "granted")
    yield r
    r.close()


def ids(reg) -> list[int]:
    return [reg.find_person(mis).id for mis, _, _ in NAMES]


def group_photo(person_ids: list[int], name: str = "sports-day-04.jpg") -> StoredCheck:
    """A stored check of a group photo of these people, each face well lit and recognised."""
    faces = [
        Face(index=i, box=(1000, 700 + 600 * i, 1300, 400 + 600 * i), height_px=300, identifiable=True,
             match="matched", person_id=pid, distance=0.35)
        for i, pid in enumerate(person_ids)
    ]
    analysis = Analysis(sha256="ab" * 32, format="JPEG", width=4000, height=3000, faces=faces)
    stored = StoredCheck(analysis=analysis, channels=list(CHANNELS), name=name)
    return stored


def publish(reg, stored: StoredCheck, channel: str, link: str | None = None) -> publications.Publication:
    return publications.record(reg, stored, channel, by="comms", how="marked", link=link)


def test_a_group_photo_with_consent_is_ok_everywhere(reg):
    result = group_photo(ids(reg)).judge(load_view(reg))
    assert {c: v.verdict for c, v in result.verdicts.items()} == {c: "ok" for c in CHANNELS}


def test_a_stored_check_keeps_person_ids_and_no_names(reg):
    stored = group_photo(ids(reg))
    text = json.dumps(stored.to_json())
    assert all(first not in text and last not in text for _, first, last in NAMES)
    again = StoredCheck.from_json(json.loads(text))
    assert again.person_ids == sorted(ids(reg))
    assert "Quillon Zabriskie" in [f.person_name for f in again.judge(load_view(reg)).faces]


def test_publication_records_who_when_people_verdict_and_consent_then(reg):
    pub = publish(reg, group_photo(ids(reg)), "newsletter", "https://school.example/news/12")
    assert (pub.channel, pub.how, pub.published_by, pub.verdict) == ("newsletter", "marked", "comms", "ok")
    assert sorted(pub.person_ids) == sorted(ids(reg)) and pub.link == "https://school.example/news/12"
    assert {s["status"] for s in pub.consent_states.values()} == {"granted"}
    assert publications.takedowns(reg) == []


def test_a_link_that_is_not_a_web_address_is_refused(reg):
    with pytest.raises(publications.RegisterError, match="https://"):
        publish(reg, group_photo(ids(reg)), "website", "javascript:alert(1)")


def test_withdrawal_puts_the_published_photo_on_the_takedown_list_with_the_date(reg):
    pupil = ids(reg)[1]
    publish(reg, group_photo(ids(reg)), "newsletter")
    publish(reg, group_photo(ids(reg)), "website")
    monday = TODAY - dt.timedelta(days=2)
    reg.record_consent(pupil, "newsletter", "withdrawn", recorded_on=monday)
    [item] = publications.takedowns(reg)
    assert item.publication.channel == "newsletter"  # the website copy still has consent
    assert item.change.because == f"consent for newsletter was withdrawn on {day_words(monday)}"
    assert item.person_ids == [pupil]


def test_consent_end_date_passing_lists_the_photo_with_no_request_made(reg):
    pupil = ids(reg)[0]
    reg.record_consent(pupil, "website", "granted", until=TODAY)  # valid through today
    publish(reg, group_photo(ids(reg)), "website")
    assert publications.takedowns(reg, on=TODAY) == []
    [item] = publications.takedowns(reg, on=TODAY + dt.timedelta(days=1))
    assert item.change.because == f"consent for website expired on {day_words(TODAY)}"


def test_never_publish_set_after_publication_lists_it_with_the_reason_for_admins_only(reg):
    pupil = ids(reg)[2]
    publish(reg, group_photo(ids(reg)), "website")
    reg.set_never_publish(pupil, "court order 4471: must not be identifiable")
    [item] = publications.takedowns(reg)
    assert item.change.because == "a person in the photo must never be published"
    assert "court order 4471" not in json.dumps(item.to_json(admin=False))
    assert "court order 4471" in item.to_json(admin=True)["admin_detail"]
    assert "Ottoline Vandersteen" in item.to_json(admin=True)["admin_detail"]


def test_marking_taken_down_takes_it_off_the_list_once(reg):
    pub = publish(reg, group_photo(ids(reg)), "press")
    reg.record_consent(ids(reg)[0], "press", "withdrawn")
    assert len(publications.takedowns(reg)) == 1
    done = publications.mark_taken_down(reg, pub.id, by="comms")
    assert done.taken_down_by == "comms" and done.taken_down_at
    assert publications.takedowns(reg) == []
    assert len(publications.takedowns(reg, include_done=True)) == 1
    with pytest.raises(publications.RegisterError, match="already marked taken down by comms"):
        publications.mark_taken_down(reg, pub.id, by="admin")
    with pytest.raises(publications.NoSuchPublication):
        publications.mark_taken_down(reg, 999, by="admin")


def test_a_photo_of_nobody_recognised_never_needs_taking_down(reg):
    publish(reg, group_photo([]), "website")
    for pid in ids(reg):
        reg.record_consent(pid, "website", "withdrawn")
    assert publications.takedowns(reg) == []


# --- deletion that deletes ------------------------------------------------------------------


def raw_bytes(reg) -> bytes:
    """Everything on disk for the register: the database file and its write-ahead log."""
    wal = reg.path.with_name(reg.path.name + "-wal")
    return reg.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_purge_leaves_no_name_reason_or_template_in_the_database_or_its_wal(reg):
    leaver = reg.find_person("P1")
    reg.record_consent(leaver.id, "biometric", "granted")
    encoding = np.random.default_rng(7).normal(size=128)
    reg.add_template(leaver.id, encoding, "cd" * 32, 0.9)
    publish(reg, group_photo(ids(reg)), "website")
    reg.set_never_publish(leaver.id, "Xylophonic safeguarding reason")
    before = raw_bytes(reg)
    assert b"Zabriskie" in before and b"Xylophonic" in before
    reg.update_person(leaver.id, left_on=TODAY - dt.timedelta(days=400))

    result = purge_leavers(reg, TODAY - dt.timedelta(days=30))

    assert result.person_ids == [leaver.id]
    after = raw_bytes(reg)
    for trace in (b"Quillon", b"Zabriskie", b"Xylophonic", encoding.astype(np.float64).tobytes()[:64]):
        assert trace not in after
    assert b"Marigold" in after  # the others are still there: the test reads the right bytes
    [item] = publications.takedowns(reg)  # the leaver's face is "not recognised" now
    assert item.change.because == "a person in the photo was removed from the register"


def test_biometric_withdrawal_leaves_no_template_bytes(reg):
    pupil = ids(reg)[1]
    reg.record_consent(pupil, "biometric", "granted")
    encoding = np.random.default_rng(11).normal(size=128)
    reg.add_template(pupil, encoding, "ef" * 32, 0.9)
    assert encoding.tobytes()[:64] in raw_bytes(reg)
    reg.record_consent(pupil, "biometric", "withdrawn")
    assert encoding.tobytes()[:64] not in raw_bytes(reg)
    wal = reg.path.with_name(reg.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated


# --- the command line -----------------------------------------------------------------------


def cli(reg, *args):
    return CliRunner().invoke(main, ["register", "--db", str(reg.path), "--by", "comms", *map(str, args)])


def test_cli_lists_takedowns_links_withdrawals_to_them_and_marks_one_done(reg):
    pub = publish(reg, group_photo(ids(reg)), "social_media", "https://social.example/p/1")
    reg.record_consent(ids(reg)[0], "social_media", "withdrawn")
    out = cli(reg, "takedowns")
    assert out.exit_code == 0, out.output
    assert f"#{pub.id} sports-day-04.jpg on social_media: consent for social media was withdrawn" in out.output
    assert "https://social.example/p/1" in out.output and "1 photo to take down" in out.output

    out = cli(reg, "withdrawals", "--since", TODAY.isoformat())
    assert "Zabriskie" in out.output and f"take down: #{pub.id} sports-day-04.jpg" in out.output

    out = cli(reg, "takedowns", "--done", pub.id)
    assert out.exit_code == 0 and "marked taken down by comms" in out.output
    assert "0 photos to take down" in cli(reg, "takedowns").output
    assert "no photo to take down" in cli(reg, "withdrawals", "--since", TODAY.isoformat()).output


def test_cli_takedowns_shows_the_never_publish_reason_only_with_admin(reg):
    publish(reg, group_photo(ids(reg)), "website")
    reg.set_never_publish(ids(reg)[0], "Xylophonic safeguarding reason")
    assert "Xylophonic" not in cli(reg, "takedowns").output
    assert "Xylophonic" in cli(reg, "takedowns", "--admin").output


def test_cli_takedowns_on_a_later_day_shows_end_dates_passing(reg):
    reg.record_consent(ids(reg)[0], "press", "granted", until=TODAY)
    publish(reg, group_photo(ids(reg)), "press")
    assert "0 photos to take down" in cli(reg, "takedowns").output
    later = cli(reg, "takedowns", "--on", (TODAY + dt.timedelta(days=1)).isoformat())
    assert "consent for press expired" in later.output


def test_backup_says_it_is_the_exception_to_deletion(reg, tmp_path):
    out = cli(reg, "backup", tmp_path / "backup.db")
    assert out.exit_code == 0, out.output
    assert "backup is the documented exception to deletion" in out.output


def test_the_list_follows_each_change_when_computed_again_and_again(reg):
    pupil = ids(reg)[0]
    publish(reg, group_photo(ids(reg)), "website")
    assert publications.takedowns(reg) == []  # judged once; later calls reuse what did not change
    reg.record_consent(pupil, "website", "withdrawn")
    assert len(publications.takedowns(reg)) == 1
    reg.record_consent(pupil, "website", "granted")
    assert publications.takedowns(reg) == []
    reg.update_person(pupil, preferred_forename="Quill")  # a new name reaches the admin detail too
    reg.set_never_publish(pupil, "reason")
    [item] = publications.takedowns(reg)
    assert "Quill Zabriskie" in item.change.admin_detail


def test_a_copy_is_recorded_once_per_photo_and_channel_and_is_not_a_publication(reg):
    stored = group_photo(ids(reg))
    first = publications.record(reg, stored, "website", by="office", how="download")
    again = publications.record(reg, stored, "website", by="office", how="download")
    assert again.id == first.id and not first.published
    marked = publish(reg, stored, "website", "https://school.example/news/3")
    assert marked.published and marked.id != first.id
    reg.record_consent(ids(reg)[0], "website", "withdrawn")
    [item] = publications.takedowns(reg)
    assert item.publication.id == marked.id and [p.id for p in item.copies] == [first.id]
    assert item.words == "published; copies downloaded too"
    publications.mark_taken_down(reg, marked.id, by="comms")
    assert publications.takedowns(reg) == []
    assert all(p.taken_down_at for p in publications.publications(reg))
