"""Admin: the settings in force, each with its default and what it does, changed in the page.

A change is checked (type, and no negative number where the default is not negative), written
atomically to ``settings.toml`` in the data folder, recorded in the audit log and applied at
once: every request compares the file's time with the one it was read at, so the server picks
it up without a restart (so does a hand edit of the file). Batch worker processes read the
settings when they start.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from consent import settings as consent_settings
from consent.errors import SettingsError
from consent.settings import DEFAULTS, Settings

from .audit_log import log_event
from .security import roles_required
from .tables import get_db

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


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
    if default >= 0 and value < 0:
        raise SettingsError(f"{label} cannot be negative")
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


@bp.get("/")
@roles_required("admin")
def index():
    settings = current_app.config["CONSENT_SETTINGS"]
    helps = _help()
    rows = [
        {"name": f.name, "label": f.name.replace("_", " "), "value": _shown(getattr(settings, f.name)),
         "default": _shown(getattr(DEFAULTS, f.name)), "help": helps.get(f.name, ""),
         "changed": getattr(settings, f.name) != getattr(DEFAULTS, f.name)}
        for f in dataclasses.fields(settings)
    ]
    return render_template("settings.html", rows=rows, path=_path())


@bp.post("/")
@roles_required("admin")
def save():
    """Change the settings from the form: every value checked before anything is written."""
    current = current_app.config["CONSENT_SETTINGS"]
    overrides, changes = {}, []
    try:
        for f in dataclasses.fields(Settings):
            if f.name not in request.form:
                value = getattr(current, f.name)
            else:
                value = _parse(f.name, request.form[f.name])
            if value != getattr(DEFAULTS, f.name):
                overrides[f.name] = list(value) if isinstance(value, tuple) else value
            if value != getattr(current, f.name):
                changes.append(f"{f.name.replace('_', ' ')}: {_shown(getattr(current, f.name))} → {_shown(value)}")
        new = consent_settings.from_mapping(overrides, source="the settings form")
    except SettingsError as exc:
        flash(f"Nothing was changed: {exc}.", "error")
        return redirect(url_for("settings.index"))
    if not changes:
        flash("Nothing to change: every value is as it was.", "info")
        return redirect(url_for("settings.index"))
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, _toml({k: getattr(new, k) for k in overrides}))
    current_app.extensions["consent_settings_stamp"] = path.stat().st_mtime_ns
    apply(current_app, new)
    log_event(get_db(), g.user.username, "settings.changed", None, {"changes": "; ".join(changes)})
    flash(f"Saved and in force now: {'; '.join(changes)}.", "info")
    return redirect(url_for("settings.index"))
