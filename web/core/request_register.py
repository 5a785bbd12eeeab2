"""The consent register for one request (opened on first use, closed at teardown), like
Flask's tutorial ``get_db()``. Changes are audited as the signed-in user."""

from __future__ import annotations

from flask import current_app, g


def get_register():
    """The request's :class:`consent.register.Register`."""
    if "register" not in g:
        from consent.register import Register

        user = g.user.username if getattr(g, "user", None) else "web"
        g.register = Register(
            current_app.config["CONSENT_DB"], settings=current_app.config["CONSENT_SETTINGS"], user=user
        )
    return g.register


def close_register(exc=None) -> None:
    reg = g.pop("register", None)
    if reg is not None:
        reg.close()


def nobody_enrolled() -> bool:
    """True while nobody in the register has a reference photo: every face is "not recognised"."""
    return get_register().enrolled_count() == 0


def needing_new_photo() -> int:
    """How many people are enrolled only with the old face model (they need a new photo)."""
    return len(get_register().needs_new_photo())


def enrolment_context() -> dict:
    """For a blueprint's ``context_processor``: ``nobody_enrolled()`` and
    ``needing_new_photo()`` in its templates."""
    return {"nobody_enrolled": nobody_enrolled, "needing_new_photo": needing_new_photo}


def channel_choices() -> list[tuple[str, str]]:
    """(name, label) of every publication channel, in register order."""
    return [(c.name, c.label) for c in get_register().channels()]
