"""The takedown list (admin, comms): photos that went out on a channel (published, or copies
downloaded and not marked published) and are no longer ok there; one row per photo and channel.

Computed each time it is shown (``consent.register.publications.takedowns``) from the
publication record and the register as it is today, so a withdrawal, a never-publish flag or a
consent end date that has passed puts a photo here at once, with nobody doing anything. Each
entry can be marked "taken down"; who and when is kept. The never-publish reason and the names
of the people in a photo are shown to admins only.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from consent.errors import RegisterError
from consent.register import publications

from ..audit.audit_log import log_event
from ..core.request_register import get_register
from ..core.security import roles_required
from ..core.db import get_db
from ..core.errors import plain_abort
from ..core.numbers import form_int
from .listing import open_takedowns

bp = Blueprint("takedowns", __name__, url_prefix="/takedowns", template_folder="templates")


@bp.get("/")
@roles_required("admin", "comms")
def index():
    if request.args.get("person") and not g.user.sees_names:
        # the list of one person's photos says who is in them: only for roles that see names
        plain_abort(403, "Your account does not see who is in a photo, so it cannot list the "
                         "photos of one person. Open the whole takedown list instead.")
    person = form_int(request.args.get("person"))
    channel = request.args.get("channel") or None
    items = open_takedowns(person, channel)
    reg = get_register()
    names = {}
    if g.user.sees_names:
        ids = {i for t in items for i in t.person_ids}
        names = {p.id: p.display_name for p in reg.people_by_id(ids).values()}
    done, seen = [], set()
    for p in publications.publications(reg):  # one line per photo and channel taken down
        if p.taken_down_at and (key := (p.photo_sha256, p.channel, p.taken_down_at)) not in seen:
            seen.add(key)
            done.append(p)
    done = done[:20]
    return render_template("takedowns/takedowns.html", items=items, done=done, names=names,
                           person=person, channel=channel)


@bp.post("/<int:publication_id>/done")
@roles_required("admin", "comms")
def done(publication_id: int):
    reg = get_register()
    try:
        pub = publications.mark_taken_down(reg, publication_id, by=g.user.username)
    except publications.NoSuchPublication:
        abort(404)
    except RegisterError as exc:
        flash(str(exc), "error")
        return redirect(url_for("takedowns.index"))
    log_event(get_db(), g.user.username, "publication.taken_down", pub.ref,
              {"photo": pub.photo_name, "channel": pub.channel, "publication": pub.id})
    flash(f"{pub.photo_name}: marked as taken down from {pub.channel.replace('_', ' ')}.", "info")
    return redirect(url_for("takedowns.index"))
