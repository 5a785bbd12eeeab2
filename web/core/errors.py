"""Error pages: one plain sentence saying what happened and what to do; JSON for scripts and the API."""

from __future__ import annotations

from flask import Flask, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from consent.errors import (ConsentError, ImageTooLarge, ModelUnavailable, SafeCopyFailed, UnreadableImage,
                            UnsupportedFormat, without_paths)

from .security import CsrfError
from .words import for_reader

#: status -> (title, what to do), written for school office staff
MESSAGES = {
    400: ("Something was missing from that request", "Go back, check the form and try again."),
    401: ("Please sign in", "Sign in to carry on."),
    403: (
        "Your account cannot open this page",
        "Ask the person who manages consent to give your account the right role.",
    ),
    404: ("Page not found", "The link may be old, or the item was removed or has expired."),
    405: ("That action is not allowed here", "Go back and use the buttons on the page."),
    413: ("The upload is too large", "Send fewer or smaller photos at a time."),
    415: ("That file is not a photo this tool can check", "Send a JPEG, PNG, WebP, TIFF or HEIC photo."),
    422: ("The photo could not be checked", "Try another copy of the photo."),
    429: (
        "Too many attempts to sign in",
        "Wait 15 minutes and try again, or ask an admin to help.",
    ),
    500: ("Something went wrong on our side", "Try again; if it keeps happening, tell your IT support."),
}




def wants_json() -> bool:
    """Scripts (our own JS, the API) get JSON errors; people get pages."""
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return True
    if request.headers.get("X-Requested-With") == "fetch":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


#: the heading of a page for a refusal that is not about a photo (an unknown person, a bad filter)
NOT_DONE = ("That could not be done", "Go back, check what you entered and try again.")


def error_response(status: int, message: str | None = None, code: str | None = None, title: str | None = None):
    """A page (or JSON body) for ``status``, with ``message`` in place of the standard one
    (and ``title`` in place of the standard heading)."""
    heading, advice = MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    title = title or heading
    if status == 413 and message is None:
        limit = request.max_content_length
        if limit:
            size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
            advice = f"The most you can send at once is {size}. " + advice
    text = for_reader(without_paths(message or advice))
    if wants_json():
        return jsonify({"error": {"code": code or f"http_{status}", "message": text}}), status
    return render_template("error.html", status=status, title=title, message=text), status


def register(app: Flask) -> None:
    @app.errorhandler(CsrfError)
    def csrf_refused(exc):
        return error_response(
            400,
            "This form has expired or did not come from this site. Reload the page and try again.",
            "csrf",
        )

    @app.errorhandler(ConsentError)
    def consent_error(exc):
        # user-caused problems the library names plainly (bad photo, unknown person, ...); only
        # a photo's own problems are headed "The photo could not be checked"
        about_a_photo = isinstance(exc, (UnreadableImage, UnsupportedFormat, ImageTooLarge, SafeCopyFailed,
                                         ModelUnavailable))
        return error_response(422, str(exc), exc.code, title=None if about_a_photo else NOT_DONE[0])

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if exc.code == 401 and not wants_json():
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return error_response(exc.code or 500, exc.description if getattr(exc, "plain", False) else None)

    @app.errorhandler(Exception)
    def unexpected(exc):
        app.logger.exception("unexpected error on %s", request.path)
        return error_response(500)


def plain_abort(status: int, message: str):
    """Stop the request with ``status`` and show ``message`` (one sentence for staff) as is."""
    from werkzeug.exceptions import default_exceptions

    exc = default_exceptions[status](description=message)
    exc.plain = True
    raise exc
