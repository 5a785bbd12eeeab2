"""Captions as a way to ask the register who is pictured: limited and audited.

People who may not see names (office, comms) could otherwise try name after name in the caption
of one photo and learn from the answers who is in it or on roll. The answer itself no longer
tells (see :func:`consent.check.for_viewer`); on top of that, every caption such a person tries
on a photo is written to the audit log, and more than ``caption_tries_per_hour`` different
captions on the same photo within an hour are refused.
"""

from __future__ import annotations

import hashlib
import json
import time

from consent import images

from ..audit.audit_log import log_event
from .checked_photos import UploadRefused


def guard(db, user, photo, caption: str, settings) -> None:
    """Record this caption try on ``photo`` by ``user``; raise :class:`UploadRefused` (429) when
    they have tried too many different captions on it within the hour."""
    caption = (caption or "").strip()
    if user.sees_names or not caption:
        return
    photo_key = images.file_hash(photo)[:16]
    caption_key = hashlib.sha256(caption.casefold().encode("utf-8")).hexdigest()[:16]
    tried = set()
    for row in db.query(
        "select detail from web_audit where by_user = ? and action = 'caption.tried' and at > ?",
        [user.username, time.time() - 3600],
    ):
        detail = json.loads(row["detail"] or "{}")
        if detail.get("photo") == photo_key:
            tried.add(detail.get("caption"))
    limit = settings.caption_tries_per_hour
    if caption_key not in tried and len(tried) >= limit:
        log_event(db, user.username, "caption.refused", None, {"photo": photo_key, "tries": len(tried)})
        raise UploadRefused(
            429,
            f"This photo has been checked with {len(tried)} different captions in the last hour, "
            f"the most allowed is {limit}. Remove pupils' names from the caption, or wait an hour; "
            "a senior colleague can check it for you.",
            "caption_tries",
        )
    log_event(db, user.username, "caption.tried", None, {"photo": photo_key, "caption": caption_key})
