"""The consent register: people, consent per channel, face templates, the audit log.

Modules, each with one job (none reaches into another's private names):

- :mod:`.store`: the :class:`Register` itself (one SQLite file, WAL, every change audited);
- :mod:`.schema`: its sqlite-utils migrations and built-in channels;
- :mod:`.records`: the plain records it hands out (people, consent states, templates) and the
  rules for names and dates;
- :mod:`.housekeeping`: leavers' purge, subject-access export, backup and restore;
- :mod:`.mis`: the MIS CSV import; :mod:`.enrolment`: reference face photos;
- :mod:`.matching`: faces against the enrolled gallery; :mod:`.view`: the snapshot a check
  judges against.

``from consent.register import Register`` is the way in; the rest is imported from its module.
"""

from .records import (
    BIOMETRIC,
    PERSON_FIELDS,
    RECORDED_STATUSES,
    ROLES,
    SOURCES,
    STATUSES,
    AuditEntry,
    Channel,
    ConsentRecord,
    ConsentState,
    EnrolmentStrength,
    Person,
    Template,
    TemplateDue,
    as_date,
    channel_key,
    clean_person_fields,
    iso_date,
    name_key,
    today,
)
from .store import Register, default_path

__all__ = [
    "BIOMETRIC", "PERSON_FIELDS", "RECORDED_STATUSES", "ROLES", "SOURCES", "STATUSES",
    "AuditEntry", "Channel", "ConsentRecord", "ConsentState", "EnrolmentStrength", "Person", "Register", "Template",
    "TemplateDue", "as_date", "channel_key", "clean_person_fields", "default_path", "iso_date",
    "name_key", "today",
]
