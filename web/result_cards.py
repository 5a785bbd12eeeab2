"""Turn a stored check into what a page shows, filtered by who is looking.

Names of people in a photo are shown only to roles in ``accounts.NAME_ROLES`` (admin, senior);
everyone else sees the colour-coded state of each face. Admin-only detail (why someone must
never be published) is shown to admins only.
"""

from __future__ import annotations

from consent.results import VERDICT_WORDS, channel_label

from . import checked_photos

STATE_WORDS = {
    "cleared": "cleared",
    "no_consent": "no consent (for at least one channel checked)",
    "review": "not recognised: check who this is",
}

VERDICT_HEADLINES = {
    "ok": "OK to publish",
    "review": "Needs a senior's sign-off",
    "block": "Do not publish",
    "error": "Could not be checked",
}


def verdict_words(verdict: str) -> str:
    return VERDICT_WORDS.get(verdict, verdict)


def card(row: dict, user) -> dict:
    """Everything a result card shows for ``row``, as ``user`` may see it."""
    data = row["data"] or {}
    faces = []
    for f in data.get("faces", []):
        state = f.get("state", "review")
        face = {"number": f["index"] + 1, "state": state, "words": STATE_WORDS[state]}
        if f.get("match") == "matched" and user.sees_names and f.get("person_name"):
            face["name"] = f["person_name"]
        elif f.get("match") == "not_identifiable" and f.get("why_not"):
            face["why"] = f["why_not"]
        faces.append(face)
    reasons = []
    for r in data.get("reasons", []):
        reasons.append({
            "message": r["message"],
            "severity": r["severity"],
            "suggestion": r.get("suggestion"),
            "detail": r.get("admin_detail") if user.is_admin else None,
            "channels": ", ".join(channel_label(c) for c in r.get("channels", [])),
        })
    channels = [
        {"label": channel_label(c), "verdict": v["verdict"], "words": verdict_words(v["verdict"])}
        for c, v in data.get("channels", {}).items()
    ]
    safe = checked_photos.available(row, "safe")
    blurred = checked_photos.available(row, "blurred")
    return {
        "id": row["id"],
        "name": row["name"],
        "verdict": row["verdict"],
        "headline": VERDICT_HEADLINES.get(row["verdict"], row["verdict"]),
        "summary": row["summary"],
        "channels": channels,
        "faces": faces,
        "pupils": data.get("pupil_count", 0),
        "reasons": reasons,
        "notes": data.get("notes", []),
        "metadata_found": data.get("metadata_found", []),
        "has_preview": bool(row.get("preview_path")),
        "safe": bool(safe),
        "safe_for": ", ".join(channel_label(c) for c in checked_photos.cleared_channels(row)),
        "blurred": bool(blurred),
        "blurred_for": ", ".join(channel_label(c) for c in checked_photos.blurred_channels(row)),
        "expired": row.get("safe_path") is None and row["state"] == "done",
        "review_state": row.get("review_state"),
        "review_note": row.get("review_note"),
        "reviewable": checked_photos.reviewable(row) and not row.get("review_state"),
        "caption": row.get("caption") or "",
    }
