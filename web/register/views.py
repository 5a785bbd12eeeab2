"""Register admin (admin role): people, the consent matrix, MIS import, enrolment, never-publish,
withdrawals and the leavers' purge.

Every change goes through :class:`consent.register.Register` (and ``consent.register.mis``,
``consent.register.enrolment``, ``consent.register.housekeeping``), which audits it with the signed-in user's
name; these views only read forms and show results.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for,
)

from consent.errors import ConsentError

from ..core.errors import wants_json
from ..core.numbers import form_int
from ..core.words import uk_date
from ..core.request_register import get_register
from ..core.security import roles_required

bp = Blueprint("register", __name__, url_prefix="/register", template_folder="templates")

#: consent states as the matrix shows them
STATUS_WORDS = {"granted": "yes", "refused": "refused", "withdrawn": "withdrawn", "expired": "expired", "missing": "not asked"}
#: most people listed on one page (the filters narrow it down)
PAGE_SIZE = 250
#: how long an uploaded CSV waits for "import these rows" after its preview
IMPORT_TTL = 3600
#: seconds a consent change can be undone after it is saved
UNDO_SECONDS = 120


def _by() -> str:
    return g.user.username


def _fail(exc: ConsentError, back: str):
    """A refused register change: JSON for the matrix script, else a message and back."""
    if wants_json():
        return jsonify({"error": {"code": exc.code, "message": str(exc)}}), 400
    flash(str(exc)[:1].upper() + str(exc)[1:], "error")
    return redirect(back)


# --- people and the consent matrix --------------------------------------------------------


@bp.get("/")
@roles_required("admin")
def index():
    """The people and their consent; every filter is a query parameter
    (:class:`consent.register.listing.ListQuery`), so each glance figure links to its list."""
    from consent.register import listing

    reg = get_register()
    channels = reg.channels(include_biometric=True)
    a = request.args
    query = listing.ListQuery.from_args(a)
    try:
        people = listing.find(reg, query, admin=True)
    except ConsentError as exc:
        flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
        people = []
    need_photo = reg.needs_new_photo()
    total = len(people)
    people = people[:PAGE_SIZE]
    states = reg.consent_states_many([p.id for p in people], channels=[c.name for c in channels]) if people else {}
    since = dt.date.today() - dt.timedelta(days=30)
    withdrawals = reg.withdrawals(since)[:20]
    more = {k: v for k, v in query.args().items() if k != "q"}
    return render_template(
        "register/register.html", people=people, states=states, channels=channels, total=total,
        page_size=PAGE_SIZE, args=a, query=query, more_filters=more, words=STATUS_WORDS,
        withdrawals=withdrawals, takedowns=_takedown_counts(withdrawals), need_photo=need_photo,
        find_text=listing.search_text,
        statuses=("granted", "refused", "withdrawn", "expired", "missing", "not_granted"),
    )


@bp.get("/glance")
@roles_required("admin", "senior")
def glance():
    """The register at a glance: who can be published, who still needs a form or a photo
    (figures from :func:`consent.register.glance.glance`; each links to its list, for admins)."""
    from consent.register import glance as figures

    from ..core.db import get_db
    from ..signoff.queue import waiting_for

    at_a_glance = figures.glance(get_register())
    year = request.args.get("year") or None
    year_group = next((y for y in at_a_glance.years if y.year == year), None) if year else None
    if year and year_group is None:
        abort(404)
    rows = at_a_glance.classes_of(year) if year else at_a_glance.years

    def link(group, channel=None, figure=None):
        """The register list behind one figure; None for roles that may not open it (names)."""
        if not g.user.has("admin"):
            return None
        return url_for("register.index", **figures.list_query(group, channel, figure, at_a_glance.term_end).args())

    return render_template(
        "register/glance.html", glance=at_a_glance, rows=rows, year_group=year_group, link=link,
        states=figures.STATES, waiting=waiting_for(get_db(), g.user),
    )


@bp.post("/people/<int:person_id>/consent")
@roles_required("admin")
def set_consent(person_id: int):
    """One consent change, after the admin confirmed it: granted/refused/withdrawn for one
    channel (``until``: the last day a grant is valid). It can be undone for ``UNDO_SECONDS``."""
    f = request.form
    back = _back(person_id)
    reg = get_register()
    try:
        state = reg.record_consent(
            person_id, f.get("channel", ""), f.get("status", ""), until=f.get("until") or None,
            note=f.get("note") or None, source="web", by=_by(),
        )
    except ConsentError as exc:
        return _fail(exc, back)
    record_id = reg.latest_consent_id(person_id, state.channel)
    if wants_json():
        return jsonify({"channel": state.channel, "status": state.status, "words": STATUS_WORDS[state.status],
                        "until": uk_date(state.until), "record": record_id, "undo_seconds": UNDO_SECONDS})
    flash(f"Saved: {state.channel.replace('_', ' ')} consent is now “{STATUS_WORDS[state.status]}”.", "info")
    session_undo = {"person": person_id, "channel": state.channel, "record": record_id}
    return redirect(_with_undo(back, session_undo))


def _back(person_id: int) -> str:
    back = request.form.get("back") or url_for("register.person", person_id=person_id)
    return back if back.startswith("/") and not back.startswith("//") else url_for("register.index")


def _with_undo(back: str, undo: dict) -> str:
    from urllib.parse import urlencode

    sep = "&" if "?" in back else "?"
    return f"{back}{sep}{urlencode({'undo_person': undo['person'], 'undo_channel': undo['channel'], 'undo_record': undo['record']})}"


@bp.post("/people/<int:person_id>/consent/undo")
@roles_required("admin")
def undo_consent(person_id: int):
    """Take back the consent change just made (within ``UNDO_SECONDS``); audited either way."""
    back = _back(person_id)
    try:
        state = get_register().undo_consent(
            person_id, request.form.get("channel", ""), form_int(request.form.get("record")) or 0,
            within_s=UNDO_SECONDS, by=_by())
    except (ConsentError, ValueError) as exc:
        if isinstance(exc, ValueError):
            exc = ConsentError("that change cannot be undone")
        return _fail(exc, back)
    if wants_json():
        return jsonify({"channel": state.channel, "status": state.status, "words": STATUS_WORDS[state.status]})
    flash(f"Undone: {state.channel.replace('_', ' ')} consent is back to “{STATUS_WORDS[state.status]}”.", "info")
    return redirect(back)


@bp.route("/people/new", methods=["GET", "POST"])
@roles_required("admin")
def add_person():
    """Add one pupil or member of staff (a new starter between MIS imports)."""
    f = request.form
    if request.method == "POST":
        try:
            p = get_register().add_person(
                f.get("mis_id", "").strip(), f.get("forename", "").strip(), f.get("surname", "").strip(),
                role=f.get("role", "pupil"), preferred_forename=f.get("preferred_forename", "").strip() or None,
                year_group=f.get("year", "").strip() or None, form=f.get("form", "").strip() or None,
                by=_by(),
            )
        except ConsentError as exc:
            flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
            return render_template("register/person_new.html", form=f), 400
        flash(f"{p.display_name} is added. Record their consent for each channel below.", "info")
        return redirect(url_for("register.person", person_id=p.id))
    return render_template("register/person_new.html", form={})


@bp.post("/people/<int:person_id>/left")
@roles_required("admin")
def set_left(person_id: int):
    """Record (or clear) the day someone left; leavers' data is purged from the Leavers page."""
    back = url_for("register.person", person_id=person_id)
    left_on = None if request.form.get("action") == "clear" else (request.form.get("left_on") or "").strip()
    if left_on == "":
        flash("Choose the day they left.", "error")
        return redirect(back)
    try:
        p = get_register().update_person(person_id, left_on=left_on, by=_by())
    except ConsentError as exc:
        return _fail(exc, back)
    flash(f"{p.display_name} left on {uk_date(p.left_on)}." if p.left_on else f"{p.display_name} is on roll again.", "info")
    return redirect(back)


def _takedown_counts(withdrawals) -> dict:
    """(person id, channel) -> how many published photos each withdrawal means taking down."""
    if not withdrawals:
        return {}
    from ..takedowns.listing import open_takedowns

    counts: dict = {}
    for item in open_takedowns():
        for pid in item.person_ids:
            key = (pid, item.publication.channel)
            counts[key] = counts.get(key, 0) + 1
    return counts


@bp.get("/people/<int:person_id>")
@roles_required("admin")
def person(person_id: int):
    reg = get_register()
    try:
        p = reg.get_person(person_id, admin=True)
    except ConsentError:
        abort(404)
    from consent.vision.faces import RECOGNISER

    channels = reg.channels(include_biometric=True)
    return render_template(
        "register/person.html", p=p, channels=channels, words=STATUS_WORDS,
        states=reg.consent_states(p.id, include_biometric=True),
        history=reg.consent_history(p.id)[::-1], templates=reg.templates(p.id, model=RECOGNISER),
        enrolled=reg.enrolled(p.id), strength=reg.enrolment_strength(p.id),
        audit=reg.audit(person=p.id, limit=30),
    )


@bp.post("/people/<int:person_id>/withdraw-all")
@roles_required("admin")
def withdraw_all(person_id: int):
    """Withdraw every publication consent in force (a parent's written withdrawal)."""
    reg = get_register()
    back = url_for("register.person", person_id=person_id)
    try:
        with reg.transaction():
            granted = [c for c, s in reg.consent_states(person_id).items() if s.granted]
            for channel in granted:
                reg.record_consent(person_id, channel, "withdrawn", note=request.form.get("note") or None,
                                   source="web", by=_by())
    except ConsentError as exc:
        return _fail(exc, back)
    flash(f"Consent withdrawn for {len(granted)} channel{'' if len(granted) == 1 else 's'}." if granted
          else "No consent was in force, so nothing changed.", "info")
    return redirect(back)


@bp.post("/people/<int:person_id>/never-publish")
@roles_required("admin")
def never_publish(person_id: int):
    reg = get_register()
    back = url_for("register.person", person_id=person_id)
    try:
        if request.form.get("action") == "clear":
            reg.clear_never_publish(person_id, by=_by())
            flash("The never-publish flag is removed; consent per channel applies again.", "info")
        else:
            reg.set_never_publish(person_id, request.form.get("reason", ""), by=_by())
            flash("Flagged: this person will never be cleared for publication.", "info")
    except ConsentError as exc:
        return _fail(exc, back)
    return redirect(back)


@bp.post("/people/<int:person_id>/enrol")
@roles_required("admin")
def enrol(person_id: int):
    """Enrolment photos (dropped or chosen): face templates only are kept, never the photos."""
    from consent.register import enrolment

    from ..check.checked_photos import disk_name

    back = url_for("register.person", person_id=person_id)
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if not files:
        flash("Choose one or more photos of this person's face first.", "error")
        return redirect(back)
    tmp = Path(tempfile.mkdtemp(dir=_scratch()))
    try:
        paths = []
        for i, f in enumerate(files):
            path = tmp / f"{i}-{disk_name(f.filename)}"
            f.save(str(path))
            paths.append(path)
        try:
            results = enrolment.enrol(get_register(), person_id, paths, names=[f.filename for f in files],
                                      settings=current_app.config["CONSENT_SETTINGS"], by=_by())
        except ConsentError as exc:
            return _fail(exc, back)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r in results:  # r.path: the photo as the user named it; r.reason: what to do
        if r.status == "enrolled":
            flash(f"{r.path}: enrolled.", "info")
        elif r.status == "already_enrolled":
            flash(f"{r.path}: this photo is already enrolled.", "info")
        else:
            flash(f"{r.path}: not enrolled: {r.reason}.", "error")
    return redirect(back)


def _scratch() -> Path:
    path = Path(current_app.config["CONSENT_DATA"]) / "web" / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- MIS import -----------------------------------------------------------------------------


def _import_path(token: str) -> Path:
    if not token.isalnum() and not token.replace("-", "").replace("_", "").isalnum():
        abort(404)
    return _scratch() / f"import-{token}.csv"


@bp.get("/import")
@roles_required("admin")
def import_form():
    return render_template("register/import.html", result=None)


@bp.post("/import")
@roles_required("admin")
def import_preview():
    """Dry run: what the import would do, row by row; nothing is written yet."""
    from consent.register import mis

    upload = request.files.get("csv")
    if upload is None or not upload.filename:
        flash("Choose the CSV file exported from your MIS first.", "error")
        return render_template("register/import.html", result=None), 400
    _forget_old_imports()
    token = secrets.token_urlsafe(16)
    path = _import_path(token)
    upload.save(str(path))
    staff = request.form.get("staff") == "1"
    try:
        result = mis.import_csv(get_register(), path, staff=staff, dry_run=True, by=_by())
    except ConsentError as exc:
        path.unlink(missing_ok=True)
        flash(str(exc).replace(str(path), upload.filename), "error")
        return render_template("register/import.html", result=None), 400
    return render_template("register/import.html", result=result, token=token, staff=staff, filename=upload.filename)


@bp.post("/import/<token>")
@roles_required("admin")
def import_apply(token: str):
    from consent.register import mis

    path = _import_path(token)
    if not path.exists():
        flash("That preview has expired. Choose the file again.", "error")
        return redirect(url_for("register.import_form"))
    staff = request.form.get("staff") == "1"
    try:
        result = mis.import_csv(get_register(), path, staff=staff, by=_by())
    except ConsentError as exc:
        flash(str(exc), "error")
        return redirect(url_for("register.import_form"))
    finally:
        path.unlink(missing_ok=True)
    flash(f"Imported: {result.summary()}.", "info")
    return render_template("register/import.html", result=result, token=None, staff=staff,
                           filename=request.form.get("filename", "the file"))


def _forget_old_imports() -> None:
    for old in _scratch().glob("import-*.csv"):
        if time.time() - old.stat().st_mtime > IMPORT_TTL:
            old.unlink(missing_ok=True)


# --- leavers ------------------------------------------------------------------------------


@bp.route("/leavers", methods=["GET", "POST"])
@roles_required("admin")
def leavers():
    """Purge everything held about people who left before a date: preview, then confirm."""
    from consent.register import housekeeping

    reg = get_register()
    before = request.values.get("before") or (dt.date.today() - dt.timedelta(days=1)).isoformat()
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    try:
        result = housekeeping.purge_leavers(reg, before, dry_run=not confirmed, by=_by())
    except ConsentError as exc:
        flash(str(exc)[:1].upper() + str(exc)[1:], "error")
        return render_template("register/leavers.html", result=None, before=before), 400
    if confirmed:
        n = len(result.people)
        flash(f"Deleted the data of {n} {'person' if n == 1 else 'people'} who left before {uk_date(before)}: "
              f"their consent records ({result.consents}) and face templates ({result.templates}).", "info")
        return redirect(url_for("register.leavers", before=before))
    return render_template("register/leavers.html", result=result, before=before)
