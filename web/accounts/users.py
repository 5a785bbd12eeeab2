"""Admin: user accounts, their roles, and per-user API tokens."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from . import accounts
from ..audit.audit_log import log_event
from ..core.db import get_db
from ..core.security import roles_required, sign_in

bp = Blueprint("users", __name__, url_prefix="/admin/users", template_folder="templates")


def _page(status: int = 200, **extra):
    db = get_db()
    return (
        render_template(
            "accounts/users.html",
            users=accounts.list_users(db),
            tokens=accounts.list_api_tokens(db),
            roles=accounts.ROLES,
            leads=accounts.safeguarding_leads(db),
            **extra,
        ),
        status,
    )


@bp.get("/")
@roles_required("admin")
def index():
    return _page()


@bp.post("/")
@roles_required("admin")
def create():
    f = request.form
    try:
        user = accounts.create_user(
            get_db(), f.get("username", ""), f.get("password", ""), f.getlist("roles"),
            f.get("display_name", ""), current_app.config["CONSENT_SETTINGS"],
        )
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _page(400, form=f)
    log_event(get_db(), g.user.username, "account.created", None, {"user": user.username, "roles": ",".join(sorted(user.roles))})
    flash(f"Account {user.username} created. Give them their password in person.", "info")
    return redirect(url_for("users.index"))


def _change(action, done: str, event: str, user_id: int, detail: dict | None = None):
    """Run an account change; on success log it, flash ``done`` and go back, else show why (400)."""
    try:
        action()
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _page(400)
    target = accounts.get_user(get_db(), user_id)
    log_event(get_db(), g.user.username, event, None, {"user": target.username if target else user_id, **(detail or {})})
    flash(done, "info")
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/roles")
@roles_required("admin")
def set_roles(user_id: int):
    roles = request.form.getlist("roles")
    return _change(lambda: accounts.set_roles(get_db(), user_id, roles), "Roles saved.", "account.roles",
                   user_id, {"roles": ",".join(sorted(roles))})


@bp.post("/<int:user_id>/safeguarding-lead")
@roles_required("admin")
def set_safeguarding_lead(user_id: int):
    """Mark or unmark a user as designated safeguarding lead (``lead`` = 1 or 0); audited with
    who did it and when (the audit log's own time)."""
    lead = request.form.get("lead") == "1"
    user = accounts.get_user(get_db(), user_id)
    name = user.display_name if user else "them"
    done = (f"{name} is now a designated safeguarding lead: they decide sign-offs of photos holding "
            "someone who must never be published." if lead else
            f"{name} is no longer a designated safeguarding lead.")
    return _change(lambda: accounts.set_safeguarding_lead(get_db(), user_id, lead), done,
                   "account.safeguarding_lead_set" if lead else "account.safeguarding_lead_removed", user_id)


@bp.post("/<int:user_id>/active")
@roles_required("admin")
def set_active(user_id: int):
    active = request.form.get("active") == "1"
    done = "Account turned back on." if active else "Account turned off: they can no longer sign in."
    return _change(lambda: accounts.set_active(get_db(), user_id, active), done,
                   "account.on" if active else "account.off", user_id)


@bp.post("/<int:user_id>/password")
@roles_required("admin")
def set_password(user_id: int):
    password = request.form.get("password", "")
    response = _change(
        lambda: accounts.set_password(get_db(), user_id, password, current_app.config["CONSENT_SETTINGS"]),
        "Password changed. Every session of that account is signed out.", "account.password", user_id,
    )
    if user_id == g.user.id and response.status_code == 302:
        sign_in(g.user)  # an admin resetting their own password stays signed in here
    return response


@bp.post("/<int:user_id>/tokens")
@roles_required("admin")
def create_token(user_id: int):
    try:
        days = current_app.config["CONSENT_SETTINGS"].api_token_days
        token = accounts.create_api_token(get_db(), user_id, request.form.get("label", ""), days)
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _page(400)
    log_event(get_db(), g.user.username, "token.created", None, {"user": user_id, "label": request.form.get("label", "")})
    # shown once, in this response only (never put in the session cookie or a log)
    return _page(201, new_token=token, new_token_user=accounts.get_user(get_db(), user_id),
                 new_token_expires=time.time() + days * 86400)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id: int):
    try:
        accounts.revoke_api_token(get_db(), token_id)
    except accounts.AccountError as exc:
        flash(str(exc).capitalize() + ".", "error")
        return _page(404)
    log_event(get_db(), g.user.username, "token.revoked", None, {"token": token_id})
    flash("API token revoked: it stops working at once.", "info")
    return redirect(url_for("users.index"))
