"""Sign-off: photos sent for a senior's decision, approved or not approved with a note.

Office staff and comms send a photo that is not ok (one at a time from its result card, or many
batch photos at once); the senior's queue shows each photo with the sender's note. Approving
releases the channels that needed sign-off; a channel the check blocked is released only when
the senior ticks it and gives the reason. A photo holding someone flagged never-publish is the
designated safeguarding lead's decision alone: only users an admin marked as safeguarding lead
see it in the queue or may decide it (the routes refuse everyone else, whatever the page
shows); other seniors see it as "waiting for the designated safeguarding lead". A senior can
approve every photo of one batch at once after looking through them.
Every decision is written to the web audit log; the sender sees it, with the senior's note, on
their recent checks and under "Sent for sign-off", and the header counts what is new.

A face that only looks like someone in the register is answered here too, one click per face
("Yes, this is <name>" / "No, not them"), by seniors and admins only: the answer is kept for
that photo in the register and audited there (:mod:`consent.register.identities`), and every
check of the same photo applies it. It says who the face is; consent still decides.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from consent.results import channel_label, join_words

from ..accounts import accounts
from ..check import checked_photos, result_cards
from . import email_notice
from .queue import waiting_for
from ..audit.audit_log import log_event
from ..core.errors import error_response
from ..core.request_register import get_register
from ..core.security import roles_required
from ..core.db import get_db

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")


def _cards(where: str, params: list, limit: int = 100, order: str = "review_requested_at desc") -> list[dict]:
    db = get_db()
    rows = db.query(f"select id from web_checks where {where} order by {order} limit ?", params + [limit])
    names: dict[int, str] = {}

    def name(user_id):
        if user_id and user_id not in names:
            user = accounts.get_user(db, user_id)
            names[user_id] = user.display_name if user else "someone"
        return names.get(user_id)

    titles = {}
    cards = []
    for r in list(rows):
        row = checked_photos.get(db, r["id"])
        c = result_cards.card(row, g.user)
        if row.get("job_id") and row["job_id"] not in titles:
            job = list(db["web_jobs"].rows_where("id = ?", [row["job_id"]], limit=1))
            titles[row["job_id"]] = job[0]["title"] if job else "a batch"
        c.update({
            "requested_by": name(row["review_requested_by"]) or "someone",
            "requested_at": row["review_requested_at"],
            "reviewed_by": name(row["reviewed_by"]),
            "reviewed_at": row["reviewed_at"],
            "batch_title": titles.get(row.get("job_id")),
            "for_lead": checked_photos.needs_safeguarding_lead(row),
        })
        cards.append(c)
    return cards


def _groups(cards: list[dict]) -> list[dict]:
    """Pending cards grouped by batch (single checks each on their own), oldest request first."""
    groups: list[dict] = []
    by_job: dict[str, dict] = {}
    for c in cards:
        if c["job_id"]:
            if c["job_id"] not in by_job:
                by_job[c["job_id"]] = {"job_id": c["job_id"], "title": c["batch_title"], "cards": []}
                groups.append(by_job[c["job_id"]])
            by_job[c["job_id"]]["cards"].append(c)
        else:
            groups.append({"job_id": None, "title": None, "cards": [c]})
    return groups


@bp.get("/")
@roles_required("senior")
def index():
    checked_photos.recheck_signoffs(get_db())  # approvals whose basis changed come back here
    cards = _cards("review_state = 'pending'", [], order="review_requested_at, seq")
    pending = [c for c in cards if not c["for_lead"] or g.user.safeguarding_lead]
    for_lead = [c for c in cards if c["for_lead"] and not g.user.safeguarding_lead]
    decided = [c for c in _cards("review_state in ('approved', 'rejected')", [], limit=20, order="reviewed_at desc")
               if not c["for_lead"] or g.user.safeguarding_lead]
    return render_template("signoff/review.html", groups=_groups(pending), pending=pending, decided=decided,
                           for_lead=for_lead, who_to_ask=who_to_ask())


def who_to_ask() -> dict:
    """Who decides photos holding someone who must never be published: the designated
    safeguarding leads' names, or (nobody marked) the admins who can mark one."""
    db = get_db()
    leads = accounts.safeguarding_leads(db)
    admins = [u.display_name for u in accounts.list_users(db) if u.is_admin and u.active]
    return {"leads": [u.display_name for u in leads], "admins": admins}


def lead_only_message(row: dict) -> str:
    """Why someone who is not the designated safeguarding lead cannot decide ``row``."""
    ask = who_to_ask()
    if ask["leads"]:
        who = f"Ask {join_words(ask['leads'])}."
    else:
        who = ("Nobody is marked as designated safeguarding lead yet: ask an admin"
               + (f" ({join_words(ask['admins'])})" if ask["admins"] else "")
               + " to mark them on the Users page.")
    return (f"Only the designated safeguarding lead can decide on {row['name']}: someone in it must never "
            f"be published. {who}")


@bp.get("/mine")
@roles_required("office", "comms")
def mine():
    """The photos this user sent for sign-off, newest first, with each decision and note."""
    sent = _cards("review_requested_by = ?", [g.user.id], order="review_requested_at desc")
    new = {r["id"] for r in get_db().query(
        "select id from web_checks where review_requested_by = ? and review_state in ('approved', 'rejected') "
        "and decision_seen_at is null", [g.user.id])}
    checked_photos.mark_decisions_seen(get_db(), g.user.id)
    return render_template("signoff/review_mine.html", sent=sent, new=new)


def _released(row: dict, form) -> tuple[list[str], str | None]:
    """The channels an approval releases, or an error message (consent.signoff): channels that
    needed sign-off are released; a blocked channel only when ticked, with a note saying why,
    and only when every reason blocking it is one this decider may release (swimwear by a
    senior; never-publish by the safeguarding lead; never a missing consent or a pupil named
    in the caption, which only their own cure releases)."""
    may = checked_photos.releasable(row, g.user)
    asked = form.getlist("release")
    held = [c for c in asked if c in may.held]
    if held:
        return [], " ".join(f"Sign-off cannot release {channel_label(c)}: {may.held[c]}." for c in held)
    ticked = [c for c in asked if c in may.blocked]
    if ticked and not form.get("note", "").strip():
        return [], "Give the reason for releasing a blocked photo in the note; it is kept in the audit log."
    if not may.review and not ticked:
        return [], ("Every channel checked says “do not publish” for this photo. Tick the channels you release "
                    "(with the reason in the note), or choose “Do not approve”.")
    return may.review + ticked, None


def _decide(check_id: str, decision: str):
    db = get_db()
    row = checked_photos.get(db, check_id)
    if row is None:
        abort(404)
    if not checked_photos.may_decide(g.user, row):
        return error_response(403, lead_only_message(row), "safeguarding_lead_only")
    if row["review_state"] != "pending":
        flash("This photo is not waiting for sign-off (someone may have decided already).", "error")
        return redirect(url_for("review.index"))
    note = request.form.get("note", "").strip()[:1000]
    channels: list[str] = []
    if decision == "rejected" and not note:
        flash("Say why the photo is not approved, so the person who sent it knows what to do.", "error")
        return redirect(url_for("review.index"))
    if decision == "approved":
        channels, problem = _released(row, request.form)
        if problem:
            flash(f"{row['name']}: {problem}", "error")
            return redirect(url_for("review.index"))
    hours = current_app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours
    checked_photos.record_decision(db, row, decision, g.user.id, note, channels, hours)
    log_event(db, g.user.username, f"review.{decision}", check_id,
              {"photo": row["name"], "note": note, "verdict": row["verdict"],
               "channels": ", ".join(channels)})
    _tell_sender(row, decision, note)
    flash(f"{row['name']}: {'approved' if decision == 'approved' else 'not approved'}.", "info")
    return redirect(url_for("review.index"))


@bp.post("/<check_id>/faces/<int:number>/identity")
@roles_required("senior")
def identity(check_id: str, number: int):
    """A senior's answer for face ``number`` of a photo that looks like someone: ``answer`` is
    ``yes`` (it is them) or ``no`` (not them). Back to the page the answer came from."""
    from consent.errors import ConsentError
    from consent.register import identities

    db = get_db()
    row = checked_photos.get(db, check_id)
    if row is None or not checked_photos.can_view(g.user, row):
        abort(404)
    if not checked_photos.may_decide(g.user, row):  # a face that looks like a never-publish pupil
        return error_response(403, lead_only_message(row), "safeguarding_lead_only")
    back = (url_for("review.index") if request.form.get("back") == "review.index"
            else url_for("check.show", check_id=check_id))
    data = row.get("data") or {}
    face = next((f for f in data.get("faces", []) if f["index"] == number - 1), None)
    answer = request.form.get("answer", "")
    if face is None or face.get("match") != "looks_like" or not face.get("suggested_id"):
        flash(f"{row['name']}: face {number} is not waiting for anyone to say who it is "
              "(someone may have answered already).", "error")
        return redirect(back)
    if answer not in (identities.YES, identities.NO):
        flash("Choose “Yes, this is …” or “No, not them”.", "error")
        return redirect(back)
    name = face.get("suggested_name") or "them"
    try:
        identities.record(get_register(), data["sha256"], tuple(face["box"][k] for k in ("top", "right", "bottom", "left")),
                          face["suggested_id"], answer, by=g.user.username, photo=row["name"])
    except ConsentError as exc:
        flash(str(exc), "error")
        return redirect(back)
    if answer == identities.YES:
        flash(f"{row['name']}: face {number} is {name}. Their consent now decides, as for anyone recognised.", "info")
    else:
        flash(f"{row['name']}: face {number} is not {name}; it now counts as a face not recognised.", "info")
    return redirect(back)


def _tell_sender(row: dict, decision: str, note: str) -> None:
    """Email the sender the decision, when SMTP is set up and their user name is an address."""
    sender = accounts.get_user(get_db(), row["review_requested_by"]) if row.get("review_requested_by") else None
    if sender is not None:
        email_notice.decision_made(current_app.config["CONSENT_SETTINGS"], sender.username, row["name"],
                                   decision, note, email_notice.link("check.show", check_id=row["id"]))


@bp.post("/<check_id>/approve")
@roles_required("senior")
def approve(check_id: str):
    return _decide(check_id, "approved")


@bp.post("/<check_id>/reject")
@roles_required("senior")
def reject(check_id: str):
    return _decide(check_id, "rejected")


@bp.post("/batch/<job_id>/approve")
@roles_required("senior")
def approve_batch(job_id: str):
    """Approve the batch photos the senior looked through (the ids listed on the page), each
    for the channels that needed sign-off; blocked channels stay blocked."""
    db = get_db()
    if request.form.get("looked") != "yes":
        flash("Tick “I have looked at every photo” first.", "error")
        return redirect(url_for("review.index"))
    note = request.form.get("note", "").strip()[:1000]
    hours = current_app.config["CONSENT_SETTINGS"].safe_copy_expiry_hours
    approved, skipped = 0, 0
    for check_id in request.form.getlist("check")[:5000]:
        row = checked_photos.get(db, check_id)
        if (row is None or row.get("job_id") != job_id or row["review_state"] != "pending"
                or not checked_photos.may_decide(g.user, row)):
            skipped += 1
            continue
        channels = checked_photos.releasable(row, g.user).review
        if not channels:
            skipped += 1  # blocked everywhere: only a decision on its own can release it
            continue
        checked_photos.record_decision(db, row, "approved", g.user.id, note, channels, hours)
        _tell_sender(row, "approved", note)
        log_event(db, g.user.username, "review.approved", check_id,
                  {"photo": row["name"], "note": note, "verdict": row["verdict"],
                   "channels": ", ".join(channels), "batch": job_id})
        approved += 1
    message = f"Approved {approved} photo{'' if approved == 1 else 's'}."
    if skipped:
        message += (f" {skipped} {'was' if skipped == 1 else 'were'} left for a decision on "
                    f"{'its' if skipped == 1 else 'their'} own (“do not publish” for every channel, or already decided).")
    flash(message, "info")
    return redirect(url_for("review.index"))


def notifications(user) -> dict | None:
    """The header's count: photos waiting for a senior; for senders, decisions not yet seen."""
    if user is None:
        return None
    db = get_db()
    if user.has("senior"):
        n = waiting_for(db, user)
        return {"count": n, "url": url_for("review.index"),
                "text": f"{n} photo{'' if n == 1 else 's'} waiting for your sign-off"} if n else None
    if user.has("office", "comms"):
        n = db.execute(
            "select count(*) from web_checks where review_requested_by = ? and "
            "review_state in ('approved', 'rejected') and decision_seen_at is null", [user.id]).fetchone()[0]
        return {"count": n, "url": url_for("review.mine"),
                "text": f"{n} new sign-off decision{'' if n == 1 else 's'}"} if n else None
    return None


@bp.app_context_processor
def _notifications():
    return {"notifications": lambda: notifications(g.get("user"))}
