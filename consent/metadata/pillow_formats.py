"""TIFF and HEIC/HEIF: read through Pillow (and pillow-heif); safe copies are re-encoded to a
JPEG holding only the ICC profile, with the orientation applied to the pixels."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from ..errors import ImageTooLarge, SafeCopyFailed, UnreadableImage
from ..images import UPRIGHT, describe, read_orientation, to_rgb
from ..settings import Settings
from . import exif, xmp
from .common import Parsed
from .report import MetadataReport


def scan_tiff(report: MetadataReport, img: Image.Image, parsed: Parsed) -> None:
    try:
        tags = img.getexif()
    except Exception:
        report.problem("TIFF tags are malformed; they will be dropped")
        tags = None
    if tags is not None:
        exif.scan(report, tags, "TIFF", parsed)
    icc = img.info.get("icc_profile")
    if icc:
        parsed.icc = icc
    pages = getattr(img, "n_frames", 1)
    if pages > 1:
        report.add("other", "TIFF pages", f"{pages - 1} more page(s); only the first is kept")


def scan_heif(report: MetadataReport, img: Image.Image, parsed: Parsed, data: bytes) -> None:
    info = img.info
    if info.get("exif"):
        raw = info["exif"]
        exif.scan(report, raw[6:] if raw.startswith(b"Exif\0") else raw, "HEIF EXIF")
    primary = bytes(info.get("xmp") or b"")
    if primary:
        xmp.scan(report, primary, "HEIF XMP")
    # XMP attached to other items (HDR gain map, depth map) is not in Pillow's info
    start = data.find(b"<x:xmpmeta")
    for _ in range(20):
        end = data.find(b"</x:xmpmeta>", start)
        if start < 0 or end < 0:
            break
        packet = data[start:end + 12]
        if packet not in primary:
            xmp.scan(report, packet, "HEIF XMP (second image)")
        start = data.find(b"<x:xmpmeta", end)
    if info.get("thumbnails"):
        sizes = ", ".join(f"{t}px" for t in info["thumbnails"])
        report.add("thumbnail", "HEIF thumbnails", f"{len(info['thumbnails'])} ({sizes})")
    if info.get("depth_images"):
        report.add("other", "HEIF depth map", f"{len(info['depth_images'])} image(s)")
    for block in info.get("metadata") or []:
        kind = block.get("type", "unknown") if isinstance(block, dict) else "unknown"
        report.add("other", "HEIF metadata block", kind)
    if info.get("icc_profile"):
        parsed.icc = info["icc_profile"]


def reencode(src: Path, img: Image.Image, orientation: int, icc: bytes | None,
             settings: Settings) -> tuple[bytes, bytes | None]:
    """Decode ``img`` upright and save it as a JPEG holding nothing but the ICC profile.

    Returns the JPEG bytes and the profile kept (None when there was none, or when it
    describes CMYK or grey and so cannot describe the RGB copy).
    """
    try:
        img.load()
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{describe(src)}: the picture has too many pixels to check safely")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnreadableImage(
            f"{describe(src)}: the picture data is truncated or corrupted ({exc}); copy the "
            "original photo from the camera again"
        ) from None
    # Pillow's TIFF reader applies the orientation itself while loading (and pillow-heif while
    # decoding); only what is still left to apply is applied here, never twice.
    remaining = read_orientation(img) if orientation != 1 else 1
    picture = to_rgb(img)
    if remaining in UPRIGHT:
        picture = picture.transpose(UPRIGHT[remaining])
    picture.info = {}  # Pillow would otherwise carry a comment over into the copy
    if icc and icc[16:20] != b"RGB ":
        icc = None
    if max(picture.size) > JPEG_MAX_SIDE:
        raise SafeCopyFailed(
            f"{describe(src)}: the picture is {picture.width}x{picture.height} pixels, too large "
            f"for a JPEG safe copy (at most {JPEG_MAX_SIDE} on a side); resize it first"
        )
    out = io.BytesIO()
    try:
        picture.save(out, format="JPEG", quality=settings.safe_copy_jpeg_quality,
                     icc_profile=icc or None)
    except (OSError, ValueError) as exc:
        raise SafeCopyFailed(
            f"{describe(src)}: the safe copy could not be encoded ({exc}); save the photo as JPEG "
            "or PNG and try again"
        ) from None
    return out.getvalue(), icc


#: the largest side a JPEG can have (libjpeg's limit)
JPEG_MAX_SIDE = 65500
