"""Admin: the settings in force (read-only; they are changed in ``settings.toml`` in the data
folder, then the server is restarted)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import Blueprint, current_app, render_template

from consent.settings import DEFAULTS

from .security import roles_required

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


@bp.get("/")
@roles_required("admin")
def index():
    settings = current_app.config["CONSENT_SETTINGS"]
    rows = [
        {"name": f.name, "value": getattr(settings, f.name), "default": getattr(DEFAULTS, f.name),
         "changed": getattr(settings, f.name) != getattr(DEFAULTS, f.name)}
        for f in dataclasses.fields(settings)
    ]
    path = Path(current_app.config["CONSENT_DATA"]) / "settings.toml"
    return render_template("settings.html", rows=rows, path=path, exists=path.exists())
