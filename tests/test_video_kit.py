"""PE kit, sportswear and undress on video frames (consent.video.kit), over clips made here
from the kit fixtures ($CONSENT_FIXTURES/kit, labels.csv): the photo kit check on frames looked
at once a second and at every scene cut, the clip judged by the photo rule with times."""

from __future__ import annotations

import pytest

pytest.importorskip("av")

from consent.check import Checker  # noqa: E402
from consent.video.check import check_video  # noqa: E402
from consent.vision import scene  # noqa: E402

from .conftest import copy_register, fixture_dir  # noqa: E402
from .test_check import enrolled_db  # noqa: E402,F401  (the module-scoped register fixture)
from .test_video import make_clip, picture  # noqa: E402

#: labelled "sportswear" (a tennis player) and three "everyday" photos
SPORT = "COCO_val2014_000000000415.jpg"
EVERYDAY = ("COCO_val2014_000000000294.jpg", "COCO_val2014_000000000459.jpg", "COCO_val2014_000000000623.jpg")


@pytest.fixture
def db(enrolled_db, tmp_path):  # noqa: F811
    return copy_register(enrolled_db, tmp_path)


def kit_photo(name: str):
    return picture(fixture_dir("kit") / name)


def kit_checker(db, **options) -> Checker:
    return Checker(db, use_cache=options.pop("use_cache", False), kit_check=True, text_check=False, **options)


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


def test_a_few_seconds_of_a_sports_photo_give_pe_kit_with_the_times_it_was_on_screen(db, tmp_path):
    shots = [(kit_photo(EVERYDAY[0]), 4.0), (kit_photo(SPORT), 5.0), (kit_photo(EVERYDAY[1]), 3.0)]
    clip = make_clip(tmp_path / "sports-day.mp4", shots)

    result = check_video(kit_checker(db), clip, "website", display_name="clip.mp4", folder="events")

    assert result.error is None, result.error
    (reason,) = [r for r in result.reasons if r.code == "pe_kit"]
    (start, end), = reason.times
    assert 4.0 <= start < 4.3 and 8.0 <= end < 9.0, reason.times  # on screen from 4.0 s to 9.0 s
    assert reason.message.startswith("0:04-0:08: pupils may be in PE kit"), reason.message
    assert reason.senior_signoff
    assert "kit_not_checked" not in codes(result) and "exposure" not in codes(result)
    # the text check was off: only the words in the picture are left to watch for
    (text,) = [r for r in result.reasons if r.code == "picture_text_not_checked"]
    assert "PE kit" not in text.message
    assert result.video["kit_frames"] >= 12 and result.video["kit_at"][0] == start


def test_a_clip_of_everyday_photos_is_not_flagged_for_kit(db, tmp_path):
    clip = make_clip(tmp_path / "assembly.mp4", [(kit_photo(name), 3.0) for name in EVERYDAY])

    result = check_video(kit_checker(db), clip, "website", display_name="clip.mp4", folder="events")

    assert result.error is None, result.error
    assert not {"pe_kit", "exposure", "kit_unknown", "kit_not_checked"} & set(codes(result)), codes(result)
    # looked at once a second and at each of the two scene cuts
    assert 9 <= result.video["kit_frames"] <= 12 and result.video["kit_at"] == []


def test_a_sports_shot_shorter_than_a_second_is_still_looked_at_from_its_scene_cut(db, tmp_path):
    shots = [(kit_photo(EVERYDAY[0]), 1.6), (kit_photo(SPORT), 0.6), (kit_photo(EVERYDAY[1]), 1.8)]
    clip = make_clip(tmp_path / "montage.mp4", shots)

    result = check_video(kit_checker(db), clip, "website", display_name="clip.mp4", folder="events")

    (reason,) = [r for r in result.reasons if r.code == "pe_kit"]
    ((start, end),) = reason.times
    assert 1.6 <= start < 2.2 and end < 2.2, reason.times


def test_without_the_scene_model_the_clip_fails_closed_as_kit_not_checked(db, tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "sports-day.mp4", [(kit_photo(SPORT), 2.0)])
    monkeypatch.setattr(scene, "PACKAGE", "no_such_weights_package")
    scene.session.forget()
    try:
        result = check_video(kit_checker(db, use_cache=True), clip, "website", display_name="clip.mp4")
    finally:
        monkeypatch.undo()
        scene.session.forget()

    assert result.error is None, result.error
    assert "pe_kit" not in codes(result)
    (reason,) = [r for r in result.reasons if r.code == "picture_text_not_checked"]
    assert "PE kit" in reason.message and "could not run" in reason.message
    assert result.verdicts["website"].verdict != "ok"
    # not cached: with the model back, the same clip is measured and flagged
    again = check_video(kit_checker(db, use_cache=True), clip, "website", display_name="clip.mp4")
    assert not again.cached and "pe_kit" in codes(again)


def test_a_cached_clip_keeps_its_kit_times_and_a_kit_check_switched_off_does_not_use_them(db, tmp_path):
    clip = make_clip(tmp_path / "sports-day.mp4", [(kit_photo(EVERYDAY[0]), 2.0), (kit_photo(SPORT), 3.0)])
    first = check_video(kit_checker(db, use_cache=True), clip, "website", display_name="clip.mp4")

    again = check_video(kit_checker(db, use_cache=True), clip, "website", display_name="clip.mp4")
    off = check_video(Checker(db, use_cache=True, kit_check=False, text_check=False), clip, "website",
                      display_name="clip.mp4")

    assert again.cached
    assert [r.times for r in again.reasons if r.code == "pe_kit"] == [r.times for r in first.reasons
                                                                      if r.code == "pe_kit"] != []
    assert "pe_kit" not in codes(off) and "picture_text_not_checked" in codes(off)
    (reason,) = [r for r in off.reasons if r.code == "picture_text_not_checked"]
    assert "PE kit" in reason.message


def test_undress_is_the_one_reason_as_on_a_photo_and_the_pe_kit_frames_are_named_in_a_note(db, tmp_path):
    bare = "COCO_val2014_000000000428.jpg"  # labelled exposure: a young child without a top
    clip = make_clip(tmp_path / "summer.mp4", [(kit_photo(SPORT), 2.0), (kit_photo(bare), 2.0)])

    result = check_video(kit_checker(db), clip, "website", display_name="clip.mp4", folder="events")

    (reason,) = [r for r in result.reasons if r.code == "exposure"]
    ((start, end),) = reason.times
    assert 2.0 <= start < 2.3 and end < 4.0 and reason.message.startswith("0:02-0:03: swimwear or partial undress")
    assert "pe_kit" not in codes(result) and result.verdicts["website"].verdict == "block"
    assert "PE kit or sportswear was also seen at 0:00-0:01" in result.notes


def test_a_stored_clip_judged_again_keeps_its_kit_reason_and_times_and_judges_new_words(db, tmp_path):
    """The web app judges a stored clip again (a consent change, a new caption): the kit seen on
    its frames is judged again from the measures stored with it, never replaced by 'kit not
    checked' nor dropped."""
    import json

    from consent.jobs import check_thread
    from consent.rejudge import StoredCheck, reason_codes

    shots = [(kit_photo(EVERYDAY[0]), 4.0), (kit_photo(SPORT), 5.0), (kit_photo(EVERYDAY[1]), 3.0)]
    clip = make_clip(tmp_path / "sports-day.mp4", shots)
    checker = kit_checker(db, use_cache=True)
    result = check_video(checker, clip, "website", display_name="clip.mp4", folder="events")
    stored = check_thread._stored_video(checker, clip, result, False, folder="events")
    stored = StoredCheck.from_json(json.loads(json.dumps(stored.to_json())))  # as the web app keeps it

    again = stored.judge(checker.view(), checker.settings)
    assert reason_codes(again) == reason_codes(result) and "kit_not_checked" not in reason_codes(again)
    (reason,) = [r for r in again.reasons if r.code == "pe_kit"]
    (was,) = [r for r in result.reasons if r.code == "pe_kit"]
    assert reason.times == was.times and reason.message == was.message

    # everyday frames only, with a caption that raises the kit check's sensitivity: judged with the new words
    calm = make_clip(tmp_path / "assembly.mp4", [(kit_photo(EVERYDAY[0]), 2.0), (kit_photo(EVERYDAY[2]), 2.0)])
    first = check_video(checker, calm, "website", display_name="clip.mp4", folder="events")
    kept = check_thread._stored_video(checker, calm, first, False, folder="events")
    assert "pe_kit" not in reason_codes(first)
    assert reason_codes(kept.judge(checker.view(), checker.settings)) == reason_codes(first)
