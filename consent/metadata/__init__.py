"""Identifying metadata in photos: find it (:func:`scan`) and remove it (:func:`make_safe_copy`).

A photo straight from a phone or camera carries far more than its pixels: where it was taken
(GPS), when, the camera's serial number, the owner's name, the editing software, maker notes,
XMP (with people tags and named face regions), IPTC captions and keywords, comments and
embedded thumbnails that can show the scene before it was cropped. Publishing any of that next
to a pupil's picture is the risk this package removes.

Both work from a :class:`consent.images.Photo`, the photo's bytes read once (a path is read into
one first): ``scan`` walks the file's own structure (JPEG marker segments, PNG chunks, WebP RIFF chunks;
Pillow for TIFF and HEIC) and reports every item, grouped by the stable codes in
:data:`GROUPS`. Broken or hostile metadata never raises: it becomes a ``problems`` entry.

``make_safe_copy`` writes a publication-safe copy holding only what correct display needs: the
ICC colour profile and the orientation. JPEG picture data is copied byte for byte (the marker
segments are rewritten, nothing is re-encoded), PNG and WebP keep their image chunks verbatim,
HEIC/HEIF and TIFF become a high-quality JPEG with the orientation applied. The copy is written
atomically, then re-read and checked; if anything identifying survived it is deleted and
:class:`~consent.errors.SafeCopyFailed` is raised (fail closed).

Orientation is kept the way the original carries it: JPEG, PNG and WebP copies get a fresh
minimal EXIF block holding only the Orientation tag (when it is not 1) instead of rotated
pixels. That keeps the picture data byte for byte (a lossy WebP is never re-encoded), and the
copy displays exactly as the original did in every viewer, whatever that viewer makes of the
tag. HEIC/HEIF and TIFF are decoded anyway, so there the orientation is applied to the pixels.

The package reads by format; this module is its public API and the only one callers import:

- :mod:`.report`: the result dataclasses (:class:`MetadataReport`, :class:`SafeCopy`) and the
  group codes;
- :mod:`.scanning`: open a photo's bytes and hand its container to the format that reads it,
  once per photo;
- :mod:`.jpeg`, :mod:`.png`, :mod:`.webp`: walk, scan and rewrite each container;
- :mod:`.pillow_formats`: TIFF and HEIC/HEIF, read through Pillow and re-encoded;
- :mod:`.exif` (with Photoshop resources), :mod:`.xmp`, :mod:`.iptc`: the metadata blocks
  the containers carry;
- :mod:`.write`: the atomic write and the re-read that verifies every copy;
- :mod:`.common`: small parsing helpers they all share.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SafeCopyFailed, UnreadableImage
from ..images import Photo, copy_suffix, describe, file_hash
from ..settings import DEFAULTS, Settings
from . import jpeg, pillow_formats, png, webp
from .common import Parsed
from .report import GROUP_LABELS, GROUPS, MetadataItem, MetadataReport, SafeCopy
from .scanning import scan_opened
from .write import verify_copy, write_atomic

__all__ = [
    "GROUPS", "GROUP_LABELS", "MetadataItem", "MetadataReport", "SafeCopy", "make_safe_copy",
    "safe_name", "safe_suffix", "scan",
]


def _photo(source: Photo | os.PathLike | str, settings: Settings) -> Photo:
    """``source`` itself, or the photo at the path ``source`` (read once)."""
    return source if isinstance(source, Photo) else Photo.read(source, settings)


def scan(source: Photo | os.PathLike | str, settings: Settings = DEFAULTS) -> MetadataReport:
    """Report every identifying metadata item in a photo (a :class:`~consent.images.Photo`, or
    the path of one), scanned from its bytes once.

    Raises the errors of :func:`consent.images.open_bytes` (missing, empty, not an image,
    unsupported format, too many pixels); broken metadata only adds ``problems``.
    """
    return _scanned(_photo(source, settings))[0]


def _scanned(photo: Photo) -> tuple[MetadataReport, Parsed]:
    """The photo's metadata report and its container's parts, scanned from its header and bytes
    once (kept on the photo: the check's analysis and its safe copy share one scan)."""
    if photo.scanned is None:
        photo.scanned = scan_opened(photo.path, photo.header, photo.data, photo.damaged)
    return photo.scanned


def safe_suffix(src: Photo | os.PathLike | str) -> str:
    """The file ending a safe copy of ``src`` gets: ``.png``, ``.webp`` or ``.jpg``."""
    if isinstance(src, Photo):
        return src.suffix
    try:
        with open(src, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return ".jpg"
    return copy_suffix(head)


def safe_name(src: Photo | os.PathLike | str) -> str:
    """A neutral file name for a safe copy: ``photo-<first 12 hex of sha256>.jpg``.

    Nothing of the original name survives (it often holds a pupil's name); the ending follows
    the copy's format (see :func:`safe_suffix`).
    """
    sha = src.sha256 if isinstance(src, Photo) else file_hash(src)
    return f"photo-{sha[:12]}{safe_suffix(src)}"


def make_safe_copy(
    source: Photo | os.PathLike | str,
    dst: os.PathLike | str,
    settings: Settings = DEFAULTS,
) -> SafeCopy:
    """Write a publication-safe copy of a photo (a :class:`~consent.images.Photo`, or the path
    of one) to ``dst``, made from its bytes, and return what was done.

    Only the ICC colour profile and the orientation are kept. The original is never touched;
    ``dst`` appears only once the copy has been re-read and found clean. Raises
    :class:`UnreadableImage` when the picture itself is truncated or corrupted (no file is
    written), the other errors of :func:`consent.images.open_bytes`, and
    :class:`SafeCopyFailed` when the copy cannot be written or did not verify.
    """
    photo = _photo(source, settings)
    src, dst = photo.path, Path(dst)
    if _same_file(src, dst):
        raise SafeCopyFailed(
            f"{dst}: this is the original photo itself; choose another folder or name for the "
            "safe copy"
        )
    if photo.format != "TIFF":  # (a TIFF is decoded when re-encoded; loading drops its orientation)
        # the check's own decision on damaged data: what it refuses is never copied either
        photo.check_whole()
    report, parsed = _scanned(photo)
    data, icc = photo.data, parsed.icc
    fmt = report.format
    orientation = report.orientation
    reencoded = fmt not in ("JPEG", "PNG", "WebP")
    if not reencoded:
        _check_structure(src, fmt, parsed)
    if fmt == "JPEG":
        payload = jpeg.clean(data, parsed, orientation)
    elif fmt == "PNG":
        payload = png.clean(data, parsed, orientation)
    elif fmt == "WebP":
        payload = webp.clean(data, parsed, orientation)
    else:
        img = photo.open()
        try:
            payload, icc = pillow_formats.reencode(src, img, orientation, icc, settings)
        finally:
            img.close()
        orientation = 1
    kept = []
    if icc:
        kept.append("ICC colour profile")
    if orientation != 1:
        kept.append(f"orientation {orientation}")
    elif reencoded and report.orientation != 1:
        kept.append(f"orientation {report.orientation} applied to the pixels")
    format_out = fmt if fmt in ("PNG", "WebP") else "JPEG"

    def verify(tmp: Path) -> None:
        verify_copy(tmp, src, dst, orientation, icc, decode=not reencoded, settings=settings)

    write_atomic(dst, payload, verify)
    return SafeCopy(
        src=src,
        dst=dst,
        format_in=report.format,
        format_out=format_out,
        removed=report,
        kept=kept,
        reencoded=reencoded,
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


#: for each container: the parts without which there is no picture
_PICTURE_PARTS = {
    "JPEG": [jpeg.SOF_MARKERS, {0xDA}],
    "PNG": [{b"IHDR"}, {b"IDAT"}],
    "WebP": [{b"VP8 ", b"VP8L", b"ANMF"}],
}


def _check_structure(src: Path, fmt: str, parsed: Parsed) -> None:
    """Refuse a JPEG/PNG/WebP whose structure is cut short or holds no picture at all."""
    if parsed.extra.get("truncated"):
        what = "truncated (it stops before the end of the image)"
    elif "damaged" in parsed.extra:
        what = f"damaged (no valid marker at byte {parsed.extra['damaged']})"
    elif not all(any(part[0] in wanted for part in parsed.parts)
                 for wanted in _PICTURE_PARTS[fmt]):
        what = "damaged (the file holds no complete picture)"
    else:
        return
    raise UnreadableImage(
        f"{describe(src)}: the picture data is {what}; copy the original photo from the camera "
        "again"
    )
