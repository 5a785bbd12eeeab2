"""Errors a user can cause, each with a message that names the file or row and says what to do.

Every exception here is expected: the command line and the web app show ``str(error)`` to the
user and carry on with the next file. Anything else escaping the library is a bug.
"""

from __future__ import annotations

import re


class ConsentError(Exception):
    """Base class: ``str(error)`` is one plain sentence for school office staff."""

    #: stable short code for JSON output and tests
    code = "error"


class UnreadableImage(ConsentError):
    """The file is empty, not an image, truncated or corrupted."""

    code = "unreadable_image"


class UnsupportedFormat(ConsentError):
    """An image format the tool does not accept (e.g. GIF, BMP, PDF)."""

    code = "unsupported_format"


class ImageTooLarge(ConsentError):
    """More pixels than the configured limit (protects against decompression bombs)."""

    code = "image_too_large"


class SafeCopyFailed(ConsentError):
    """A publication-safe copy could not be written or failed verification (nothing was kept)."""

    code = "safe_copy_failed"


class SettingsError(ConsentError):
    """``settings.toml`` has an unknown key or a value of the wrong type."""

    code = "settings_error"


class RegisterError(ConsentError):
    """A register operation was refused (unknown person, bad value, ...)."""

    code = "register_error"


class RegisterBusy(RegisterError):
    """Another process held the register for too long; trying again later will work."""

    code = "register_busy"


class RegisterFull(RegisterError):
    """The disk holding the register is full; the change was rolled back."""

    code = "register_full"


class UnknownChannel(RegisterError):
    """A channel name the register does not have (e.g. a typo, or a channel not added yet)."""

    code = "unknown_channel"


class UnknownGroup(RegisterError):
    """A year group or class asked for that nobody in the register has (e.g. a typo)."""

    code = "unknown_group"


class NotALookalike(RegisterError):
    """An answer about who a face is, for a face that is not (or no longer) a "looks like"."""

    code = "not_a_lookalike"


class PersonNotFound(RegisterError):
    code = "person_not_found"


class AmbiguousPerson(RegisterError):
    code = "ambiguous_person"


class EnrolmentRefused(RegisterError):
    """An enrolment photo was refused (no face, several faces, too small or blurred)."""

    code = "enrolment_refused"


class NoBiometricConsent(RegisterError):
    """A face template was refused: the person's biometric consent is not granted."""

    code = "no_biometric_consent"


class ImportRefused(RegisterError):
    """A whole MIS export was refused (unreadable, or no column for the MIS id)."""

    code = "import_refused"


class CsvRowRejected(RegisterError):
    """One row of an MIS export could not be imported; the other rows still are."""

    code = "csv_row_rejected"

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


class KitProfileError(ConsentError):
    """The school kit profile could not be learned or read (no usable photos, damaged file)."""

    code = "kit_profile_error"


class ModelUnavailable(ConsentError):
    """A model file that ships in an installed package is missing or broken.

    The check fails closed: the photo needs review, with this message saying which file and
    how to reinstall.
    """

    code = "model_unavailable"


#: an absolute path in a message (its last part is group 1)
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")


def without_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part: what users read never shows
    the server's folders (``.../data/web/checks/<id>/safe/x.jpg`` becomes ``x.jpg``)."""
    return _PATH.sub(lambda m: m.group(1), message)


class UnreadableVideo(ConsentError):
    """A video file that is empty, damaged, cut short, has no picture, or a container the tool
    does not read (consent.video)."""

    code = "unreadable_video"


class VideoTooLarge(ConsentError):
    """A video longer than ``video_max_seconds`` or with frames larger than ``video_max_pixels``."""

    code = "video_too_large"
