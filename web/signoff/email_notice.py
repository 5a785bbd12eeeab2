"""Sign-off emails, only when the school configures a mail server (``smtp_host``; off by default)
and the address staff open the app at (``public_url``).

Links in emails are made from ``public_url`` and the page's path (:func:`link`), never from the
request: a request's Host header is whatever its sender wrote, and a sign-off request sent with
``Host: consent-school.evil.example`` put that address in the seniors' email (issue 27).

The in-app count in the header is the main notice; an email is a convenience. It is sent on a
background thread so a slow or missing mail server never holds up a page, and a failure is
logged, never shown as an error to the person who sent the photo.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage

log = logging.getLogger(__name__)


def addresses(text: str) -> list[str]:
    """The addresses in a comma-separated setting (anything without an ``@`` is ignored)."""
    return [a.strip() for a in (text or "").split(",") if "@" in a]


def link(endpoint: str, **values) -> str:
    """The address of a page for an email: ``public_url`` and the page's own path (built from
    the app's routes alone, not from the request)."""
    from flask import current_app

    base = current_app.config["CONSENT_SETTINGS"].public_url.rstrip("/")
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


def send(settings, to: list[str], subject: str, body: str, *, wait: bool = False) -> threading.Thread | None:
    """Email ``to`` when SMTP and ``public_url`` are configured; returns the sending thread
    (None: nothing to send)."""
    if not settings.smtp_host or not to:
        return None
    if not settings.public_url:
        log.warning("sign-off email not sent: set public_url (the address staff open this app at) "
                    "on the Settings page; links in emails are made from it")
        return None
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)

    def deliver():
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("sign-off email to %s not sent: %s", ", ".join(to), exc)

    thread = threading.Thread(target=deliver, name="consent-email", daemon=True)
    thread.start()
    if wait:
        thread.join()
    return thread


def photos_waiting(settings, names: list[str], sender: str, note: str, link: str):
    """Tell the seniors that photos wait for their sign-off (no names of pupils: file names only)."""
    count = len(names)
    listed = "\n".join(f"- {n}" for n in names[:50]) + ("\n- …" if count > 50 else "")
    body = (f"{sender} sent {count} photo{'' if count == 1 else 's'} for your sign-off:\n{listed}\n\n"
            + (f"Their note: {note}\n\n" if note else "") + f"Decide here: {link}\n")
    return send(settings, addresses(settings.signoff_email_to),
                f"{count} photo{'' if count == 1 else 's'} waiting for your sign-off", body)


def decision_made(settings, to_username: str, photo: str, decision: str, note: str, link: str):
    """Tell the sender what the senior decided, at <user name>@``staff_email_domain``."""
    domain = settings.staff_email_domain.strip().lstrip("@")
    if not domain:
        return None
    words = "approved" if decision == "approved" else "not approved"
    body = f"{photo} was {words}." + (f"\nThe senior's note: {note}" if note else "") + f"\n\nSee it here: {link}\n"
    return send(settings, addresses(f"{to_username}@{domain}"), f"Sign-off: {photo} {words}", body)
