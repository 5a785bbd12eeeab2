"""``location_metadata``: the original carries GPS or other identifying metadata."""

from __future__ import annotations

from ..results import INFO, Reason, join_words
from . import RuleContext, rule

#: consent.metadata group codes, as they read in a sentence
GROUP_WORDS = {
    "gps": "GPS position",
    "time": "capture time",
    "camera": "camera details and serial numbers",
    "owner": "owner or copyright names",
    "software": "editing software",
    "maker_notes": "camera maker notes",
    "xmp": "XMP data",
    "people": "names of people tagged in the photo",
    "iptc": "IPTC caption or keywords",
    "comment": "comments",
    "thumbnail": "embedded thumbnail or preview",
    "other": "other metadata",
}


@rule
def location_metadata(ctx: RuleContext):
    found = [g for g in GROUP_WORDS if g in ctx.metadata_found]
    if found:
        listed = join_words([GROUP_WORDS[g] for g in found])
        yield Reason(
            code="location_metadata",
            severity=INFO,
            message=f"the original carries {listed}; the safe copy has none of it",
        )
