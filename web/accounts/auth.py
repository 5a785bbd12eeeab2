"""Sign in, sign out, changing your own password, and the one-time setup link that creates the
first admin."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint, current_app, flash, g, make_response, redirect, render_template, request, url_for,
)

from . import accounts
from ..core.db import get_db
from ..core.errors import error_response
from ..audit.audit_log import log_event
from ..core.security import KNOWN_BROWSER_COOKIE, end_this_session, known_browser, roles_required, sign_in

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    """Only ever go back to a page on this site after signing in."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("accounts/login.html", next=request.args.get("next", ""))
    db = get_db()
    settings = current_app.config["CONSENT_SETTINGS"]
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ip = request.remote_addr or "unknown"
    mark = request.cookies.get(KNOWN_BROWSER_COOKIE)
    wait = accounts.sign_in_wait(db, username, ip, settings, known_browser(username))
    if wait:
        response = make_response(error_response(
            429,
            f"Too many failed attempts to sign in. Wait {_duration(wait)} and try again "
            "(from a browser you have signed in with before you need not wait), "
            "or ask an admin to reset your password.",
            "locked_out",
        ))
        response.headers["Retry-After"] = str(wait)
        return response
    user = accounts.authenticate(db, username, password)
    if user is None:
        accounts.record_failure(db, username, ip, settings, mark)
        flash("That user name and password do not match. Check them and try again.", "error")
        return render_template("accounts/login.html", next=request.form.get("next", ""), username=username), 401
    accounts.clear_failures(db, username, ip, mark)
    sign_in(user)
    return redirect(_safe_next(request.form.get("next")))


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


@bp.post("/logout")
def logout():
    end_this_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required(*accounts.ROLES)  # every signed-in person
def change_password():
    """Any signed-in user changes their own password; their other sessions end."""
    if request.method == "GET":
        return render_template("accounts/password.html")
    new = request.form.get("password", "")
    if new != request.form.get("confirm", ""):
        flash("The two new passwords are different. Type the same password twice.", "error")
        return render_template("accounts/password.html"), 400
    user = g.user
    try:
        accounts.change_own_password(get_db(), user, request.form.get("current", ""), new,
                                     current_app.config["CONSENT_SETTINGS"])
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return render_template("accounts/password.html"), 400
    log_event(get_db(), user.username, "account.password_changed", None, {"user": user.username})
    sign_in(user)  # this browser carries on; every other session has ended
    flash("Your password is changed. Any other browser signed in as you has been signed out.", "info")
    return redirect(url_for("home.index"))


@bp.route("/setup/<token>", methods=["GET", "POST"])
def setup(token: str):
    """Create the first admin account, once, with the link the server printed at start."""
    db = get_db()
    settings = current_app.config["CONSENT_SETTINGS"]
    if not accounts.setup_token_valid(db, token, settings):
        return error_response(
            404,
            "This setup link has expired or was already used. If nobody can sign in yet, "
            "restart the server to get a new link.",
            "setup_link_invalid",
        )
    if request.method == "GET":
        return render_template("accounts/setup.html", token=token)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        flash("The two passwords are different. Type the same password twice.", "error")
        return render_template("accounts/setup.html", token=token, form=request.form), 400
    try:
        user = accounts.use_setup_token(
            db, token, request.form.get("username", ""), password,
            request.form.get("display_name", ""), settings,
        )
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return render_template("accounts/setup.html", token=token, form=request.form), 400
    sign_in(user)
    flash("Your admin account is ready. Add your colleagues' accounts next.", "info")
    return redirect(url_for("users.index"))
