"""Form fields more than one area reads the same way."""

from __future__ import annotations

from flask import request


def groups_asked() -> list[str]:
    """The year groups or classes who can be in the photos (the optional form field, "7, 8B";
    empty: everybody in the register)."""
    from consent.register.groups import parse

    return parse([request.form.get("groups", "")[:500]])
