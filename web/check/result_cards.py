"""Turn a stored check into what a page shows, filtered by who is looking.

Names of people in a photo are shown only to roles in ``accounts.NAME_ROLES`` (admin, senior);
everyone else sees the colour-coded state of each face. Admin-only detail (why someone must
never be published) is shown to admins only.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent.reports import removed_words
from consent.results import FACE_STATE_WORDS, SIGN_OFF_WORDS, channel_label, state_words
from consent.rules.caption import NAME_CODES

from . import checked_photos


VERDICT_HEADLINES = {
    "ok": "OK to publish",
    "review": "Needs a senior's sign-off",
    "block": "Do not publish",
    "error": "Could not be checked",
}

#: who decides, by the reason that blocks a photo (the first that applies is shown)
WHO_DECIDES = {
    "never_publish": (
        "Someone in this photo must never be published, whatever consent says. Blurring does "
        "not change that: only the designated safeguarding lead can release it, with a reason.",
        "Send to the safeguarding lead",
    ),
    "no_consent": (
        "Consent is missing for someone in this photo. If a parent has given consent since, "
        "ask the admin to record it in the register and check the photo again; a senior "
        "colleague can look at it meanwhile.",
        "Send to a senior for sign-off",
    ),
}


#: a face that looks like someone in the register, as each viewer reads it (its state is
#: ``review``: amber until a senior confirms who it is)
LOOKS_LIKE_WORDS = "looks like {name}: check who this is"
LOOKS_LIKE_NEUTRAL = "looks like a pupil in the register: a senior colleague must confirm who it is"
#: a face a senior answered, beside its state (names roles only)
ANSWER_WORDS = {"yes": "a senior confirmed who this is", "no": "a senior said it is not who it looked like"}


#: a verdict or sign-off state as the pages say it (``review`` -> "needs sign-off"): the
#: library's words, the same as the command line's and the reports'
verdict_words = state_words


def _labels(channels: list[str]) -> str:
    from consent.results import join_words

    return join_words([channel_label(c) for c in channels])


@dataclass(frozen=True)
class Status:
    """What every page and list says about one checked photo: its colour ``state`` (ok, review,
    block, pending, error), the page's ``headline``, and the short ``badge`` words a list shows
    (the card shows the same badge beside its headline)."""

    state: str
    headline: str
    badge: str


#: a sign-off whose basis changed (a withdrawal since the approval): back in the senior's queue
#: the badge of a photo only the designated safeguarding lead may decide
LEAD_PENDING = "waiting for the designated safeguarding lead"
NO_LONGER_STANDS = Status("block", "This approval no longer stands: do not publish (waiting for sign-off again)",
                          "approval no longer stands")


def status(row: dict, user) -> Status:
    """The one reading of a checked photo (``row`` from ``checked_photos.get``: judged again
    against today's register, with its sign-off state) as ``user`` may see it. The recent
    checks, the photo's page, the sign-off queue and "Sent for sign-off" all use it, so they
    cannot disagree, nor say more than the viewer may know (a caption naming a pupil reads the
    same for everyone who may not see names)."""
    return _status(_seen_row(row, viewer_data(row, user)))


def _seen_row(row: dict, data: dict) -> dict:
    return {**row, "data": data, "verdict": data.get("verdict", row["verdict"]),
            "summary": data.get("summary", row["summary"])}


def _status(row: dict) -> Status:
    verdicts = checked_photos.channel_verdicts(row)
    review_state = row.get("review_state")
    if row["verdict"] == "error" or not verdicts:
        return Status("error", VERDICT_HEADLINES["error"], verdict_words("error"))
    if review_state == "pending":
        if checked_photos.needs_safeguarding_lead(row):
            return Status("pending", "Waiting for the designated safeguarding lead: do not publish it yet",
                          LEAD_PENDING)
        if row.get("review_basis") and row.get("changes"):
            return NO_LONGER_STANDS
        again = " again" if row.get("review_basis") else ""
        return Status("pending", f"Waiting for a senior's sign-off{again}: do not publish it yet",
                      SIGN_OFF_WORDS["pending"])
    if review_state == "rejected":
        return Status("block", "Not approved: do not publish", SIGN_OFF_WORDS["rejected"])
    cleared = checked_photos.cleared_channels(row)
    if review_state == "approved":
        rest = [c for c in verdicts if c not in cleared]
        if not cleared:
            return Status("block", "Signed off, but not for any channel checked: do not publish",
                          verdict_words("block"))
        if not rest:
            return Status("ok", "Signed off: OK to publish", SIGN_OFF_WORDS["approved"])
        return Status("ok", f"Signed off: OK for {_labels(cleared)}; not for {_labels(rest)}",
                      SIGN_OFF_WORDS["approved"])
    distinct = set(verdicts.values())
    if len(distinct) == 1:
        verdict = distinct.pop()
        return Status(verdict, VERDICT_HEADLINES[verdict], verdict_words(verdict))
    parts = []
    for verdict, words in (("ok", "OK for {}"), ("review", "OK for {} after sign-off"), ("block", "not for {}")):
        chans = [c for c, v in verdicts.items() if v == verdict]
        if chans:
            parts.append(words.format(_labels(chans)))
    text = "; ".join(parts)
    worst = "block" if "block" in distinct else "review"
    return Status(worst, text[:1].upper() + text[1:], verdict_words(worst))


def headline(row: dict) -> tuple[str, str]:
    """(state, headline) of a row as it is (no viewer filtering): see :func:`status`."""
    found = _status(row)
    return found.state, found.headline


def listing(row: dict, user) -> dict:
    """One line of a list of checked photos (recent checks, "Sent for sign-off", recent
    decisions): the photo and its :func:`status` as ``user`` may see it."""
    found = status(row, user)
    return {"id": row["id"], "name": row["name"], "created_at": row.get("created_at"),
            "review_state": row.get("review_state"), "review_note": row.get("review_note"),
            "state": found.state, "badge": found.badge, "headline": found.headline}


def face_words(face: dict, channels: list[str]) -> str | None:
    """A recognised face's legend for someone who may see names, from the consent held for the
    channels checked: "consent held", "no consent for newsletter (withdrawn)", "must never be
    published, whatever consent says". None when the face carries no consent detail."""
    consent = face.get("consent")
    if face.get("match") != "matched" or not isinstance(consent, dict):
        return None
    if face.get("never_publish"):
        return "must never be published, whatever consent says"
    from ..core.words import CONSENT_WORDS

    held = [c for c in channels if consent.get(c) == "granted"]
    missing = [c for c in channels if consent.get(c) != "granted"]
    if not missing:
        return "consent held"
    why = "; ".join(f"not for {channel_label(c)} ({CONSENT_WORDS.get(consent.get(c, 'missing'), 'not asked')})"
                    for c in missing)
    return f"consent held for {_labels(held)}; {why}" if held else f"no consent: {why}"


def next_step(row: dict) -> dict | None:
    """What the sender can do with a photo that is not ok: who decides, and the hand-off."""
    if not checked_photos.reviewable(row):
        return None
    codes = [r.get("code") for r in (row["data"] or {}).get("reasons", []) if r.get("severity") == "block"]
    for code, (text, button) in WHO_DECIDES.items():
        if code in codes:
            return {"text": text, "button": button}
    if "block" in checked_photos.channel_verdicts(row).values():
        return {"text": "Do not publish it unless a senior colleague approves it.",
                "button": "Send to a senior for sign-off"}
    return {"text": "A senior colleague decides whether it can be published.",
            "button": "Send to a senior for sign-off"}


def publish_choices(row: dict, safe: bool, blurred: bool) -> list[tuple[str, str]]:
    """The channels a copy can be downloaded for publishing on, as ``("safe:website",
    "website")``: the safe copy's, then the blurred copy's where the safe copy is not cleared."""
    cleared = checked_photos.cleared_channels(row) if safe else []
    out = [(f"safe:{c}", channel_label(c)) for c in cleared]
    if blurred:
        out += [(f"blurred:{c}", f"{channel_label(c)} (faces blurred)")
                for c in checked_photos.blurred_channels(row) if c not in cleared]
    return out


def viewer_data(row: dict, user) -> dict:
    """The stored result JSON as ``user`` may see it (see :func:`consent.check.for_viewer`)."""
    data = row["data"] or {}
    if user.sees_names or not any(r.get("code") in NAME_CODES for r in data.get("reasons") or []):
        return data
    from consent.check import for_viewer
    from consent.results import PhotoCheck

    full = PhotoCheck.from_json(data)
    seen = for_viewer(full, names=False)
    if seen is full:
        return data
    return {**data, "reasons": [r.to_json() for r in seen.reasons],
            "channels": {c: v.to_json() for c, v in seen.verdicts.items()},
            "verdict": seen.verdict, "summary": seen.summary()}


def card(row: dict, user) -> dict:
    """Everything a result card shows for ``row``, as ``user`` may see it."""
    data = viewer_data(row, user)
    faces = []
    for f in data.get("faces", []):
        state = f.get("state", "review")
        face = {"number": f["index"] + 1, "state": state, "words": FACE_STATE_WORDS[state]}
        if f.get("match") == "matched" and user.sees_names and f.get("person_name"):
            face["name"] = f["person_name"]
            face["words"] = face_words(f, list(data.get("channels") or {})) or face["words"]
        elif f.get("match") in ("not_identifiable", "unchecked") and f.get("why_not"):
            face["why"] = f["why_not"]
        elif f.get("match") == "looks_like":
            if user.sees_names and f.get("suggested_name"):
                face["words"] = LOOKS_LIKE_WORDS.format(name=f["suggested_name"])
                # one click per face: "Yes, this is <name>" / "No, not them"
                face["confirm"] = f["suggested_name"]
            else:
                face["words"] = LOOKS_LIKE_NEUTRAL
        if user.sees_names and f.get("answer") in ANSWER_WORDS:
            face["answer"] = ANSWER_WORDS[f["answer"]]
        faces.append(face)
    reasons, removed = [], None
    for r in data.get("reasons", []):
        if r.get("code") == "location_metadata":  # said once, in plain words; the list behind a toggle
            said = removed_words(data.get("metadata_found", []))
            removed = {"said": said[:1].upper() + said[1:] + " from the safe copy", "listed": r["message"]}
            continue
        reasons.append({
            "message": r["message"],
            "severity": r["severity"],
            "suggestion": r.get("suggestion"),
            "detail": r.get("admin_detail") if user.is_admin else None,
            "names": r.get("name_detail") if user.sees_names else None,
            # "(press)" only when the sentence does not say so already
            "channels": ", ".join(channel_label(c) for c in r.get("channels", [])
                                  if channel_label(c) not in r["message"]),
        })
    released = set(checked_photos.approved_channels(row))
    channels = [
        {"label": channel_label(c), "verdict": "ok" if c in released else v["verdict"],
         "words": SIGN_OFF_WORDS["approved"] if c in released and v["verdict"] != "ok" else verdict_words(v["verdict"])}
        for c, v in data.get("channels", {}).items()
    ]
    # as this viewer may see it (the same reading every list uses)
    seen_row = _seen_row(row, data)
    found = _status(seen_row)
    changes = [{"text": text} for text in checked_photos.change_sentences(row)]
    if user.is_admin:
        details = [c.admin_detail for c in row.get("changes", []) if c.admin_detail]
        if details and changes:
            changes[0]["detail"] = "; ".join(dict.fromkeys(details))
    safe = checked_photos.available(row, "safe")
    blurred = checked_photos.available(row, "blurred")
    return {
        "id": row["id"],
        "name": row["name"],
        "verdict": seen_row["verdict"],
        "state": found.state,
        "headline": found.headline,
        "badge": found.badge,
        "summary": seen_row["summary"],
        "channels": channels,
        "faces": faces,
        "pupils": data.get("pupil_count", 0),
        "reasons": reasons,
        "notes": data.get("notes", []),
        "metadata_found": data.get("metadata_found", []),
        "removed": removed,
        "has_preview": bool(row.get("preview_path")),
        "safe": bool(safe),
        "safe_for": ", ".join(channel_label(c) for c in checked_photos.cleared_channels(row)),
        #: "I am publishing this on <channel>" at download: (value, words), safe copy first
        "publish_choices": publish_choices(row, bool(safe), bool(blurred)),
        "blurred": bool(blurred),
        "blurred_for": ", ".join(channel_label(c) for c in checked_photos.blurred_channels(row)),
        "expired": row.get("safe_path") is None and row["state"] == "done",
        "review_state": row.get("review_state"),
        #: who a pending sign-off waits for, as the badge says it
        #: the heading of ``changes``: since the check, or since a senior approved it
        "changes_heading": ("The register changed since it was approved" if row.get("review_basis")
                            else "Changed since it was checked"),
        "review_note": row.get("review_note"),
        "request_note": row.get("review_request_note"),
        "reviewable": checked_photos.reviewable(row),
        "next_step": next_step(row),
        "never_publish": checked_photos.never_publish_pictured(row),
        "named_beside": checked_photos.names_a_pupil_beside_the_photo(row),
        # blurring faces does not change what people are wearing (consent.rules.FACE_BLUR)
        "clothing": any(r.get("code") in ("pe_kit", "exposure") for r in data.get("reasons", [])),
        # what this viewer may release by signing it off, and what cures the rest (consent.signoff)
        "releasable": checked_photos.releasable(row, user),
        "job_id": row.get("job_id"),
        "caption": row.get("caption") or "",
        #: why today's verdict is worse than when it was checked or signed off (shown first)
        "changes": changes,
        #: a clip (``consent.video``): how long, whether it has sound, frames looked at; else None
        "video": video_facts(data.get("video")),
        #: a clip's blurred copy: the button, how far it has got, what came of it (else None)
        "clip_blur": clip_blur_card(row, user) if data.get("video") is not None else None,
    }


def clip_blur_card(row: dict, user) -> dict:
    """What a clip's card says about its blurred copy (``consent.jobs.clip_blur``): ``offer``
    (the button) and the channels it could be OK for; while it is made, ``running`` with the
    progress line and percent; once made, each channel's verdict on the copy (by rule, judged
    today); when it failed or was stopped, the sentence saying so."""
    from consent.results import PhotoCheck, join_words

    asked = row.get("clip_blur") or {}
    state = "stopped" if asked.get("stopped") else asked.get("state")
    could = checked_photos.blur_would_clear(row) if not row.get("blurred_path") else []
    blurred = (row.get("data") or {}).get("blurred") or {}
    verdicts = []
    if row.get("blurred_path"):
        for c, v in blurred.get("channels", {}).items():
            verdict = v["verdict"] if not checked_photos.never_publish_pictured(row) else "block"
            verdicts.append({"label": channel_label(c), "verdict": verdict, "words": verdict_words(verdict),
                             "why": v.get("detail") if user.sees_names and verdict != "ok" else None})
    return {
        "offer": checked_photos.may_make_blurred_clip(row),
        "could_be_for": join_words([channel_label(c) for c in could]),
        "state": state,
        "running": state in ("queued", "running"),
        "failed": state in ("error", "stopped"),
        "words": asked.get("words", ""),
        "percent": asked.get("percent", 0),
        "made": bool(row.get("blurred_path")),
        #: something to blur, but a blurred copy would clear no channel (the sound, say): not offered
        "no_help": (not could and not asked and not row.get("blurred_path")
                    and checked_photos.something_to_blur(PhotoCheck.from_json(row["data"]))),
        "verdicts": verdicts,
    }


def video_facts(video: dict | None) -> dict | None:
    """What a result card says about a clip: its length as people read it ("0:42"), whether it
    has sound (and whether the safe copy dropped it), and how many frames were looked at."""
    if video is None:
        return None
    from consent.video import clock

    return {"length": clock(float(video.get("duration") or 0)), "sound": bool(video.get("audio", True)),
            "sound_dropped": bool(video.get("sound_dropped")), "frames": int(video.get("sampled_frames") or 0)}
