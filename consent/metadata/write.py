"""Writing a safe copy: to a temporary file beside the destination, re-read and checked, then
moved into place; a copy that still holds anything identifying is deleted (fail closed)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from PIL import Image

from ..errors import ConsentError, SafeCopyFailed, UnreadableImage
from ..images import Photo, describe
from ..settings import Settings
from .report import GROUP_LABELS
from .scanning import scan_opened


def write_atomic(dst: Path, payload: bytes, verify) -> None:
    """Write ``payload`` to a temporary file beside ``dst``, ``verify`` it, then move it in."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise SafeCopyFailed(
            f"{dst}: cannot write the safe copy ({exc.strerror}); check the folder exists and "
            "you may write to it"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        verify(tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SafeCopyFailed(
            f"{dst}: cannot write the safe copy ({exc.strerror}); check there is space and "
            "you may write to the folder"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def verify_copy(tmp: Path, src: Path, dst: Path, orientation: int, icc: bytes | None,
                decode: bool, settings: Settings) -> None:
    """Re-read the written copy (a photo of its own, read once): nothing identifying, same
    orientation and ICC, decodes."""
    try:
        copy = Photo.read(tmp, settings)
    except ConsentError as exc:
        raise SafeCopyFailed(f"{dst}: the safe copy could not be read back ({exc}); "
                             "nothing was written") from None
    img = copy.header  # the copy's own: decoded here, then scanned
    try:
        if decode:
            # Decode first: reading a PNG's orientation could otherwise decode it silently.
            try:
                if img.format in ("JPEG", "MPO"):
                    # DCT scaling: every scan is still read, at a fraction of the cost
                    img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
            except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                    struct.error) as exc:
                raise UnreadableImage(
                    f"{describe(src)}: the picture data is truncated or corrupted ({exc}); "
                    "copy the original photo from the camera again"
                ) from None
        check, parsed = scan_opened(dst, img, copy.data, copy.damaged)
        leftovers = [f"{GROUP_LABELS[i.group]} ({i.name})" for i in check.items]
        leftovers += check.problems
        if check.orientation != orientation:
            leftovers.append(f"orientation {check.orientation} instead of {orientation}")
        if (parsed.icc or None) != (icc or None):
            leftovers.append("a changed colour profile")
        if leftovers:
            raise SafeCopyFailed(
                f"{dst}: the safe copy still contained {', '.join(leftovers[:4])}; it was "
                "deleted and nothing was written (please report this file)"
            )
    finally:
        img.close()
