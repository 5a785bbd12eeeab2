"""Today's takedown list, for the takedowns page and the counts other pages show (the start
page, the register's person page), so no page imports another area's views."""

from __future__ import annotations

from consent.register import publications
from consent.register.view import current_view

from ..core.request_register import get_register


def open_takedowns(person_id: int | None = None, channel: str | None = None) -> list:
    """Today's takedown list (optionally those one person's withdrawal for one channel caused)."""
    reg = get_register()
    items = publications.takedowns(reg, view=current_view(reg))
    if person_id is not None:
        items = [t for t in items if person_id in t.person_ids and (not channel or t.publication.channel == channel)]
    return items
