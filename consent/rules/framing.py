"""``close_up`` and ``small_group``: how identifiable the pupils are from the framing."""

from __future__ import annotations

from ..results import SEV_REVIEW, Reason
from . import RuleContext, plural, rule


@rule
def close_up(ctx: RuleContext):
    limit = ctx.settings.close_up_face_ratio
    # a face nobody could recognise (too few pixels or too blurred: a thumbnail, a smudge) is
    # no easier to identify for filling the frame
    big = [f for f in ctx.faces if f.identifiable and ctx.height and f.height_px / ctx.height >= limit]
    if big:
        share = max(f.height_px / ctx.height for f in big)
        yield Reason(
            code="close_up",
            severity=SEV_REVIEW,
            message=(
                f"close-up: {plural(len(big), 'face')} fill{'s' if len(big) == 1 else ''} "
                f"{share:.0%} of the picture height, which makes a pupil easy to identify"
            ),
            faces=[f.index for f in big],
            suggestion="a wider shot or an over-the-shoulder angle is safer",
        )


@rule
def small_group(ctx: RuleContext):
    """Fewer than ``min_group_size`` pupils someone could recognise: each is easier to single out.

    Only identifiable pupils count (faces not matched to staff, not too small or blurred for
    anyone to recognise): passers-by a few pixels tall neither make a small group nor hide a
    pupil in a large one, and a photo where nobody is identifiable gets no warning at all."""
    pupils = ctx.identifiable_pupils
    if 0 < len(pupils) < ctx.settings.min_group_size:
        yield Reason(
            code="small_group",
            severity=SEV_REVIEW,
            message=(
                f"only {plural(len(pupils), 'pupil')} in the photo could be recognised; groups of "
                f"{ctx.settings.min_group_size} or more are safest"
            ),
            faces=[f.index for f in pupils],
        )
