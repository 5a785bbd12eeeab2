"""Checked photos as the web app keeps them: a ``web_checks`` row and a private folder each.

``check_upload`` takes one uploaded file, refuses anything that is not a photo (nothing is
kept), checks it through the library, writes an annotated preview and the publication-safe
copies, deletes the original (unless ``upload_retention_days`` > 0) and records the result.
Where the files are, the row of a finished check, and the sweep of expired files are the
engine's (:mod:`consent.jobs.photos`), shared with the batch jobs; the names are imported here.

Folder layout under ``<data>/web/checks/<id>/``: ``original/`` (the upload, short-lived),
``safe/`` (the metadata-free copy), ``blurred/`` (unconsented faces obscured), ``preview.jpg``.

A row keeps the check as a :class:`consent.rejudge.StoredCheck` (the analysis with person ids,
the caption, the verdicts then): no names, no never-publish reasons. :func:`get` judges it
again against the register as it is today, so a page or a download always reflects today's
consent; when a verdict got worse it lists why (``row["changes"]``), and a sign-off whose basis
changed goes back to the senior's queue.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import sqlite_utils
from werkzeug.utils import secure_filename

from consent import images
from consent.errors import ConsentError, ImageTooLarge, VideoTooLarge
from consent.rejudge import Change, StoredCheck, covered, uncovered, what_changed
from consent.jobs import check_thread, clip_blur
from consent.results import VERDICT_WORDS, PhotoCheck, channel_label
from consent.rules.caption import NAME_CODES
from consent.video import is_video
from consent.video.frames import probe
from consent.jobs.photos import (  # noqa: F401 (the web app's names for them)
    FINISHED, ORPHAN_UPLOAD_AGE, SWEEP_EVERY, Place, UploadRefused, face_states, new_id, plain, read,
    remove_leftovers, result_record, something_to_blur, sweep, usable_blurred)


def display_name(filename: str | None) -> str:
    """The name users know a file by: its last path part, trimmed to something sensible."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:120] or "photo"


def disk_name(filename: str) -> str:
    """A safe file name for the disk, keeping the ending (content decides the type later)."""
    name = secure_filename(display_name(filename)) or "photo"
    return name[-100:]


def check_upload(
    db: sqlite_utils.Database,
    place: Place,
    user_id: int,
    stream_save,
    filename: str,
    channels: list[str] | None,
    caption: str = "",
    *,
    blurred: bool = True,
    before_check=None,
    groups: list[str] | None = None,
) -> str:
    """Store, check and record one upload; returns the new check id.

    ``before_check(path)``, when given, sees the stored upload first and may refuse it.
    ``groups``: the year groups or classes who can be in the photo (see ``Checker.check``).

    ``stream_save(path)`` writes the uploaded bytes to ``path`` (a werkzeug ``FileStorage.save``).
    Raises :class:`UploadRefused` (415 not a photo, 413 too many pixels, 422 cannot be checked,
    400 unknown channel); nothing is kept then.
    """
    check_id = new_id()
    folder = place.check_dir(check_id)
    original = folder / "original" / disk_name(filename)
    original.parent.mkdir(parents=True, exist_ok=True)
    try:
        stream_save(str(original))
        if before_check is not None:
            before_check(original)
        check_file(db, place, check_id, user_id, original, display_name(filename), channels, caption,
                   blurred=blurred, groups=groups)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        original.parent.rmdir()  # empty once the original is deleted
    except OSError:
        pass
    return check_id


def check_file(
    db: sqlite_utils.Database, place: Place, check_id: str, user_id: int, original: Path, label: str,
    channels: list[str] | None, caption: str = "", *, blurred: bool = True, folder_context: str = "",
    extra: dict | None = None, groups: list[str] | None = None,
) -> str:
    """Check a stored ``original`` and record it as ``check_id``; returns ``check_id``.

    ``label`` is how pages name the photo (a batch item's path inside its folder or zip);
    ``folder_context`` the event folder it came from (its words count, e.g. "sports day");
    ``extra`` more columns for the record (a batch item's job and position); ``groups`` the
    year groups or classes faces are compared with (with staff; default everybody). The original is
    deleted afterwards unless ``upload_retention_days`` > 0. Raises :class:`UploadRefused`.
    """
    settings = place.settings
    name = display_name(label)
    video = is_video(original)
    try:
        if video:  # refused from its header: empty, damaged, sound only, too long, frames too large
            probe(original, settings)
        else:
            images.open_image(original, settings).close()
    except (ImageTooLarge, VideoTooLarge) as exc:
        raise UploadRefused(413, plain(str(exc), original, label), exc.code) from None
    except ConsentError as exc:
        raise UploadRefused(422 if video else 415, plain(str(exc), original, label), exc.code) from None
    if video:  # the blurred copy of a clip takes minutes: made in the background when asked (clip_blur)
        (result, stored), (blurred_result, blurred_stored) = _run_video(
            place, check_id, original, name, channels, caption, folder_context, groups), (None, None)
    else:
        (result, stored), (blurred_result, blurred_stored) = _run(
            place, check_id, original, name, channels, caption, folder_context, blurred, groups)
    if result.error:
        status = 400 if result.error_code in ("unknown_channel", "unknown_group") else 422
        raise UploadRefused(status, plain(result.error, original, label), result.error_code or "error")
    record = result_record(place, check_id, user_id, original, label, caption, result, stored,
                           blurred_result, blurred_stored)
    record.update(extra or {})
    keep = settings.upload_retention_days > 0
    record["upload_path"] = str(original) if keep else None
    db["web_checks"].upsert(record, pk="id", alter=True)
    if not keep:
        original.unlink(missing_ok=True)  # only once the result is stored
    return check_id


def _run_video(place: Place, check_id: str, original: Path, name, channels, caption, folder_context: str,
               groups: list[str] | None = None):
    """The video check of a clip (``consent.video``) with its safe copy (a remux without
    metadata): ``(result, stored)``."""
    return check_thread.run_stored_video(
        place.db_path, place.settings, original, channels=channels or None, caption=caption, display_name=name,
        folder=folder_context, groups=groups or None, safe_dir=place.check_dir(check_id) / "safe")


def _run(place: Place, check_id: str, original: Path, name, channels, caption, folder_context: str,
         blurred: bool, groups: list[str] | None = None):
    """The library check (safe copy included) and, when some face is not cleared or a pupil's
    name is written in the picture, the blurred copy: ``((result, stored), (blurred result, blurred stored))``, the blurred pair ``None``s."""
    folder = place.check_dir(check_id)
    kwargs = dict(channels=channels or None, caption=caption, display_name=name, folder=folder_context,
                  groups=groups or None)
    result, stored = check_thread.run_stored_check(
        place.db_path, place.settings, original, safe_dir=folder / "safe", **kwargs)
    blurred_pair = (None, None)
    if blurred and something_to_blur(result):
        blurred_pair = usable_blurred(check_thread.run_stored_check(
            place.db_path, place.settings, original, safe_dir=folder / "blurred",
            blur_unconsented=True, **kwargs,
        ))
    return (result, stored), blurred_pair


# --- reading records ----------------------------------------------------------------------


def get(db: sqlite_utils.Database, check_id: str, *, judge: bool = True) -> dict | None:
    """The row of a check, judged again against today's register (unless ``judge`` is False).

    ``row["data"]`` is the check's JSON as of today (names included: pages filter them by
    role), ``row["verdict"]``/``row["summary"]`` today's, and ``row["changes"]`` the
    :class:`~consent.rejudge.Change` of each channel worse than when it was checked (or signed
    off). An approved sign-off with changes goes back to the senior's queue here.
    """
    row = read(db, check_id)
    if row is None:
        return None
    if judge and row.get("stored"):
        _judge_again(db, row)
    if (row.get("data") or {}).get("video") is not None:  # a clip: its blurred copy, if asked for
        row["clip_blur"] = clip_blur.status(db, check_id, _settings())
    return row


def _settings():
    from flask import current_app, has_app_context

    return current_app.config["CONSENT_SETTINGS"] if has_app_context() else None


def blur_would_clear(row: dict) -> list[str]:
    """The channels a blurred copy of ``row``'s clip could be OK for that the clip is not, by
    the photos' rule (:func:`consent.blurring.blurred_check`: the faces not cleared blurred,
    their reasons cured, everything else kept, the sound and what the tool could not look at
    too), before it is made; [] when a blurred copy would clear nothing (nothing to blur,
    someone never to be published, a pupil named beside the clip, the sound to listen to)."""
    from consent import blurring
    from consent.video.check import blurred_by_rule

    data = row.get("data") or {}
    if row.get("state") != "done" or data.get("video") is None or never_publish_pictured(row):
        return []
    result = PhotoCheck.from_json(data)
    if not something_to_blur(result):
        return []
    faces, _ = blurring.to_blur(result)  # names written in the picture are not blurred in clips
    hoped = blurred_by_rule(result, PhotoCheck(path="", name=result.name), faces).verdicts
    return [c for c, v in hoped.items() if v.verdict == "ok" and c in result.verdicts
            and result.verdicts[c].verdict != "ok"]


def may_make_blurred_clip(row: dict) -> bool:
    """The "Make a blurred copy" button: a clip whose blurred copy would clear a channel, its
    copies not expired, no blurred copy yet, and none being made."""
    asked = row.get("clip_blur")
    busy = asked is not None and asked["state"] in (clip_blur.QUEUED, clip_blur.RUNNING, clip_blur.DONE) \
        and not asked["stopped"]
    return (not busy and not row.get("blurred_path") and bool(row.get("safe_path"))
            and not (row.get("expires_at") and row["expires_at"] < time.time()) and bool(blur_would_clear(row)))


def _judge_again(db: sqlite_utils.Database, row: dict) -> None:
    stored = json.loads(row["stored"])
    check = StoredCheck.from_json(stored["check"])
    view, settings = _today(db)
    result = check.judge(view, settings)
    data = result.to_json(names=True, admin=True)
    states = face_states(result)
    for face in data["faces"]:
        face["state"] = states[face["index"]]
    if stored.get("blurred"):
        copy = StoredCheck.from_json(stored["blurred"])
        if copy.blurred_from is not None:  # judged by rule: consent.blurring
            blurred = copy.judge(view, settings)
            data["blurred"] = {"verdict": blurred.verdict,
                               "channels": {c: v.to_json() for c, v in blurred.verdicts.items()}}
        else:  # kept before the rule: its pixels alone cannot say what blurring cured
            data["blurred"] = {"verdict": "review", "channels": {}}
    row.update(data=data, verdict=result.verdict, summary=result.summary())
    basis = json.loads(row["review_basis"]) if row.get("review_basis") else {
        "verdicts": check.verdicts, "codes": check.codes}
    changes = {c.channel: c for c in what_changed(basis["verdicts"], result, view, check.person_ids,
                                                  basis.get("codes"))}
    if basis.get("covered") is not None:
        # an approval clears only the reasons it covered, on the channels it released
        for c in uncovered(basis["covered"], result, view, basis["verdicts"]):
            if c.channel in changes:  # both say why: keep each sentence once
                had = changes[c.channel]
                c.because = "; ".join(dict.fromkeys(had.because.split("; ") + c.because.split("; ")))
                c.admin_detail = "; ".join(dict.fromkeys(d for d in (had.admin_detail, c.admin_detail) if d)) or None
            changes[c.channel] = c
    row["changes"] = list(changes.values())
    if row["changes"] and row.get("review_state") == "approved":
        _back_to_queue(db, row)


def basis_now(row: dict, channels: list[str] | None = None) -> dict:
    """What a sign-off given now rests on: each channel's verdict and reason codes today, and
    what the approval of ``channels`` covers: each reason's code and the face and person it is
    about (:func:`consent.rejudge.covered`), as the senior saw them."""
    verdicts = channel_verdicts(row)
    reasons = [r for r in (row.get("data") or {}).get("reasons", []) if r.get("severity") != "info"]
    codes = {c: sorted({r["code"] for r in reasons if not r.get("channels") or c in r["channels"]})
             for c in verdicts}
    basis = {"verdicts": verdicts, "codes": codes}
    if channels is not None and row.get("data"):
        basis["covered"] = covered(PhotoCheck.from_json(row["data"]), [c for c in channels if c in verdicts])
    return basis


def _today(db: sqlite_utils.Database):
    """(today's register view, settings) for judging stored checks in ``db``'s register."""
    from flask import current_app, has_app_context

    from consent.register.view import current_view

    if has_app_context():
        from ..core.request_register import get_register

        settings = current_app.config["CONSENT_SETTINGS"]
        return current_view(get_register(), settings), settings
    from consent import settings as settings_mod
    from consent.register import Register

    settings = settings_mod.load()
    path = db.execute("PRAGMA database_list").fetchone()[2]
    with Register(path, settings=settings, create=False) as reg:
        return current_view(reg, settings), settings


def _back_to_queue(db: sqlite_utils.Database, row: dict) -> None:
    """A sign-off whose basis changed is no longer approved: back to the senior's queue."""
    from ..audit.audit_log import log_event

    why = change_sentences(row)
    with db.conn:
        cur = db.execute(
            "update web_checks set review_state = 'pending', review_requested_at = ? "
            "where id = ? and review_state = 'approved'", [time.time(), row["id"]])
    if cur.rowcount:
        log_event(db, "register", "review.returned", row["id"], {"photo": row["name"], "why": why})
    row["review_state"] = "pending"


def change_sentences(row: dict) -> list[str]:
    """One sentence per reason a stored check got worse, saying what it means for the photo:
    "consent for newsletter was withdrawn on 3 March: this approval no longer stands"."""
    approved = bool(row.get("review_basis"))
    grouped: dict[str, list[Change]] = {}
    for change in row.get("changes", []):
        grouped.setdefault(change.because, []).append(change)
    out = []
    for because, changes in grouped.items():
        if approved:
            out.append(f"{because}: this approval no longer stands")
        else:
            now = "; ".join(f"“{VERDICT_WORDS[c.now]}” for {channel_label(c.channel)}" for c in changes)
            out.append(f"{because}: the photo is now {now}")
    return out


def stored_check(row: dict, kind: str = "safe") -> StoredCheck | None:
    """The stored check of the plain (``safe``) or ``blurred`` copy, or None (older checks)."""
    if not row.get("stored"):
        return None
    part = json.loads(row["stored"]).get("check" if kind == "safe" else "blurred")
    return StoredCheck.from_json(part) if part else None


def record_publication(reg, row: dict, kind: str, channels: list[str], *, how: str, by: str, settings,
                       link: str | None = None, published: bool | None = None) -> None:
    """Record that the photo of ``row`` (its ``safe`` or ``blurred`` copy) went out on
    ``channels`` in the register's publication record: published when someone says so
    (``published``; default only for ``how="marked"``), else a copy downloaded (once per photo
    and channel). A plain download without a channel counts as a copy for every channel it is
    cleared for: the takedown list errs on the side of listing it."""
    from consent.register import publications

    stored = stored_check(row, kind)
    if stored is None:
        return  # a check made before stored checks existed cannot be judged again
    for channel in channels:
        publications.record(reg, stored, channel, by=by, how=how, link=link, ref=row["id"], settings=settings,
                            published=published)


def refusal(row: dict, channel: str | None = None) -> str | None:
    """Why a download (for ``channel``, or at all) is refused because consent changed, or None."""
    changes = [c for c in row.get("changes", []) if channel is None or c.channel == channel]
    if not changes:
        return None
    return "; ".join(change_sentences({**row, "changes": changes})) + "."


def recheck_signoffs(db: sqlite_utils.Database) -> int:
    """Judge every approved sign-off whose copies can still be downloaded again; those whose
    basis changed go back to the queue (photos already out are on the takedown list instead).
    Returns how many went back."""
    ids = [r["id"] for r in db.query(
        "select id from web_checks where review_state = 'approved' and stored is not null "
        "and safe_path is not null")]
    return sum(1 for i in ids if (get(db, i) or {}).get("review_state") == "pending")


def can_view(user, row: dict) -> bool:
    """The person who checked it, admins, and seniors (sign-off); a photo holding someone who
    must never be published only the designated safeguarding lead among the seniors."""
    if row["user_id"] == user.id or user.is_admin:
        return True
    return user.has("senior") and (user.safeguarding_lead or not needs_safeguarding_lead(row))


def needs_safeguarding_lead(row: dict) -> bool:
    """Only the designated safeguarding lead may see and decide this photo's sign-off: someone
    in it must never be published (as the register stands today)."""
    return never_publish_pictured(row)


def may_decide(user, row: dict) -> bool:
    """``user`` may approve or not approve ``row``'s sign-off: a senior (or admin), and for a
    photo holding someone who must never be published, a designated safeguarding lead."""
    return user.has("senior") and (user.safeguarding_lead or not needs_safeguarding_lead(row))


def releasable(row: dict, user):
    """What ``user`` may release of ``row`` by signing it off (:func:`consent.signoff.releasable`:
    channels needing sign-off, blocked channels they may tick, channels no sign-off of theirs
    can release and what cures those instead), as the photo is judged today."""
    from consent.signoff import Releasable, releasable as rule

    if not row.get("data") or row.get("verdict") == "error":
        return Releasable([], [], {})
    return rule(PhotoCheck.from_json(row["data"]), bool(getattr(user, "safeguarding_lead", False)))


def channel_verdicts(row: dict) -> dict[str, str]:
    """{channel: verdict} as the check found it."""
    return {c: v["verdict"] for c, v in ((row.get("data") or {}).get("channels") or {}).items()}


def approved_channels(row: dict) -> list[str]:
    """Channels a senior released when signing the photo off ([] unless approved). Older
    records (before the list was kept) release every channel that was not blocked."""
    if row.get("review_state") != "approved":
        return []
    if row.get("approved_channels"):
        return json.loads(row["approved_channels"])
    return [c for c, v in channel_verdicts(row).items() if v != "block"]


def cleared_channels(row: dict) -> list[str]:
    """Channels the plain safe copy may be used for today: those the check finds ok, and every
    channel a senior released when signing it off (unless its verdict got worse since)."""
    released = set(approved_channels(row))
    worse = {c.channel for c in row.get("changes", [])}
    return [c for c, v in channel_verdicts(row).items()
            if v == "ok" or (c in released and c not in worse)]


def never_publish_pictured(row: dict) -> bool:
    """Someone flagged never-publish is in the photo: no blurring clears it."""
    data = row.get("data") or {}
    return any(f.get("never_publish") for f in data.get("faces", [])) or any(
        r.get("code") == "never_publish" for r in data.get("reasons", []))


def names_a_pupil_beside_the_photo(row: dict) -> bool:
    """The caption, alt text or file name names someone on roll: blurring the picture does not
    change the words published with it (the page says so when it offers no blurred copy)."""
    return any(r.get("code") in NAME_CODES for r in (row.get("data") or {}).get("reasons", []))


def blurred_channels(row: dict) -> list[str]:
    """Channels the blurred copy may be used for today, by rule (``consent.blurring``: blurring
    clears only what belongs to the faces and names it blurred; PE kit, undress, a name in the
    caption and the rest stay as on the original). None when a never-publish person is in the
    photo: hair, body and setting still identify them, only sign-off can release it."""
    if never_publish_pictured(row):
        return []
    blurred = (row["data"] or {}).get("blurred") or {}
    return [c for c, v in blurred.get("channels", {}).items() if v["verdict"] == "ok"]


def reviewable(row: dict) -> bool:
    """The photo can be sent for sign-off: it was checked and some channel is not ok, and it
    has not been sent already."""
    return (row["state"] == "done" and not row.get("review_state")
            and any(v != "ok" for v in channel_verdicts(row).values()))


def request_review(db: sqlite_utils.Database, row: dict, user_id: int, note: str) -> None:
    """Send ``row`` to the sign-off queue with the sender's note (caller checked ``reviewable``)."""
    db["web_checks"].update(row["id"], {
        "review_state": "pending", "review_requested_by": user_id,
        "review_requested_at": time.time(), "review_request_note": note,
        "decision_seen_at": None,
    })


def mark_decisions_seen(db: sqlite_utils.Database, user_id: int, check_ids: list[str] | None = None) -> None:
    """The sender has seen the seniors' decisions on their photos (all of them, or ``check_ids``)."""
    sql = ("update web_checks set decision_seen_at = ? where review_requested_by = ? and "
           "review_state in ('approved', 'rejected') and decision_seen_at is null")
    params = [time.time(), user_id]
    if check_ids is not None:
        sql += f" and id in ({', '.join('?' * len(check_ids))})"
        params += list(check_ids)
    with db.conn:
        db.execute(sql, params)


def record_decision(db: sqlite_utils.Database, row: dict, decision: str, user_id: int, note: str,
                    channels: list[str], expiry_hours: float) -> None:
    """A senior's decision on a pending photo: ``approved`` releases ``channels`` (and keeps the
    copies downloadable for another ``expiry_hours``), ``rejected`` releases none."""
    changes = {"review_state": decision, "reviewed_by": user_id, "reviewed_at": time.time(),
               "review_note": note, "approved_channels": json.dumps(channels if decision == "approved" else []),
               "decision_seen_at": None}
    if decision == "approved":
        changes["expires_at"] = time.time() + expiry_hours * 3600
        # what the approval rests on: if a verdict gets worse, it comes back to the queue
        changes["review_basis"] = json.dumps(basis_now(row, channels))
    db["web_checks"].update(row["id"], changes)


def available(row: dict, kind: str, channel: str | None = None) -> Path | None:
    """The file of a download (``safe`` or ``blurred``) if it may be downloaded now (for
    ``channel``, or for some channel), else None."""
    if row["expires_at"] and row["expires_at"] < time.time():
        return None
    if kind == "safe":
        path, channels = row["safe_path"], cleared_channels(row)
    else:
        path, channels = row["blurred_path"], blurred_channels(row)
    ok = channel in channels if channel else bool(channels)
    if not ok or not path or not Path(path).is_file():
        return None
    return Path(path)


def file_name_names_someone(row: dict) -> bool:
    """The check found a name in the photo's file name (someone's on roll, or a word that could be
    anyone's: the download's name must not tell which)."""
    return any(r.get("code") in NAME_CODES and "file name" in r.get("message", "")
               for r in (row.get("data") or {}).get("reasons", []))


def download_name(row: dict, kind: str, suffix: str, event: str | None = None) -> str:
    """The name a download is saved under: the photo's own name, or a neutral one (the event,
    or "photo", and a number) whenever its file name names someone on roll."""
    tag = "blurred" if kind == "blurred" else "safe"
    if file_name_names_someone(row):
        stem = secure_filename(event or "") or "photo"
        number = f"{row['seq'] + 1:03d}" if row.get("seq") is not None else row["id"][:6]
        return f"{stem}-{number}-{tag}{suffix}"
    return f"{display_name(row['name']).rsplit('.', 1)[0]}-{tag}{suffix}"


