"""``unrecognised_face``, ``unchecked_face``, ``ambiguous_match`` and ``looks_like``: unknown
never means cleared, and neither does a face that only looks like someone."""

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
def looks_like(ctx: RuleContext):
    """A face close to one person, but not close enough to match (``looks_like``): a person
    allowed to see names must confirm or reject it. Until then it counts as an unknown face.

    The message never names anyone (it is what every role reads, and what summaries are made
    of); whom each face looks like is in ``name_detail``, shown only where names may be."""
    alike = [f for f in ctx.faces if f.match == "looks_like"]
    if alike:
        n = len(alike)
        yield Reason(
            code="looks_like",
            severity=SEV_REVIEW,
            message=(
                ("a face looks like a pupil" if n == 1 else f"{n} faces look like pupils")
                + f" in the register: a senior colleague must confirm who {_who(n)}"
            ),
            faces=[f.index for f in alike],
            name_detail="; ".join(
                f"face {f.index + 1} looks like {f.suggested_name or 'someone in the register'}: "
                "check who this is" for f in alike),
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
