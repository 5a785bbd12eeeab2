"""What a copy with faces blurred may be published for (consent.blurring): a face blur clears
only what belongs to the faces (and names in the picture) it blurred; the re-check of its pixels
may add a reason, never remove one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consent import rules
from consent.blurring import blurred_check
from consent.check import Checker
from consent.register import Register
from consent.rejudge import BlurredFrom, StoredCheck
from consent.results import Face, PhotoCheck, Reason, channel_verdicts

from .conftest import fixture_dir

ROOT = Path(__file__).resolve().parent.parent
EVERY_CHANNEL = ("website", "social_media", "newsletter", "press")
NEUTRAL = "IMG_0001.jpg"


@pytest.fixture
def roll(tmp_path):
    """A register with one pupil on roll (Rose Tyler), nobody enrolled: every face is unknown."""
    db = tmp_path / "consent.db"
    with Register(db, user="test") as reg:
        reg.add_person("A1", "Rose", "Tyler", year_group="6", form="6B")
    return db


def blurred_copy(db, photo, tmp_path, caption=""):
    result = Checker(db).check(photo, "all", caption, safe_dir=tmp_path / "blurred", blur_unconsented=True,
                               display_name=NEUTRAL)
    assert result.error is None and result.blurred is not None
    return result


def codes(reasons) -> set[str]:
    return {r["code"] if isinstance(r, dict) else r.code for r in reasons}


# --- real photos ------------------------------------------------------------------------------


def test_a_blurred_copy_of_a_child_without_a_top_is_still_not_to_be_published(roll, tmp_path):
    """kit/ 'young child without a top': blurring the face hides the child from the re-check,
    which then sees nobody and so no undress; the undress stays on the blurred copy by rule."""
    photo = fixture_dir("kit") / "COCO_val2014_000000000428.jpg"
    result = blurred_copy(roll, photo, tmp_path)
    assert "exposure" in codes(result.reasons) and result.blurred["faces"]
    assert "exposure" not in codes(result.blurred_recheck["reasons"])  # what the pixels alone say
    copy = result.blurred
    assert "exposure" in codes(copy["reasons"])
    assert {c: v["verdict"] for c, v in copy["channels"].items()} == dict.fromkeys(EVERY_CHANNEL, "block")
    # what belonged to the blurred face is cleared: who it is, and the close-up
    assert not codes(copy["reasons"]) & {"unrecognised_face", "close_up"}


def test_a_blurred_copy_of_a_tennis_player_still_needs_sign_off_for_pe_kit(roll, tmp_path):
    photo = fixture_dir("kit") / "COCO_val2014_000000000564.jpg"  # tennis player in whites
    result = blurred_copy(roll, photo, tmp_path)
    assert "pe_kit" in codes(result.reasons)
    assert result.blurred_recheck["verdict"] == "ok"  # nobody left to be in kit, for the pixels
    copy = result.blurred
    pe_kit = [r for r in copy["reasons"] if r["code"] == "pe_kit"]
    assert pe_kit and pe_kit[0]["senior_signoff"]
    assert all(v["verdict"] == "review" for v in copy["channels"].values())


def test_a_pupils_name_in_the_caption_stays_on_the_blurred_copy(roll, tmp_path):
    photo = fixture_dir("people", "test") / "obama_and_biden.jpg"
    result = blurred_copy(roll, photo, tmp_path, caption="Rose Tyler at sports day")
    assert "name_in_caption" in codes(result.reasons)
    copy = result.blurred
    assert "name_in_caption" in codes(copy["reasons"])
    assert "unrecognised_face" not in codes(copy["reasons"])  # the faces were blurred
    assert all(v["verdict"] != "ok" for v in copy["channels"].values())
    assert "named in the caption" in copy["summary"]


# --- the rule, on checks made by hand ----------------------------------------------------------


def face(index, match="unknown", consent=None, identifiable=True, never_publish=False):
    return Face(index=index, box=(10, 60 + 60 * index, 60, 10 + 60 * index), height_px=50,
                identifiable=identifiable, recognisable=identifiable, match=match,
                person_id=index + 1 if match == "matched" else None, role="pupil" if match == "matched" else None,
                consent=consent or {}, never_publish=never_publish)


def check(faces, reasons, channels=("website",)) -> PhotoCheck:
    return PhotoCheck(path="p.jpg", name="p.jpg", channels=list(channels), faces=faces, reasons=reasons,
                      verdicts=channel_verdicts(reasons, list(channels)))


def reason(code, severity="review", faces=(), regions=(), channels=()):
    return Reason(code=code, severity=severity, message=f"{code} found", faces=list(faces),
                  regions=list(regions), channels=list(channels))


NOBODY = check([], [])


def test_a_face_blur_cures_no_consent_and_not_recognised_for_the_faces_it_blurred():
    faces = [face(0, "matched", {"website": "refused"}), face(1), face(2, "matched", {"website": "granted"})]
    original = check(faces, [reason("no_consent", "block", [0], channels=["website"]),
                             reason("unrecognised_face", "review", [1])])
    assert original.verdicts["website"].verdict == "block"
    assert blurred_check(original, NOBODY, [0, 1], []).verdicts["website"].verdict == "ok"
    # a face that was not blurred keeps its reason
    kept = blurred_check(original, NOBODY, [0], [])
    assert [r.code for r in kept.reasons] == ["unrecognised_face"]
    assert kept.verdicts["website"].verdict == "review"


def test_the_re_check_can_add_a_reason_but_never_remove_one():
    original = check([face(0)], [reason("unrecognised_face", "review", [0]),
                                 reason("exposure", "block")])
    # the re-check sees no undress any more (nobody is left), but a face the blur did not hide
    recheck = check([face(0)], [reason("unchecked_face", "review", [0])])
    copy = blurred_check(original, recheck, [0], [])
    assert [r.code for r in copy.reasons] == ["exposure", "unchecked_face"]
    assert copy.verdicts["website"].verdict == "block"
    assert copy.reasons[1].faces == []  # the copy's faces, not the original's


def test_a_never_publish_pupils_face_is_never_cleared_by_blurring():
    faces = [face(0, "matched", {"website": "granted"}, never_publish=True)]
    original = check(faces, [reason("never_publish", "block", [0])])
    copy = blurred_check(original, NOBODY, [0], [])
    assert copy.verdicts["website"].verdict == "block"


def test_a_small_group_is_cleared_only_when_its_faces_could_be_recognised_and_were_blurred():
    recognisable = check([face(0)], [reason("small_group", "review", [0])])
    assert blurred_check(recognisable, NOBODY, [0], []).verdicts["website"].verdict == "ok"
    nobody_could = check([face(0, "not_identifiable", identifiable=False)], [reason("small_group", "review", [0])])
    assert blurred_check(nobody_could, NOBODY, [0], []).verdicts["website"].verdict == "review"


def test_a_name_in_the_picture_is_cleared_only_where_the_copy_blurred_it():
    badge, other = (5, 40, 15, 20), (80, 40, 90, 20)
    original = check([], [reason("name_in_picture", "block", regions=[badge, other])])
    assert blurred_check(original, NOBODY, [], [badge, other]).verdicts["website"].verdict == "ok"
    assert blurred_check(original, NOBODY, [], [badge]).verdicts["website"].verdict == "block"


#: the reasons a copy with faces blurred clears (when every face, or place, it is about was blurred)
CLEARED_BY_A_FACE_BLUR = {"no_consent", "unrecognised_face", "unchecked_face", "ambiguous_match", "looks_like",
                          "close_up", "small_group", "name_in_picture"}


@pytest.mark.parametrize("code", rules.REASON_CODES)
def test_which_channels_a_blurred_copy_clears_for_every_reason_code(code):
    """Every code the check can give, with the face it is about blurred and the place it points
    at blurred: cleared on every channel, or kept on exactly the channels it was on."""
    box = (5, 40, 15, 20)
    channels = list(EVERY_CHANNEL)
    original = check([face(0, "matched", {c: "granted" for c in channels})],
                     [reason(code, "review", [0], [box], channels=["social_media", "press"])], channels)
    copy = blurred_check(original, check([], [], channels), [0], [box])
    expected = dict.fromkeys(channels, "ok")
    if code not in CLEARED_BY_A_FACE_BLUR:
        expected.update(social_media="review", press="review")
    assert {c: v.verdict for c, v in copy.verdicts.items()} == expected


def test_every_reason_code_a_rule_gives_has_a_blur_decision_and_is_documented():
    given = set()
    for path in (ROOT / "consent" / "rules").glob("*.py"):
        given |= set(re.findall(r'\bcode="([a-z_]+)"', path.read_text()))
    assert given and given <= set(rules.FACE_BLUR)
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:info|review|block)", (ROOT / "docs" / "json.md").read_text(), re.M))
    assert documented == set(rules.FACE_BLUR)


def test_a_rule_giving_a_code_without_a_blur_decision_is_refused(monkeypatch):
    monkeypatch.setattr(rules, "RULES", [lambda ctx: [reason("new_code")]])
    monkeypatch.setattr(rules, "_loaded", True)
    with pytest.raises(rules.UnknownReasonCode, match="new_code"):
        rules.evaluate(rules.RuleContext(faces=[], channels=["website"], width=10, height=10))


def test_a_stored_blurred_copy_is_judged_again_by_the_rule(roll, tmp_path):
    """What the web app keeps (and the publication record): judged whenever it is shown, the
    blurred copy of the undressed child is still blocked, whatever its pixels say."""
    from consent.register.view import load_view
    from consent.settings import DEFAULTS

    photo = fixture_dir("kit") / "COCO_val2014_000000000428.jpg"
    checker = Checker(roll)
    result = checker.check(photo, "all", safe_dir=tmp_path, blur_unconsented=True, display_name=NEUTRAL)
    made_from = BlurredFrom(checker.analyse(photo), result.blurred["faces"])
    stored = StoredCheck(checker.analyse(result.safe_copy), list(result.channels), NEUTRAL, blurred_from=made_from)
    again = StoredCheck.from_json(stored.to_json())
    with Register(roll, create=False) as reg:
        judged = again.judge(load_view(reg, DEFAULTS), DEFAULTS)
    assert judged.verdict == "block" and "exposure" in codes(judged.reasons)
