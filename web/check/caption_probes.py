"""Captions and file names as a way to ask the register who is pictured or on roll: limited per
person and audited.

People who may not see names (office, comms) could otherwise try name after name in a caption
(or as a file name) and learn from the answers who is in a photo or on roll. The answer itself
no longer tells: a word that could be anyone's name reads and judges the same as a pupil's (see
:func:`consent.rules.caption.neutral_reasons`). What that rule cannot tell from an ordinary
word is bounded here: every caption and file name such a person tries that could hold a name
(:func:`consent.rules.names.could_hold_a_name`) is a try, written to the audit log (as a hash,
never the words), and more than ``caption_tries_per_hour`` different tries by one person within
an hour are refused, whichever photos they were on. Changing a byte of the photo, or trying the
names as file names instead, does not reset the count (issue 27).
"""

from __future__ import annotations

import hashlib
import json
import time

from consent.rules.caption import file_name_words
from consent.rules.names import could_hold_a_name

from ..audit.audit_log import log_event
from .checked_photos import UploadRefused


def _key(kind: str, text: str) -> str:
    return kind + ":" + hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()[:16]


def tries(caption: str, file_name: str) -> set[str]:
    """The tries a check with this caption and file name makes (hashed): each that could hold a name."""
    out = set()
    if caption and could_hold_a_name(caption):
        out.add(_key("caption", caption))
    words = file_name_words(file_name or "")
    if words.strip() and could_hold_a_name(words):
        out.add(_key("file", words))
    return out


def guard(db, user, caption: str, file_name: str, settings) -> None:
    """Record the tries of this check by ``user``; raise :class:`UploadRefused` (429) when they
    would make more than ``caption_tries_per_hour`` different ones within the hour."""
    if user.sees_names:
        return
    new = tries((caption or "").strip(), file_name)
    if not new:
        return
    tried = set()
    for row in db.query(
        "select detail from web_audit where by_user = ? and action = 'caption.tried' and at > ?",
        [user.username, time.time() - 3600],
    ):
        detail = json.loads(row["detail"] or "{}")
        tried.update(detail.get("tries") or [])
    limit = settings.caption_tries_per_hour
    if len(tried | new) > limit:
        log_event(db, user.username, "caption.refused", None, {"tries": len(tried)})
        raise UploadRefused(
            429,
            f"You have checked photos with {len(tried)} different captions or file names that could "
            f"hold a name in the last hour; the most allowed is {limit}. Remove people's names from "
            "the caption and the file name, or wait an hour; a senior colleague can check it for you.",
            "caption_tries",
        )
    log_event(db, user.username, "caption.tried", None, {"tries": sorted(new)})
