"""``never_publish`` and ``no_consent``: the register says this person may not appear."""

from __future__ import annotations

from ..results import SEV_BLOCK, Reason, channel_label
from . import RuleContext, plural, rule

#: how each missing-consent status reads
STATUS_WORDS = {
    "missing": "no consent recorded",
    "refused": "consent refused",
    "withdrawn": "consent withdrawn",
    "expired": "consent expired",
}


@rule
def never_publish(ctx: RuleContext):
    flagged = [f for f in ctx.faces if f.match == "matched" and f.never_publish]
    if flagged:
        details = "; ".join(
            f"face {f.index + 1}: {ctx.never_publish.get(f.person_id, 'never-publish flag set')}"
            for f in flagged
        )
        yield Reason(
            code="never_publish",
            severity=SEV_BLOCK,
            message=(
                f"{plural(len(flagged), 'person', 'people')} in this photo cannot be published "
                "on any channel; ask the designated safeguarding lead"
            ),
            faces=[f.index for f in flagged],
            admin_detail=details,
        )


@rule
def no_consent(ctx: RuleContext):
    for channel in ctx.channels:
        lacking = [
            f for f in ctx.faces
            if f.match == "matched" and not f.never_publish
            and f.consent.get(channel, "missing") != "granted"
        ]
        if not lacking:
            continue
        pupils = [f for f in lacking if f.role != "staff"]
        staff = [f for f in lacking if f.role == "staff"]
        parts = []
        if pupils:
            parts.append(f"{plural(len(pupils), 'pupil')} without consent")
        if staff:
            parts.append(f"{plural(len(staff), 'staff member')} without consent")
        why = sorted({STATUS_WORDS.get(f.consent.get(channel, "missing"), "no consent") for f in lacking})
        yield Reason(
            code="no_consent",
            severity=SEV_BLOCK,
            message=f"{' and '.join(parts)} for {channel_label(channel)} ({', '.join(why)})",
            channels=[channel],
            faces=[f.index for f in lacking],
        )
