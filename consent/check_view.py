"""Read the register into a :class:`~consent.check.RegisterView` for judging photos."""

from __future__ import annotations

import hashlib

from .check import Person, RegisterView
from .rules import PersonNames
from .settings import DEFAULTS, Settings


def load_view(reg, settings: Settings = DEFAULTS) -> RegisterView:
    """Snapshot people, today's consent states, never-publish flags and the face gallery.

    Leavers stay in the view (old photos still show them, and their consent still applies)
    but are not "on roll" for caption checks.
    """
    version = reg.version()
    channels = reg.channel_names()
    people = {}
    on_roll = set()
    for p in reg.people(admin=True):
        people[p.id] = Person(
            id=p.id,
            names=PersonNames(
                person_id=p.id, first=p.legal_forename, surname=p.legal_surname,
                preferred=p.preferred_forename, preferred_surname=p.preferred_surname, role=p.role,
            ),
            display_name=p.display_name,
            role=p.role,
            never_publish=p.never_publish,
            never_publish_reason=p.never_publish_reason,
        )
        if p.on_roll():
            on_roll.add(p.id)
    states = reg.consent_states_many(list(people), channels=channels)
    consent = {(pid, ch): state.status for pid, by_channel in states.items() for ch, state in by_channel.items()}
    gallery = reg.gallery()
    fingerprint = "empty"
    if len(gallery):
        digest = hashlib.sha256(gallery.person_ids.tobytes())
        digest.update(gallery.matrix.tobytes())
        fingerprint = digest.hexdigest()[:20]
    else:
        gallery = None
    view = RegisterView(
        version=version, channels=channels, people=people, consent=consent,
        gallery=gallery, gallery_fingerprint=fingerprint, on_roll=on_roll,
    )
    return view
