"""``unrecognised_face``, ``unchecked_face`` and ``ambiguous_match``: unknown never means cleared."""

from __future__ import annotations

from ..results import SEV_REVIEW, Reason
from . import RuleContext, plural, rule


def _who(n: int) -> str:
    return "it is" if n == 1 else "they are"


@rule
def unrecognised_face(ctx: RuleContext):
    unknown = [f for f in ctx.faces if f.identifiable and f.match == "unknown"]
    if unknown:
        yield Reason(
            code="unrecognised_face",
            severity=SEV_REVIEW,
            message=(
                f"{plural(len(unknown), 'face')} not recognised in the register; check who "
                f"{_who(len(unknown))} and that consent is held"
            ),
            faces=[f.index for f in unknown],
        )


@rule
def ambiguous_match(ctx: RuleContext):
    unsure = [f for f in ctx.faces if f.match == "ambiguous"]
    if unsure:
        yield Reason(
            code="ambiguous_match",
            severity=SEV_REVIEW,
            message=(
                f"{plural(len(unsure), 'face')} could be more than one person in the register; "
                "check who it is by eye"
            ),
            faces=[f.index for f in unsure],
        )


@rule
def unchecked_face(ctx: RuleContext):
    """A face a person could recognise but the tool cannot match (turned away, small, blurred)."""
    unchecked = [f for f in ctx.faces if f.identifiable and f.match == "unchecked"]
    if unchecked:
        whys = sorted({f.why_not for f in unchecked if f.why_not})
        yield Reason(
            code="unchecked_face",
            severity=SEV_REVIEW,
            message=(
                f"{plural(len(unchecked), 'face')} the tool could not check "
                f"({'; '.join(whys)}): look at who {_who(len(unchecked))}"
            ),
            faces=[f.index for f in unchecked],
        )
