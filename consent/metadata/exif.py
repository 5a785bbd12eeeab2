"""EXIF (TIFF structure), shared by JPEG APP1, PNG eXIf, WebP EXIF, HEIC and TIFF files, and
the Photoshop image resources that travel with it.

The two nest both ways (a TIFF tag can hold Photoshop resources, which can hold an EXIF copy),
so their readers live together here. :func:`minimal_exif` writes the one block safe copies
keep: the orientation.
"""

from __future__ import annotations

import struct
import warnings

from PIL import ExifTags, Image

from . import iptc, xmp
from .common import Parsed, as_text, be16, be32, dms
from .report import MetadataReport

_IFD1 = ExifTags.IFD.IFD1
_EXIF_GROUP = {
    0x000B: "software",     # ProcessingSoftware
    0x010D: "comment",      # DocumentName
    0x010E: "comment",      # ImageDescription
    0x010F: "camera",       # Make
    0x0110: "camera",       # Model
    0x011D: "comment",      # PageName
    0x0131: "software",     # Software
    0x0132: "time",         # DateTime
    0x013B: "owner",        # Artist
    0x013C: "software",     # HostComputer
    0x8298: "owner",        # Copyright
    0x9C9B: "comment",      # XPTitle
    0x9C9C: "comment",      # XPComment
    0x9C9D: "owner",        # XPAuthor
    0x9C9E: "comment",      # XPKeywords
    0x9C9F: "comment",      # XPSubject
    0xC4A5: "other",        # PrintIM
    0xC62F: "camera",       # CameraSerialNumber (DNG)
    0x9003: "time",         # DateTimeOriginal
    0x9004: "time",         # DateTimeDigitized
    0x9010: "time",         # OffsetTime
    0x9011: "time",         # OffsetTimeOriginal
    0x9012: "time",         # OffsetTimeDigitized
    0x9286: "comment",      # UserComment
    0xA420: "camera",       # ImageUniqueID
    0xA430: "owner",        # CameraOwnerName
    0xA431: "camera",       # BodySerialNumber
    0xA433: "camera",       # LensMake
    0xA434: "camera",       # LensModel
    0xA435: "camera",       # LensSerialNumber
}
#: picture layout and pointer tags: not metadata about the person or place
_LAYOUT_TAGS = {
    0x00FE, 0x00FF, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0107, 0x0108, 0x0109, 0x010A,
    0x0111, 0x0112, 0x0115, 0x0116, 0x0117, 0x0118, 0x0119, 0x011A, 0x011B, 0x011C, 0x0122,
    0x0123, 0x0128, 0x0129, 0x012D, 0x013D, 0x013E, 0x013F, 0x0140, 0x0142, 0x0143, 0x0144,
    0x0145, 0x0152, 0x0153, 0x0157, 0x0201, 0x0202, 0x0211, 0x0212, 0x0213, 0x0214, 0x8769,
    0x8825, 0xA005, 0x8773,
}


def _as_bytes(value, endian: str = ">") -> bytes:
    """A TIFF tag value (bytes, str or tuple of LONGs as Photoshop writes IPTC) as bytes."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    if isinstance(value, int):
        value = (value,)
    try:
        return b"".join(struct.pack(endian + "L", v & 0xFFFFFFFF) for v in value)
    except (TypeError, struct.error):
        return b""


def scan(report: MetadataReport, source, label: str = "EXIF", parsed: Parsed | None = None):
    """Report what an EXIF block holds. ``source`` is bytes or a loaded :class:`Image.Exif`."""
    broken = f"{label} block is malformed; it will be dropped"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if isinstance(source, Image.Exif):
                exif = source
            else:
                exif = Image.Exif()
                exif.load(bytes(source))
            tags = list(exif)
        except Exception:
            report.problem(broken)
            report.add("other", f"{label} block", f"{len(source)} bytes that could not be read")
            return
        ifd0 = {}
        for tag in tags:
            try:
                ifd0[tag] = exif[tag]
            except Exception:
                report.problem(broken)
        if not isinstance(source, Image.Exif):
            # tags Pillow dropped as malformed: still report the identifying ones
            for tag in _raw_ifd0_tags(bytes(source)) - set(ifd0):
                group = "gps" if tag == 0x8825 else _EXIF_GROUP.get(tag)
                if group:
                    name = ExifTags.TAGS.get(tag, f"tag 0x{tag:04X}")
                    report.add(group, f"{label} {name}", "present but could not be read")
                    report.problem(broken)
        make = as_text(ifd0.get(0x010F, ""))
        other = _exif_tags(report, ifd0, label, make, parsed, exif.endian or ">")
        pointers = [(0x8769, ExifTags.IFD.Exif), (0x8825, ExifTags.IFD.GPSInfo)]
        for pointer, ifd in pointers:
            if pointer not in ifd0:
                continue
            try:
                sub = exif.get_ifd(ifd)
            except Exception:
                sub = None
            if ifd == ExifTags.IFD.GPSInfo:
                if sub is None:
                    report.problem(broken)
                    report.add("gps", "GPS block", "present but could not be read")
                else:
                    _gps_tags(report, sub, label)
            elif sub is None:
                report.problem(broken)
            else:
                other += _exif_tags(report, sub, label, make, parsed, exif.endian or ">")
        try:
            ifd1 = exif.get_ifd(_IFD1)
        except Exception:
            ifd1 = None
            report.problem(broken)
        if ifd1:
            size = ifd1.get(0x0202)
            value = f"JPEG, {size} bytes" if isinstance(size, int) else "present"
            report.add("thumbnail", f"{label} thumbnail", value)
        if other:
            report.add("other", f"{label} settings",
                       f"{other} more tag(s) (exposure, lens, image settings)")
    if caught:
        report.problem(f"{label} block is partly damaged; it will be dropped")


def _raw_ifd0_tags(tiff: bytes) -> set[int]:
    """Tag numbers listed in a TIFF block's first directory, read without interpreting them."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return set()
    offset = struct.unpack(order + "L", tiff[4:8])[0]
    if offset + 2 > len(tiff):
        return set()
    count = struct.unpack(order + "H", tiff[offset:offset + 2])[0]
    count = min(count, (len(tiff) - offset - 2) // 12)
    return {struct.unpack(order + "H", tiff[offset + 2 + 12 * i:offset + 4 + 12 * i])[0]
            for i in range(count)}


def _exif_tags(report, tags: dict, label: str, make: str, parsed, endian: str) -> int:
    """Report one directory's tags; returns how many harmless settings tags it held."""
    other = 0
    for tag, value in tags.items():
        if isinstance(value, dict):
            continue
        group = _EXIF_GROUP.get(tag)
        name = ExifTags.TAGS.get(tag, f"tag 0x{tag:04X}")
        if tag == 0x927C:  # MakerNote
            vendor = f" ({make})" if make else ""
            size = len(value) if isinstance(value, (bytes, str)) else 0
            report.add("maker_notes", "MakerNote",
                       f"{size} bytes{vendor}; can hold serial numbers and preview images")
        elif tag == 0x02BC:  # XMP inside TIFF
            xmp.scan(report, _as_bytes(value))
        elif tag == 0x83BB:  # IPTC inside TIFF
            iptc.scan(report, _as_bytes(value, endian))
        elif tag == 0x8649:  # Photoshop resources inside TIFF
            scan_irb(report, _as_bytes(value), parsed)
        elif tag == 0x014A:  # SubIFDs: previews in raw/DNG files
            report.add("thumbnail", "SubIFDs", "extra images (previews) inside the file")
        elif tag in (0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F):  # Windows XP tags, UTF-16
            raw = _as_bytes(value) if not isinstance(value, tuple) else bytes(value)
            report.add(group, f"{label} {name}", raw.decode("utf-16-le", "replace"))
        elif group:
            report.add(group, f"{label} {name}", value)
        elif tag not in _LAYOUT_TAGS:
            other += 1
    return other


def _gps_tags(report, gps: dict, label: str) -> None:
    if not gps:
        report.add("gps", "GPS block", "present but empty")
        return
    lat = dms(gps.get(2), gps.get(1), 90.0) if 2 in gps else None
    lon = dms(gps.get(4), gps.get(3), 180.0) if 4 in gps else None
    if lat is not None and lon is not None:
        report.add("gps", "GPS position", f"{lat:.6f}, {lon:.6f}")
        if report.gps is None:
            report.gps = (round(lat, 7), round(lon, 7))
    before = len(report.items)
    for tag, value in gps.items():
        if tag == 0 or (tag in (1, 2, 3, 4) and lat is not None and lon is not None):
            continue
        name = ExifTags.GPSTAGS.get(tag, f"tag {tag}")
        report.add("gps", f"{label} {name}", value)
    if len(report.items) == before and (lat is None or lon is None):
        report.add("gps", f"{label} GPS block", "present, without a position")


def minimal_exif(orientation: int) -> bytes:
    """b"Exif\\0\\0" + a TIFF block holding only the Orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# --------------------------------------------------------------------------------------------
# Photoshop image resources


def scan_irb(report: MetadataReport, data: bytes, parsed: Parsed | None = None) -> None:
    """Report Photoshop image resources: IPTC, thumbnails, EXIF and XMP copies."""
    pos, n = 0, len(data)
    other = 0
    while pos + 12 <= n:
        if data[pos:pos + 4] not in (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR"):
            report.problem("Photoshop data block is malformed; it will be dropped")
            break
        rid = be16(data, pos + 4)
        name_len = data[pos + 6] + 1
        name_len += name_len & 1
        start = pos + 6 + name_len
        if start + 4 > n:
            break
        size = be32(data, start)
        body = data[start + 4:start + 4 + size]
        pos = start + 4 + size + (size & 1)
        if rid == 0x0404:
            iptc.scan(report, body)
        elif rid in (0x0409, 0x040C):
            report.add("thumbnail", "Photoshop thumbnail", f"{len(body)} bytes")
        elif rid in (0x0422, 0x0423):
            scan(report, body, "Photoshop EXIF")
        elif rid == 0x0424:
            xmp.scan(report, body, "Photoshop XMP")
        elif rid == 0x040F and parsed is not None and parsed.icc is None:
            parsed.icc = body
        elif rid not in (0x0425, 0x040F):  # 0x0425 is only a digest of the IPTC block
            other += 1
    if other:
        report.add("other", "Photoshop resources", f"{other} blocks (editing settings)")
