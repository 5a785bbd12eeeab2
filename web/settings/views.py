"""Admin: the settings in force, changed in the page, grouped by what a school decides (the
school, what may be published, signing in) with the server's limits and the checks' measured
thresholds folded away under "Expert" (``consent.settings.GROUPS`` and ``ABOUT``: each setting's
title, one plain line on what it changes, and the figure a threshold was chosen from).

A change is checked (type, and the setting's safe range from ``consent.settings``): a value
outside it is refused, the page shown again with that field marked and why, every other edit
kept in the form, and nothing saved until all are right.
A change that weakens a safety check compared with its default is saved only on a second submit
with "I understand this weakens: ..." ticked. A saved change is written atomically to
``settings.toml`` in the data folder, recorded in the audit log (who, old and new values, what
it weakens) and applied at once: every request compares the file's time with the one it was
read at, so the server picks it up without a restart (so does a hand edit of the file). Batch
worker processes compare it before each photo (``consent.jobs.batch_queue.worker_state``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from consent import settings as consent_settings
from consent.errors import SettingsError
from consent.settings import DEFAULTS, Settings, limits, out_of_range, problems, weakened

from ..audit.audit_log import log_event
from ..core.body_limits import form_limit
from ..core.security import roles_required
from ..core.db import get_db

bp = Blueprint("settings", __name__, url_prefix="/admin/settings", template_folder="templates")


def _path() -> Path:
    return Path(current_app.config["CONSENT_DATA"]) / "settings.toml"


def _shown(value) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _said(value) -> str:
    """A value as the flash and the audit log say it: "on"/"off" for a switch."""
    return ("on" if value else "off") if isinstance(value, bool) else _shown(value)


def _range(name: str) -> str:
    """A setting's safe range in words ("10 to 80 px, or 0: off"), "" when it has none."""
    lim = limits()[name]
    if lim.lo is None:
        return ""
    off = f", or {lim.off}: off" if lim.off is not None else ""
    return f"{lim.lo} to {lim.hi}{lim.unit}{off}"


def _parse(name: str, text: str):
    """The form's text for setting ``name`` as its type; ``SettingsError`` if it is not one."""
    default = getattr(DEFAULTS, name)
    text = text.strip()
    try:
        if isinstance(default, tuple):
            return tuple(w.strip().lower() for w in text.split(",") if w.strip())
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            value = int(text)
        elif isinstance(default, float):
            value = float(text)
        else:
            return text
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise SettingsError(f"“{text}” is not {kind}") from None
    return value


def _toml(values: dict) -> str:
    def one(v):
        if isinstance(v, tuple):
            return "[" + ", ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)

    head = "# Settings changed from their defaults (edited in the web app; `consent settings` lists all).\n"
    return head + "".join(f"{k} = {one(v)}\n" for k, v in values.items())


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def apply(app, settings: Settings) -> None:
    """Put ``settings`` in force for this server process."""
    app.config["CONSENT_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = form_limit(settings)  # as create_app: uploads get their own
    app.config["PERMANENT_SESSION_LIFETIME"] = settings.session_hours * 3600


def reload_if_changed(app) -> None:
    """Re-read ``settings.toml`` when it changed since this process read it (no restart needed)."""
    if app.config.get("CONSENT_SETTINGS_FIXED"):
        return
    path = Path(app.config["CONSENT_DATA"]) / "settings.toml"
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    seen = app.extensions.setdefault("consent_settings_stamp", stamp)
    if stamp == seen:
        return
    app.extensions["consent_settings_stamp"] = stamp
    try:
        apply(app, consent_settings.load(path))
    except SettingsError as exc:
        app.logger.error("settings not reloaded: %s", exc)


def _school_elsewhere() -> list[dict]:
    """The school's own choices kept on other pages (channels, safeguarding lead), to show
    beside the settings with where to change them."""
    from ..accounts import accounts
    from ..core.request_register import get_register

    channels = [c.label or c.name.replace("_", " ") for c in get_register().channels()]
    leads = [u.display_name or u.username for u in accounts.safeguarding_leads(get_db())]
    return [
        {"title": "Channels in use", "value": ", ".join(channels) or "none",
         "where": "added with consent register channels add, on the command line", "url": None},
        {"title": "Designated safeguarding lead", "value": ", ".join(leads) or "nobody yet",
         "where": "set on the Users page", "url": url_for("users.index")},
    ]


def _field(name: str, settings: Settings, submitted: dict, errors: dict) -> dict:
    """One setting as the page shows it."""
    about, lim = consent_settings.about(name), limits()[name]
    value, default = getattr(settings, name), getattr(DEFAULTS, name)
    return {"name": name, "title": about.title, "help": about.help, "figure": about.figure,
            "value": submitted.get(name, _shown(value)), "default": _shown(default),
            "kind": "bool" if isinstance(default, bool) else "words" if isinstance(default, tuple)
            else "string" if isinstance(default, str) else "number",
            "range": _range(name), "why": lim.why, "error": errors.get(name), "changed": value != default}


def _page(settings: Settings, submitted: dict | None = None, errors: dict | None = None,
          confirm: list | None = None, token: str = "", status: int = 200, kept: int = 0):
    """The settings page: ``settings`` in force, or the form as ``submitted`` with each refused
    field's ``errors`` and the weakenings to ``confirm``, grouped as :data:`consent.settings.GROUPS`."""
    submitted, errors = submitted or {}, errors or {}
    groups = {key: {"key": key, "title": title, "fields": []} for key, title in consent_settings.GROUPS.items()}
    names = [f.name for f in dataclasses.fields(settings)]
    for name in sorted(names, key=lambda n: list(consent_settings.ABOUT).index(n) if n in consent_settings.ABOUT else len(names)):
        groups[consent_settings.about(name).group]["fields"].append(_field(name, settings, submitted, errors))
    plain = [g for k, g in groups.items() if k not in consent_settings.EXPERT]
    expert = [g for k, g in groups.items() if k in consent_settings.EXPERT]
    in_expert = {f["name"] for g in expert for f in g["fields"]}
    expert_open = bool(in_expert & (set(errors) | {w.name for w in confirm or []}))
    titles = {f.name: consent_settings.about(f.name).title for f in dataclasses.fields(settings)}
    return render_template("settings/settings.html", groups=plain, expert=expert, expert_open=expert_open,
                           school=_school_elsewhere(), path=_path(), errors=errors, titles=titles,
                           kept=kept, confirm=confirm or [], token=token), status


@bp.get("/")
@roles_required("admin")
def index():
    return _page(current_app.config["CONSENT_SETTINGS"])


def _token(weakenings) -> str:
    """What the confirmation tick stands for: exactly these weakenings (a different set asks again)."""
    return hashlib.sha256("; ".join(w.words for w in weakenings).encode()).hexdigest()[:16]


@bp.post("/")
@roles_required("admin")
def save():
    """Change the settings from the form: every value checked before anything is written."""
    current = current_app.config["CONSENT_SETTINGS"]
    submitted = {f.name: request.form[f.name] for f in dataclasses.fields(Settings) if f.name in request.form}
    values, errors = {}, {}
    for f in dataclasses.fields(Settings):
        if f.name not in submitted:
            values[f.name] = getattr(current, f.name)
            continue
        try:
            value = _parse(f.name, submitted[f.name])
        except SettingsError as exc:
            errors[f.name] = str(exc)
            continue
        why = out_of_range(f.name, value)
        if why:
            errors[f.name] = why
        values[f.name] = value
    if not errors:
        errors = dict(problems(dataclasses.replace(DEFAULTS, **values)))
    if errors:
        # nothing is saved until every value is right, but every edit stays in the form
        kept = sum(1 for k in submitted if k not in errors and values.get(k) != getattr(current, k))
        return _page(current, submitted, {k: why[:1].upper() + why[1:] for k, why in errors.items()},
                     status=400, kept=kept)
    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v != getattr(DEFAULTS, k)}
    new = consent_settings.from_mapping(overrides, source="the settings form")
    changed = [k for k in values if values[k] != getattr(current, k)]
    if not changed:
        flash("Nothing to change: every value is as it was.", "info")
        return redirect(url_for("settings.index"))
    newly_weak = [w for w in weakened(new) if w.name in changed]
    if newly_weak and request.form.get("confirm_weakening") != _token(newly_weak):
        return _page(current, submitted, confirm=newly_weak, token=_token(newly_weak))
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, _toml({k: getattr(new, k) for k in overrides}))
    current_app.extensions["consent_settings_stamp"] = path.stat().st_mtime_ns
    apply(current_app, new)
    changes = [f"{consent_settings.about(k).title}: {_said(getattr(current, k))} → {_said(getattr(new, k))}"
               for k in changed]
    # each "title: old → new" in the page's words; the settings' own names for scripts
    detail = {"changes": "; ".join(changes), "settings": changed}
    if newly_weak:
        detail["weakens"] = "; ".join(w.words for w in newly_weak)
    log_event(get_db(), g.user.username, "settings.changed", None, detail)
    weak = f" This weakens: {detail['weakens']}." if newly_weak else ""
    flash(f"Saved and in force now: {'; '.join(changes)}.{weak}", "info")
    return redirect(url_for("settings.index"))
