"""The start page, and the navigation every page shows (each link only to the roles it serves)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for

bp = Blueprint("home", __name__, template_folder="templates")

#: (endpoint, label, roles allowed, what it is for); admins see everything
AREAS = [
    ("check.index", "Check photos", ("office",), "Drop photos to see if they can be published."),
    ("batch.index", "Batch jobs", ("comms",), "Check a whole folder or zip of photos at once."),
    ("review.index", "Sign-off", ("senior",), "Decide on photos that need a senior's sign-off."),
    ("review.mine", "Sent for sign-off", ("office", "comms"), "Photos you sent to a senior, and their decisions."),
    ("register.index", "Register", ("admin",), "People, consent for each channel, enrolment photos."),
    ("takedowns.index", "Takedowns", ("admin", "comms"), "Published photos that must come down now that consent changed."),
    ("audit.index", "Audit log", ("admin",), "Every change to the register, who made it and when."),
    ("users.index", "Users", ("admin",), "Accounts, roles and API tokens."),
    ("settings.index", "Settings", ("admin",), "Limits and thresholds in force."),
]


def _available():
    return [a for a in AREAS if a[0] in current_app.view_functions]


@bp.app_context_processor
def navigation():
    return {"nav_items": lambda: [a[:3] for a in _available()]}


@bp.get("/")
def index():
    if g.user is None:
        return redirect(url_for("auth.login"))
    items = _available()
    if not [a for a in items if g.user.has(*a[2])]:
        items = []
    takedown_count = None
    if g.user.has("admin", "comms") and "takedowns.index" in current_app.view_functions:
        from ..takedowns.listing import open_takedowns

        takedown_count = len(open_takedowns())
    weakened = None
    if g.user.has("admin"):  # settings in force that weaken a safety check (admins may change them)
        from consent.settings import weakened as weakened_settings

        weakened = weakened_settings(current_app.config["CONSENT_SETTINGS"])
    return render_template("home/index.html", home_items=items, takedown_count=takedown_count, weakened=weakened,
                           nav_endpoints=current_app.view_functions)
