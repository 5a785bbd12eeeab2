"""Admin: the settings in force, each with its default, safe range and what it does, changed in
the page.

A change is checked (type, and the setting's safe range from ``consent.settings``): a value
outside it is refused, the page shown again with the bad field named and the other edits kept.
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
import inspect
import os
from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from consent import settings as consent_settings
from consent.errors import SettingsError
from consent.settings import DEFAULTS, Settings, label, limits, out_of_range, problems, weakened

from ..audit.audit_log import log_event
from ..core.security import roles_required
from ..core.db import get_db

bp = Blueprint("settings", __name__, url_prefix="/admin/settings", template_folder="templates")


def _help() -> dict[str, str]:
    """Each setting's ``#:`` comment in consent/settings.py, as one sentence."""
    helps, lines = {}, []
    for raw in inspect.getsource(Settings).splitlines():
        text = raw.strip()
        if text.startswith("#:"):
            lines.append(text[2:].strip())
        elif text.startswith("#") and lines:
            lines.append(text[1:].strip())
        elif ":" in text and not text.startswith(("#", "def", "class", '"', "return")) and lines:
            helps[text.split(":", 1)[0].strip()] = " ".join(lines)
            lines = []
        elif not text.startswith("#"):
            lines = []
    return helps


def _path() -> Path:
    return Path(current_app.config["CONSENT_DATA"]) / "settings.toml"


def _shown(value) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


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
    label = name.replace("_", " ")
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
        raise SettingsError(f"{label}: “{text}” is not {kind}") from None
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
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_mb * 1024 * 1024


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


def _page(settings: Settings, submitted: dict | None = None, errors: dict | None = None,
          confirm: list | None = None, token: str = "", status: int = 200):
    """The settings page: ``settings`` in force, or the form as ``submitted`` with each refused
    field's ``errors`` and the weakenings to ``confirm``."""
    helps, submitted, errors = _help(), submitted or {}, errors or {}
    rows = [
        {"name": f.name, "label": label(f.name),
         "value": submitted.get(f.name, _shown(getattr(settings, f.name))),
         "default": _shown(getattr(DEFAULTS, f.name)), "help": helps.get(f.name, ""),
         "range": _range(f.name), "why": limits()[f.name].why, "error": errors.get(f.name),
         "changed": getattr(settings, f.name) != getattr(DEFAULTS, f.name)}
        for f in dataclasses.fields(settings)
    ]
    return render_template("settings/settings.html", rows=rows, path=_path(), errors=errors, confirm=confirm or [],
                           token=token), status


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
            errors[f.name] = f"{label(f.name)} {why}"
        values[f.name] = value
    if not errors:
        errors = {name: f"{label(name)} {why}" for name, why in problems(dataclasses.replace(DEFAULTS, **values))}
    if errors:
        flash(f"Nothing was changed: {'; '.join(errors.values())}.", "error")
        return _page(current, submitted, errors, status=400)
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
    changes = [f"{label(k)}: {_shown(getattr(current, k))} → {_shown(getattr(new, k))}" for k in changed]
    detail = {"changes": "; ".join(changes)}  # each "name: old → new"; who is the event's user
    if newly_weak:
        detail["weakens"] = "; ".join(w.words for w in newly_weak)
    log_event(get_db(), g.user.username, "settings.changed", None, detail)
    weak = f" This weakens: {detail['weakens']}." if newly_weak else ""
    flash(f"Saved and in force now: {'; '.join(changes)}.{weak}", "info")
    return redirect(url_for("settings.index"))
