"""One photo, scanned: its opened header and bytes handed to the module that reads its
container's format. Used by scan (once per photo), by make_safe_copy and to verify each copy.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from ..images import SUPPORTED_FORMATS, read_orientation
from . import jpeg, pillow_formats, png, webp
from .common import Parsed
from .report import MetadataReport


def scan_opened(path: Path, img: Image.Image, data: bytes,
                damaged: bool = False) -> tuple[MetadataReport, Parsed]:
    """Scan an opened image whose file bytes are ``data`` (``damaged``: Pillow warned)."""
    report = MetadataReport(path=path, format=SUPPORTED_FORMATS[img.format])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report.orientation = read_orientation(img)
    if caught or damaged:
        report.problem("EXIF block is partly damaged; it will be dropped")
    fmt = img.format
    if fmt in ("JPEG", "MPO"):
        parsed = jpeg.walk(data)
        jpeg.scan(report, data, parsed)
        if parsed.extra.get("truncated"):
            report.problem("the picture data looks truncated (no end-of-image marker)",
                           metadata=False)
    elif fmt == "PNG":
        parsed = png.walk(data)
        png.scan(report, data, parsed)
    elif fmt == "WEBP":
        parsed = webp.walk(data)
        webp.scan(report, data, parsed)
    elif fmt == "TIFF":
        parsed = Parsed()
        pillow_formats.scan_tiff(report, img, parsed)
    else:  # HEIF
        parsed = Parsed()
        pillow_formats.scan_heif(report, img, parsed, data)
    report.has_icc = bool(parsed.icc)
    return report, parsed
