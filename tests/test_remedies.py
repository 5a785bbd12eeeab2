"""Every reason the check gives against every remedy: a copy with faces blurred, sign-off by a
senior colleague, sign-off by the designated safeguarding lead, and a withdrawal after sign-off.
Each remedy clears only the reason it cures, on the channels it was given for.

The expected outcomes are written out here, by hand, as the policy says them: they are not read
from ``consent.rules``, so a change to the rule tables that loosens a remedy fails this test."""

from __future__ import annotations

import pytest

from consent import rules
from consent.blurring import blurred_check
from consent.rejudge import covered, uncovered
from consent.register.view import empty_view
from consent.results import Face, PhotoCheck, Reason, channel_verdicts
from consent.signoff import releasable

CHANNELS = ["website", "social_media", "newsletter", "press"]
#: the channels a reason is given for in every case below; website and newsletter stay ok
HELD = ["social_media", "press"]

#: code -> (a face blur clears it, who may release it when it asks for review, ... when it blocks)
#: "senior": any senior colleague; "lead": only the designated safeguarding lead; None: no sign-off
EXPECTED = {
    "never_publish":     (False, "lead", "lead"),
    "no_consent":        (True, None, None),
    "unrecognised_face": (True, "senior", "senior"),
    "unchecked_face":    (True, "senior", "senior"),
    "ambiguous_match":   (True, "senior", "senior"),
    "looks_like":        (True, "senior", "senior"),
    "close_up":          (True, "senior", "senior"),
    "small_group":       (True, "senior", "senior"),
    "name_in_caption":   (False, "senior", None),
    "caption_names_someone": (False, "senior", None),
    "name_in_picture":   (True, "senior", None),  # where the copy blurred the name
    "text_unreadable":   (False, "senior", "senior"),
    "location_metadata": (False, "senior", "senior"),
    "pe_kit":            (False, "senior", "senior"),
    "exposure":          (False, "senior", "senior"),
    "kit_unknown":       (False, "senior", "senior"),
    # videos: what the tool did not listen to or look at; a senior who listened / watched may
    # release it, a blurred copy changes none of it
    "sound_not_checked": (False, "senior", "senior"),
    "kit_not_checked":   (False, "senior", "senior"),
    "picture_text_not_checked": (False, "senior", "senior"),
}
BADGE = (5, 40, 15, 20)


def test_every_reason_code_has_an_expected_outcome_for_every_remedy():
    assert set(EXPECTED) == set(rules.REASON_CODES) == set(rules.SIGN_OFF)


def photo(code: str, severity: str) -> PhotoCheck:
    """A photo of one identifiable pupil whose one reason is ``code``, on social media and press."""
    pupil = Face(index=0, box=(10, 60, 60, 10), height_px=50, identifiable=True, recognisable=True,
                 match="matched", person_id=1, role="pupil", consent={c: "granted" for c in CHANNELS})
    reasons = [Reason(code=code, severity=severity, message=f"{code} found", faces=[0], regions=[BADGE],
                      channels=list(HELD))]
    return PhotoCheck(path="p.jpg", name="p.jpg", channels=list(CHANNELS), faces=[pupil], reasons=reasons,
                      verdicts=channel_verdicts(reasons, list(CHANNELS)))


def cleared(check: PhotoCheck) -> list[str]:
    return [c for c, v in check.verdicts.items() if v.verdict == "ok"]


CASES = [(code, severity) for code in EXPECTED for severity in ("review", "block")]


@pytest.mark.parametrize("code,severity", CASES)
def test_a_copy_with_faces_blurred(code, severity):
    original = photo(code, severity)
    copy = blurred_check(original, PhotoCheck(path="b.jpg", name="b.jpg", channels=list(CHANNELS)), [0], [BADGE])
    assert cleared(copy) == (CHANNELS if EXPECTED[code][0] else ["website", "newsletter"])


@pytest.mark.parametrize("lead", [False, True], ids=["senior", "safeguarding lead"])
@pytest.mark.parametrize("code,severity", CASES)
def test_sign_off(code, severity, lead):
    """Which channels an approval may release: those needing sign-off as they are; blocked ones
    when ticked; none where no sign-off of this decider can release the reason."""
    who = EXPECTED[code][1 if severity == "review" else 2]
    may = releasable(photo(code, severity), lead)
    allowed = who == "senior" or (who == "lead" and lead)
    if not allowed:
        assert (may.review, may.blocked, sorted(may.held)) == ([], [], sorted(HELD))
        assert all(may.held.values())  # says what cures it instead
    elif severity == "review":
        assert (may.review, may.blocked, may.held) == (HELD, [], {})
    else:
        assert (may.review, may.blocked, may.held) == ([], HELD, {})


SIGNED_OFF = [(code, severity) for code, severity in CASES if EXPECTED[code][1 if severity == "review" else 2]]


@pytest.mark.parametrize("code,severity", SIGNED_OFF)
def test_a_withdrawal_after_sign_off_ends_the_approval_on_that_channel_only(code, severity):
    """Approved (by whoever may) for social media and press; then the pupil's consent for press
    is withdrawn: press is no longer cleared by the approval, social media still is. (Reasons no
    sign-off can release, a missing consent among them, are never approved in the first place.)"""
    approved = photo(code, severity)
    basis = covered(approved, HELD)
    now = photo(code, severity)
    now.faces[0].consent["press"] = "withdrawn"
    now.reasons.append(Reason(code="no_consent", severity="block", message="1 pupil without consent for press",
                              faces=[0], channels=["press"]))
    now.verdicts = channel_verdicts(now.reasons, list(CHANNELS))
    ended = [c.channel for c in uncovered(basis, now, empty_view())]
    assert ended == ["press"]
