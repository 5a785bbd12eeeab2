"""What signing a photo off may release: one rule for the sign-off pages, the batch approval
and the command line.

A senior colleague's approval is a person looking at the photo and deciding. It can settle what
a person can judge by looking: who a face is, whether PE kit, swimwear, a close-up or a small
group is fine to publish. It cannot stand in for a parent's written consent, nor change words
published beside the photo: those are cured at their source (consent recorded in the register,
the caption changed, the name cropped or blurred). A photo holding someone who must never be
published is released only by a designated safeguarding lead. ``consent.rules.SIGN_OFF`` says,
for every reason code and severity, who may release it.

An approval releases the channels whose every reason the decider may release; a blocked channel
only when ticked, with the reason. What it covered is kept (:func:`consent.rejudge.covered`): a
reason it did not cover (a withdrawal, a new never-publish flag) ends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import OK, PhotoCheck, Reason
from .rules import SAFEGUARDING_LEAD, SENIOR, SIGN_OFF


def who_may_release(reason: Reason) -> str:
    """``SENIOR``, ``SAFEGUARDING_LEAD`` or ``NOBODY``: who may release ``reason`` by sign-off."""
    review, block, _ = SIGN_OFF[reason.code]
    return block if reason.severity == "block" else review


def may_release(reason: Reason, lead: bool) -> bool:
    """A decider (a senior colleague; ``lead``: also a designated safeguarding lead) may release
    ``reason`` by signing the photo off."""
    who = who_may_release(reason)
    return who == SENIOR or (who == SAFEGUARDING_LEAD and lead)


@dataclass
class Releasable:
    """What one decider may release of one photo, channel by channel."""

    #: channels that need sign-off and may be released by approving
    review: list[str]
    #: blocked channels the decider may release when ticked, with the reason
    blocked: list[str]
    #: channels no sign-off by this decider can release: channel -> what cures them instead
    held: dict[str, str]


def releasable(result: PhotoCheck, lead: bool) -> Releasable:
    """What a senior colleague (``lead``: a designated safeguarding lead) may release of
    ``result`` (the photo as judged today)."""
    review, blocked, held = [], [], {}
    for channel, verdict in result.verdicts.items():
        if verdict.verdict == OK:
            continue
        stuck = [r for r in result.reasons_for(channel) if r.verdict != OK and not may_release(r, lead)]
        if stuck:
            held[channel] = "; ".join(dict.fromkeys(cure(r) for r in stuck))
        elif verdict.verdict == "block":
            blocked.append(channel)
        else:
            review.append(channel)
    return Releasable(review, blocked, held)


def cure(reason: Reason) -> str:
    """What releases ``reason`` when sign-off cannot, in the office's words."""
    return SIGN_OFF[reason.code][2]
