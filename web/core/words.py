"""How the pages say things: one UK date format everywhere, and the audit log in plain English.

Dates read ``3 Mar 2026``; moments ``3 Mar 2026, 14:05`` (server local time). Audit actions
and changes are written for the admin reading them, not as the codes the register stores.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from consent.errors import RegisterError
from consent.register.records import as_date

#: consent states as people say them (the register's own words for the same states)
CONSENT_WORDS = {"granted": "yes", "refused": "refused", "withdrawn": "withdrawn", "expired": "expired",
                 "missing": "not asked"}

#: audit actions: register changes, then the web app's own events
ACTION_WORDS = {
    "person.add": "added a person",
    "person.update": "changed a person's details",
    "person.purge": "deleted a leaver's data",
    "register.purge": "removed leavers' data",
    "register.restore": "restored the register from a backup",
    "channel.add": "added a channel",
    "consent.set": "recorded consent",
    "consent.undo": "undid a consent change",
    "flag.never_publish": "marked never to be published",
    "flag.never_publish_cleared": "removed the never-publish mark",
    "template.add": "enrolled a face photo",
    "template.delete": "deleted face measurements",
    "register.reencode": "re-encoded kept face photos with the new face model",
    "import": "imported from the MIS",
    "identity.confirmed": "confirmed who a face in a photo is",
    "identity.rejected": "said a face in a photo is not who it looked like",
    "review.requested": "sent a photo for sign-off",
    "review.approved": "approved a photo",
    "review.rejected": "did not approve a photo",
    "review.returned": "sent a sign-off back to the queue (the register changed)",
    "publication.marked": "marked a photo as published",
    "publication.taken_down": "took a photo down",
    "download.safe": "downloaded a safe copy",
    "download.blurred": "downloaded a blurred copy",
    "blur.requested": "asked for a copy of a clip with faces blurred",
    "download.batch_zip": "downloaded a batch's safe copies",
    "batch.created": "started a batch",
    "account.created": "created an account",
    "account.safeguarding_lead_set": "marked an account as designated safeguarding lead",
    "account.safeguarding_lead_removed": "removed an account's designated safeguarding lead mark",
    "token.created": "made an API token",
    "token.revoked": "revoked an API token",
    "settings.changed": "changed settings",
}

#: field names as words; fields not worth a reader's time are left out
FIELD_WORDS = {
    "status": "consent", "until": "until", "left_on": "left on", "year_group": "year", "form": "form",
    "legal_forename": "forename", "legal_surname": "surname", "preferred_forename": "known as",
    "preferred_surname": "surname known as", "mis_id": "MIS id", "role": "role",
    "never_publish": "never publish", "reason": "reason", "label": "label", "name": "name",
    "people": "people", "consents": "consent records", "templates": "face templates", "photo": "photo",
    "user": "account", "roles": "roles", "photos": "photos", "title": "batch", "channels": "channels",
    "verdict": "check said", "why": "because", "link": "link", "publishing": "publishing it on", "job": "batch", "staff": "staff list", "consent_changes": "consent changes", "batch": "batch", "token": "token", "changes": "changes", "answer": "answer",
    "model": "face model", "unmatched": "photos ignored", "still_need_new_photo": "still needing a new photo",
}
QUIET = {"note", "source", "since", "photo_sha256", "template_id", "file", "quality", "sharpness",
         "id", "created_at", "updated_at", "display_name", "on_roll", "never_publish_since",
         "never_publish_reason", "job", "batch", "token", "sha256", "face", "person_id", "by", "at"}
#: counts and yes/no facts (an import's) said only when there is something to say
COUNTS = {"added", "updated", "unchanged", "rejected", "consent_changes", "staff", "unmatched", "people",
          "consents", "templates", "photos"}
DATE_FIELDS = {"until", "left_on", "since", "before", "recorded_on"}


def uk_date(value) -> str:
    """A date as staff read it: ``3 Mar 2026`` ("" for none; text that is not a date as it is).
    Read as the register reads dates (``consent.register.records.as_date``)."""
    try:
        d = as_date(value)
    except RegisterError:
        return str(value)
    return "" if d is None else f"{d.day} {d.strftime('%b %Y')}"


def uk_when(value) -> str:
    """A moment (Unix time, or an ISO date-time from the register) as ``3 Mar 2026, 14:05``."""
    if value in (None, "", 0):
        return ""
    if isinstance(value, (int, float)):
        t = time.localtime(value)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone()
        t = moment.timetuple()
    return f"{t.tm_mday} {time.strftime('%b %Y, %H:%M', t)}"


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action, action.replace(".", ": ").replace("_", " "))


def _value(key: str, value) -> str:
    if isinstance(value, bool) or value in (0, 1) and key == "never_publish":
        return "yes" if value else "no"
    if key == "status":
        return CONSENT_WORDS.get(value, str(value))
    if key in DATE_FIELDS:
        return uk_date(value)
    if value is None or value == "":
        return "none"
    return str(value)


def describe_change(before, after) -> str:
    """A change in words, changed fields only: ``website: consent not asked → yes; until 31 Jul 2027``."""
    before = before if isinstance(before, dict) else {}
    if not isinstance(after, dict):
        return "" if after is None else str(after)[:200]
    head = str(after["channel"]).replace("_", " ") + ": " if after.get("channel") else ""
    parts = []
    for key, new in after.items():
        if key == "channel" or key in QUIET or new in (None, "") or before.get(key) == new:
            continue
        if key in COUNTS and not new:  # "rejected 0; staff list no" says nothing
            continue
        label = FIELD_WORDS.get(key, key.replace("_", " "))
        old = before.get(key, "missing" if key == "status" else None)
        if old in (None, ""):
            parts.append(f"{label} {_value(key, new)}")
        else:
            parts.append(f"{label} {_value(key, old)} → {_value(key, new)}")
    if after.get("note"):
        parts.append(f"note: {after['note']}")
    return (head + "; ".join(parts))[:300]


def describe_event(detail: dict) -> str:
    """A web audit event's details in words: ``photo obama1.jpg; note “for the newsletter”``."""
    parts = []
    for key, value in (detail or {}).items():
        if value in (None, "", []) or key in ("job", "token", "batch", "publication"):
            continue
        if isinstance(value, (list, tuple)):
            value = ("; " if key == "why" else ", ").join(str(v).replace("_", " ") for v in value)
        if key == "photos" and isinstance(value, int):
            parts.append(f"{value} photo{'' if value == 1 else 's'}")
        elif key == "note":
            parts.append(f"note “{value}”")
        elif key == "verdict":
            from consent.results import state_words

            parts.append(f"check said {state_words(value)}")
        else:
            parts.append(f"{FIELD_WORDS.get(key, key.replace('_', ' '))} {value}")
    return "; ".join(parts)


#: how the library tells the admin running the command line which setting lifts a limit
SETTING_HINT = re.compile(r"\s*\(or raise (\w+) in settings\)")


def for_reader(message: str, user=None) -> str:
    """``message`` with "(or raise max_decode_mb in settings)" said for its reader: an admin is
    told the setting by its title on the Settings page, anyone else to ask their admin (they
    cannot open that page). ``user`` defaults to whoever is signed in."""
    if not message or "in settings)" not in message:
        return message
    from consent.settings import about, limits

    if user is None:
        from flask import g, has_request_context

        user = g.get("user") if has_request_context() else None
    admin = user is not None and user.has("admin")

    def said(match: re.Match) -> str:
        name = match.group(1)
        if name not in limits():
            return match.group(0)
        title = about(name).title
        if not admin:
            return f" (or ask your admin to raise “{title}” in the settings)"
        return f" (or raise “{title}” under Settings, Expert)" if about(name).expert else f" (or raise “{title}” in Settings)"

    return SETTING_HINT.sub(said, message)


def _channels(value) -> str:
    """``"website, social_media"`` or a list -> "website and social media"."""
    from consent.results import join_words

    names = value.split(",") if isinstance(value, str) else list(value or [])
    return join_words([str(n).strip().replace("_", " ") for n in names if str(n).strip()])


def _note(detail: dict) -> str:
    return f" Note: “{detail['note']}”." if detail.get("note") else ""


def _photos(n) -> str:
    return f"{n} photo{'' if n == 1 else 's'}"


def _said(verdict) -> str:
    from consent.results import state_words

    return f" (the check said {state_words(verdict)})" if verdict else ""


def event_sentence(action: str, detail: dict | None) -> str:
    """A web audit event as one or two sentences, for the admin reading the log: ``Approved
    trip.jpg for website and newsletter (the check said needs sign-off).`` Its user is the
    log's "Who" column; fingerprints of photos and captions are named as such, never as codes."""
    d = detail or {}
    photo = d.get("photo") or "a photo"
    channel = str(d.get("channel") or "").replace("_", " ")
    if action == "review.approved":
        only = f" for {_channels(d['channels'])}" if d.get("channels") else ""
        return f"Approved {photo}{only}{_said(d.get('verdict'))}.{_note(d)}"
    if action == "review.rejected":
        return f"Did not approve {photo}{_said(d.get('verdict'))}.{_note(d)}"
    if action == "review.requested":
        return f"Sent {photo} for sign-off.{_note(d)}"
    if action == "review.returned":
        why = d.get("why")
        why = "; ".join(str(w).replace("_", " ") for w in why) if isinstance(why, (list, tuple)) else why
        return f"Sent the sign-off of {photo} back to the queue" + (f": {why}." if why else ": the register changed.")
    if action == "publication.marked":
        link = f" at {d['link']}" if d.get("link") else ""
        return f"Recorded {photo} as published on {channel}{link}."
    if action == "publication.taken_down":
        return f"Marked {photo} as taken down from {channel}."
    if action in ("download.safe", "download.blurred"):
        kind = "safe copy" if action == "download.safe" else "copy with faces blurred"
        text = f"Downloaded the {kind} of {photo}"
        if d.get("publishing"):
            return text + f" to publish on {str(d['publishing']).replace('_', ' ')}."
        return text + (f" (cleared for {_channels(d['channels'])})." if d.get("channels") else ".")
    if action == "download.batch_zip":
        blurred = d.get("blurred copies") or 0
        return (f"Downloaded the safe copies of a batch: {_photos(d.get('photos', 0))}"
                + (f", {blurred} of them with faces blurred." if blurred else ", none blurred."))
    if action == "batch.created":
        title = f"“{d['title']}” " if d.get("title") else ""
        blur = ("with copies with faces blurred where that clears them" if d.get("blurred copies")
                else "without blurred copies")
        return f"Started the batch {title}of {_photos(d.get('photos', 0))}, {blur}."
    if action == "caption.tried":
        return (f"Tried a caption on a photo, as someone who may not see names (their tries are limited); "
                f"photo fingerprint {str(d.get('photo', ''))[:8]}.")
    if action == "caption.refused":
        return (f"Was stopped trying another caption on a photo: {d.get('tries', 'too many')} different "
                f"captions in the last hour; photo fingerprint {str(d.get('photo', ''))[:8]}.")
    if action == "settings.changed":
        weak = f" This weakens: {d['weakens']}." if d.get("weakens") else ""
        return f"Changed settings: {d.get('changes', '')}.{weak}"
    account = d.get("user")
    if action == "account.created":
        roles = _channels(d.get("roles", ""))
        return f"Created the account {account}" + (f" ({roles})." if roles else ".")
    if action == "account.roles":
        return f"Set the roles of {account} to {_channels(d.get('roles', '')) or 'none'}."
    if action in ("account.on", "account.off"):
        return f"Turned the account {account} {'back on' if action == 'account.on' else 'off'}."
    if action == "account.password":
        return f"Set a new password for {account}; their sessions were signed out."
    if action == "account.password_changed":
        return "Changed their own password."
    if action == "account.safeguarding_lead_set":
        return f"Marked {account} as designated safeguarding lead."
    if action == "account.safeguarding_lead_removed":
        return f"Removed {account}'s designated safeguarding lead mark."
    if action == "token.created":
        label = f" “{d['label']}”" if d.get("label") else ""
        return f"Made an API token{label}."
    if action == "token.revoked":
        return "Revoked an API token."
    words = action_words(action)
    rest = describe_event(d)
    return words[:1].upper() + words[1:] + (f": {rest}." if rest else ".")
