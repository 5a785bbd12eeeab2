"""``pe_kit`` and ``exposure``: PE kit, sportswear and swimwear need a senior colleague;
``kit_unknown`` when the check could not run (the photo needs review).

The detection itself is :mod:`consent.vision.kit`; this rule only turns its assessment into reasons.
"""

from __future__ import annotations

from ..results import SEV_BLOCK, SEV_REVIEW, Reason
from . import RuleContext, rule


@rule
def pe_kit(ctx: RuleContext):
    kit = ctx.kit
    if kit is None:
        return
    if kit.unknown:
        # fail closed: a photo the kit check could not look at is never "no kit"
        yield Reason(
            code="kit_unknown",
            severity=SEV_REVIEW,
            message=f"{kit.message}; check by eye for PE kit, sportswear or swimwear before publishing",
        )
    elif kit.exposure:
        yield Reason(
            code="exposure",
            severity=SEV_BLOCK,
            message=f"swimwear or partial undress: {kit.message}; do not publish unless a senior colleague approves",
            senior_signoff=True,
            suggestion=kit.suggestion,
        )
    elif kit.pe_kit:
        yield Reason(
            code="pe_kit",
            severity=SEV_REVIEW,
            message=f"pupils may be in PE kit or sportswear ({kit.message}); ask a senior colleague before publishing",
            senior_signoff=True,
            suggestion=kit.suggestion,
        )
