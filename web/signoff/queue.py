"""How many photos wait for a senior's decision: the header's count and the register at a
glance use it, so neither imports the sign-off views."""

from __future__ import annotations

from ..check import checked_photos


def waiting_for(db, user) -> int:
    """How many photos wait for ``user``'s sign-off: every pending one for a designated
    safeguarding lead; for other seniors those without anyone who must never be published
    (judged as the register stands today)."""
    ids = [r["id"] for r in db.query("select id from web_checks where review_state = 'pending'")]
    if user.safeguarding_lead:
        return len(ids)
    return sum(1 for i in ids if not checked_photos.needs_safeguarding_lead(checked_photos.get(db, i) or {}))
