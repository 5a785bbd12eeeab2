"""Identifying metadata in photos: find it (:func:`scan`) and remove it (:func:`make_safe_copy`).

A photo straight from a phone or camera carries far more than its pixels: where it was taken
(GPS), when, the camera's serial number, the owner's name, the editing software, maker notes,
XMP (with people tags and named face regions), IPTC captions and keywords, comments and
embedded thumbnails that can show the scene before it was cropped. Publishing any of that next
to a pupil's picture is the risk this module removes.

``scan`` walks the file's own structure (JPEG marker segments, PNG chunks, WebP RIFF chunks;
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
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ExifTags, Image

from .errors import ConsentError, ImageTooLarge, SafeCopyFailed, UnreadableImage
from .images import (
    SUPPORTED_FORMATS,
    UPRIGHT,
    to_rgb,
    describe,
    file_hash,
    open_image,
    read_orientation,
)
from .settings import DEFAULTS, Settings

#: stable group codes, in the order reports list them
GROUPS = (
    "gps", "time", "camera", "owner", "software", "maker_notes", "xmp", "people", "iptc",
    "comment", "thumbnail", "other",
)

#: group code -> the words users see ("removed: GPS, camera, thumbnail")
GROUP_LABELS = {
    "gps": "GPS",
    "time": "capture time",
    "camera": "camera",
    "owner": "owner",
    "software": "software",
    "maker_notes": "maker notes",
    "xmp": "XMP",
    "people": "people tags",
    "iptc": "IPTC",
    "comment": "comments",
    "thumbnail": "thumbnail",
    "other": "other",
}

#: longest value shown for one item (the rest is cut with an ellipsis)
_MAX_VALUE = 120
#: most items one report lists (a hostile file can hold millions of tags)
_MAX_ITEMS = 2000


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class MetadataItem:
    """One identifying item: ``group`` is a code from :data:`GROUPS`."""

    group: str
    name: str
    value: str


@dataclass
class MetadataReport:
    """Everything :func:`scan` found in one photo.

    ``gps`` is (latitude, longitude) in decimal degrees when a position was readable;
    ``orientation`` is the EXIF orientation 1-8 the photo displays with; ``has_icc`` says a
    colour profile is embedded; ``problems`` lists metadata that could not be read (it is
    dropped from safe copies all the same).
    """

    path: Path
    format: str
    items: list[MetadataItem] = field(default_factory=list)
    gps: tuple[float, float] | None = None
    orientation: int = 1
    has_icc: bool = False
    problems: list[str] = field(default_factory=list)
    #: some metadata could not be read (it may hide anything; copies drop it all the same)
    unreadable: bool = False

    def add(self, group: str, name: str, value) -> None:
        """Record an item; blank values and repeats are skipped, long ones shortened."""
        text = _text(value)
        seen = self.__dict__.setdefault("_seen", set())
        if text and (group, name, text) not in seen and len(self.items) < _MAX_ITEMS:
            seen.add((group, name, text))
            self.items.append(MetadataItem(group, name, text))

    def problem(self, message: str, metadata: bool = True) -> None:
        """Record a problem once; ``metadata=False`` for problems of the picture data itself."""
        self.unreadable = self.unreadable or metadata
        if message not in self.problems:
            self.problems.append(message)

    def groups(self) -> dict[str, list[MetadataItem]]:
        """Items by group code, groups in :data:`GROUPS` order, empty groups left out."""
        grouped: dict[str, list[MetadataItem]] = {}
        for code in GROUPS:
            found = [item for item in self.items if item.group == code]
            if found:
                grouped[code] = found
        return grouped

    @property
    def identifying(self) -> bool:
        """True when the photo carries identifying items, or metadata that could not be read."""
        return self.unreadable or any(item.group != "other" for item in self.items)

    def labels(self) -> list[str]:
        """The user-facing names of the groups found, e.g. ``["GPS", "camera"]``."""
        return [GROUP_LABELS[code] for code in self.groups()]

    def to_dict(self) -> dict:
        """A JSON-ready dict (paths as strings, items grouped)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "identifying": self.identifying,
            "gps": list(self.gps) if self.gps else None,
            "orientation": self.orientation,
            "has_icc": self.has_icc,
            "groups": {
                code: [{"name": i.name, "value": i.value} for i in items]
                for code, items in self.groups().items()
            },
            "problems": list(self.problems),
            "unreadable": self.unreadable,
        }


@dataclass
class SafeCopy:
    """What :func:`make_safe_copy` wrote: ``removed`` is the scan of the original."""

    src: Path
    dst: Path
    format_in: str
    format_out: str
    removed: MetadataReport
    #: what was deliberately kept, e.g. ``["ICC colour profile", "orientation 6"]``
    kept: list[str]
    #: True when the picture was decoded and saved again (HEIC/HEIF, TIFF)
    reencoded: bool


# --------------------------------------------------------------------------------------------
# Public API


def scan(path: os.PathLike | str, settings: Settings = DEFAULTS) -> MetadataReport:
    """Report every identifying metadata item in the photo at ``path``.

    Raises the errors of :func:`consent.images.open_image` (missing, empty, not an image,
    unsupported format, too many pixels); broken metadata only adds ``problems``.
    """
    img, damaged = _open(path, settings)
    try:
        data = _read(path)
        report, _ = _scan_open(Path(path), img, data, damaged)
    finally:
        img.close()
    return report


def safe_suffix(src: os.PathLike | str) -> str:
    """The file ending a safe copy of ``src`` gets: ``.png``, ``.webp`` or ``.jpg``."""
    try:
        with open(src, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ".jpg"


def safe_name(src: os.PathLike | str) -> str:
    """A neutral file name for a safe copy: ``photo-<first 12 hex of sha256>.jpg``.

    Nothing of the original name survives (it often holds a pupil's name); the ending follows
    the copy's format (see :func:`safe_suffix`).
    """
    return f"photo-{file_hash(src)[:12]}{safe_suffix(src)}"


def make_safe_copy(
    src: os.PathLike | str,
    dst: os.PathLike | str,
    settings: Settings = DEFAULTS,
) -> SafeCopy:
    """Write a publication-safe copy of ``src`` to ``dst`` and return what was done.

    Only the ICC colour profile and the orientation are kept. The original is never touched;
    ``dst`` appears only once the copy has been re-read and found clean. Raises
    :class:`UnreadableImage` when the picture itself is truncated or corrupted (no file is
    written), the other errors of :func:`consent.images.open_image`, and
    :class:`SafeCopyFailed` when the copy cannot be written or did not verify.
    """
    src, dst = Path(src), Path(dst)
    if _same_file(src, dst):
        raise SafeCopyFailed(
            f"{dst}: this is the original photo itself; choose another folder or name for the "
            "safe copy"
        )
    img, damaged = _open(src, settings)
    try:
        data = _read(src)
        report, parsed = _scan_open(src, img, data, damaged)
        fmt = img.format
        orientation = report.orientation
        reencoded = fmt not in ("JPEG", "MPO", "PNG", "WEBP")
        if not reencoded:
            _check_structure(src, fmt, parsed)
        if fmt in ("JPEG", "MPO"):
            payload = _clean_jpeg(data, parsed, orientation)
        elif fmt == "PNG":
            payload = _clean_png(data, parsed, orientation)
        elif fmt == "WEBP":
            payload = _clean_webp(data, parsed, orientation)
        else:
            payload, parsed.icc = _reencode(src, img, orientation, parsed.icc, settings)
            orientation = 1
    finally:
        img.close()
    kept = []
    if parsed.icc:
        kept.append("ICC colour profile")
    if orientation != 1:
        kept.append(f"orientation {orientation}")
    elif reencoded and report.orientation != 1:
        kept.append(f"orientation {report.orientation} applied to the pixels")
    format_out = {"PNG": "PNG", "WEBP": "WebP"}.get(fmt, "JPEG")

    def verify(tmp: Path) -> None:
        _verify_copy(tmp, src, dst, orientation, parsed.icc, decode=not reencoded,
                     settings=settings)

    _write_atomic(dst, payload, verify)
    return SafeCopy(
        src=src,
        dst=dst,
        format_in=report.format,
        format_out=format_out,
        removed=report,
        kept=kept,
        reencoded=reencoded,
    )


# --------------------------------------------------------------------------------------------
# Helpers shared by scan and copy


class _Parsed:
    """What a container walk found: segment/chunk positions and the ICC profile bytes."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []
        self.eoi_end: int | None = None
        self.icc: bytes | None = None
        self.extra: dict = {}


def _read(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UnreadableImage(
            f"{describe(path)}: cannot be read ({exc.strerror}); check permissions"
        ) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _text(value) -> str:
    """Any metadata value as one short printable line."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        for prefix, codec in ((b"ASCII\0\0\0", "ascii"), (b"UNICODE\0", "utf-16"),
                              (b"JIS\0\0\0\0\0", "shift_jis"), (b"\0" * 8, "ascii")):
            if raw.startswith(prefix):
                raw = raw[len(prefix):]
                text = raw.decode(codec, "replace")
                break
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
        printable = sum(ch.isprintable() or ch.isspace() for ch in text[:256])
        if printable < 0.8 * min(len(text), 256):
            return f"{len(raw)} bytes of binary data"
    elif isinstance(value, (tuple, list)):
        text = ", ".join(_text(v) for v in value[:20])
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    if len(text) > _MAX_VALUE:
        text = text[: _MAX_VALUE - 1] + "\u2026"
    return text


def _be16(data, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


def _be32(data, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "big")


def _inflate(data: bytes, limit: int = 1 << 22) -> bytes | None:
    """zlib-decompress at most ``limit`` bytes; None when the stream is broken."""
    try:
        return zlib.decompressobj().decompress(data, limit)
    except zlib.error:
        return None


def _open(path, settings: Settings) -> tuple[Image.Image, bool]:
    """:func:`open_image`, and whether Pillow warned about damaged EXIF while opening."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = open_image(path, settings)
    return img, bool(caught)


def _scan_open(path: Path, img: Image.Image, data: bytes,
               damaged: bool = False) -> tuple[MetadataReport, _Parsed]:
    """Scan an opened image whose file bytes are ``data`` (``damaged``: Pillow warned)."""
    report = MetadataReport(path=path, format=SUPPORTED_FORMATS[img.format])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report.orientation = read_orientation(img)
    if caught or damaged:
        report.problem("EXIF block is partly damaged; it will be dropped")
    fmt = img.format
    if fmt in ("JPEG", "MPO"):
        parsed = _walk_jpeg(data)
        _scan_jpeg(report, data, parsed)
        if parsed.extra.get("truncated"):
            report.problem("the picture data looks truncated (no end-of-image marker)",
                           metadata=False)
    elif fmt == "PNG":
        parsed = _walk_png(data)
        _scan_png(report, data, parsed)
    elif fmt == "WEBP":
        parsed = _walk_webp(data)
        _scan_webp(report, data, parsed)
    elif fmt == "TIFF":
        parsed = _Parsed()
        _scan_tiff(report, img, parsed)
    else:  # HEIF
        parsed = _Parsed()
        _scan_heif(report, img, parsed, data)
    report.has_icc = bool(parsed.icc)
    return report, parsed


# --------------------------------------------------------------------------------------------
# EXIF (TIFF structure), shared by JPEG APP1, PNG eXIf, WebP EXIF, HEIC and TIFF files

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


def _scan_exif(report: MetadataReport, source, label: str = "EXIF", parsed: _Parsed | None = None):
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
        make = _text(ifd0.get(0x010F, ""))
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
            _scan_xmp(report, _as_bytes(value))
        elif tag == 0x83BB:  # IPTC inside TIFF
            _scan_iim(report, _as_bytes(value, endian))
        elif tag == 0x8649:  # Photoshop resources inside TIFF
            _scan_irb(report, _as_bytes(value), parsed)
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


def _rational(value) -> float:
    try:
        if isinstance(value, tuple) and len(value) == 2:
            return value[0] / value[1]
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return math.nan


def _dms(value, ref, limit: float) -> float | None:
    """Degrees/minutes/seconds (EXIF) to signed decimal degrees; None when unreadable."""
    try:
        parts = [_rational(v) for v in value][:3]
    except TypeError:
        parts = [_rational(value)]
    if not parts or not all(math.isfinite(p) for p in parts):
        return None
    parts += [0.0] * (3 - len(parts))
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    ref = _text(ref).upper()[:1]
    if ref in ("S", "W"):
        degrees = -degrees
    return degrees if abs(degrees) <= limit else None


def _gps_tags(report, gps: dict, label: str) -> None:
    if not gps:
        report.add("gps", "GPS block", "present but empty")
        return
    lat = _dms(gps.get(2), gps.get(1), 90.0) if 2 in gps else None
    lon = _dms(gps.get(4), gps.get(3), 180.0) if 4 in gps else None
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


# --------------------------------------------------------------------------------------------
# XMP

_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_STRUCTURE_NS = {_RDF_NS, "adobe:ns:meta/", "http://www.w3.org/XML/1998/namespace", ""}
_XMP_PLACE = {"City", "State", "Country", "CountryCode", "CountryName", "Location",
              "Sublocation", "ProvinceState", "LocationShown", "LocationCreated", "WorldRegion"}
_XMP_PEOPLE = {"PersonInImage", "PersonInImageWDetails", "PersonInImageName", "PersonName",
               "PersonDisplayName", "PersonEmailDigest", "PersonLiveIdCID"}
_XMP_CAMERA = {"Make", "Model", "Lens", "LensModel", "LensMake", "LensID", "ImageUniqueID"}
_XMP_OWNER = {"creator", "rights", "Artist", "Copyright", "OwnerName", "CameraOwnerName",
              "Owner", "Credit", "AuthorsPosition", "CaptionWriter", "CreatorContactInfo",
              "UsageTerms", "WebStatement", "Author", "Marked"}
_XMP_TIME = {"DateTimeOriginal", "DateTimeDigitized", "CreateDate", "DateCreated",
             "ModifyDate", "MetadataDate", "DateTime", "DateAcquired"}
_XMP_SOFTWARE = {"CreatorTool", "Software", "softwareAgent"}
_XMP_COMMENT = {"description", "title", "subject", "ImageDescription", "Headline",
                "Instructions", "UserComment", "Keywords", "hierarchicalSubject", "TagsList",
                "LastKeywordXMP", "LastKeywordIPTC", "Label"}
_XMP_GPS_VALUE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?(?:,(\d+(?:\.\d+)?))?\s*([NSEW])\s*$"
)
#: names searched for in XMP that is not well-formed XML
_XMP_FALLBACK = re.compile(rb"(GPS[A-Za-z]+|PersonInImage|PersonDisplayName|mwg-rs:Name|"
                           rb"dc:creator|SerialNumber)")


def _xmp_group(ns: str, local: str) -> str | None:
    if local.startswith("GPS") or local in _XMP_PLACE:
        return "gps"
    if local in _XMP_PEOPLE or local in ("Regions", "RegionInfo") or (
        local == "Name" and "region" in ns.lower()
    ):
        return "people"
    if local.endswith("SerialNumber") or local in _XMP_CAMERA:
        return "camera"
    if local in _XMP_OWNER:
        return "owner"
    if local in _XMP_TIME:
        return "time"
    if local in _XMP_SOFTWARE:
        return "software"
    if local in _XMP_COMMENT:
        return "comment"
    return None


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _xmp_gps(value: str, limit: float) -> float | None:
    match = _XMP_GPS_VALUE.match(value)
    if not match:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if abs(number) <= limit else None
    d, m, s, ref = match.groups()
    return _dms((float(d), float(m or 0), float(s or 0)), ref, limit)


def _scan_xmp(report: MetadataReport, data: bytes, label: str = "XMP") -> None:
    """Report an XMP packet: named people, face regions, GPS, creator and the rest."""
    import xml.etree.ElementTree as ET

    data = bytes(data).strip(b"\0 \t\r\n")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError):
        report.problem(f"{label} block is malformed; it will be dropped")
        for name in sorted({m.decode() for m in _XMP_FALLBACK.findall(data[:1 << 20])}):
            report.add(_xmp_group("region" if "mwg" in name else "", name.split(":")[-1])
                       or "xmp", f"{label} {name}", "present (packet could not be read)")
        report.add("xmp", f"{label} packet", f"{len(data)} bytes")
        return
    props = 0
    gps_values: dict[str, str] = {}
    regions = 0
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments and processing instructions
        ns, local = _split_tag(el.tag)
        entries = []
        if ns not in _STRUCTURE_NS:
            entries.append((ns, local, el))
        for attr, value in el.attrib.items():
            ans, alocal = _split_tag(attr)
            if ans not in _STRUCTURE_NS:
                entries.append((ans, alocal, value))
        for ens, elocal, target in entries:
            props += 1
            if elocal in ("Area", "Rectangle"):
                regions += 1
            group = _xmp_group(ens, elocal)
            if group is None:
                continue
            if isinstance(target, str):
                value = target
            else:
                if elocal in ("Regions", "RegionInfo"):
                    continue  # counted through their areas below
                items = [li.text.strip() for li in target.iter(f"{{{_RDF_NS}}}li")
                         if li.text and li.text.strip()]
                value = "; ".join(items) if items else (target.text or "")
            if elocal in ("GPSLatitude", "GPSLongitude"):
                gps_values[elocal] = value.strip()
            report.add(group, f"{label} {elocal}", value)
    if regions:
        report.add("people", f"{label} face regions", f"{regions} region(s) marked on the picture")
    if "GPSLatitude" in gps_values and "GPSLongitude" in gps_values:
        lat = _xmp_gps(gps_values["GPSLatitude"], 90.0)
        lon = _xmp_gps(gps_values["GPSLongitude"], 180.0)
        if lat is not None and lon is not None:
            report.add("gps", f"{label} GPS position", f"{lat:.6f}, {lon:.6f}")
            if report.gps is None:
                report.gps = (round(lat, 7), round(lon, 7))
    report.add("xmp", f"{label} packet", f"{len(data)} bytes, {props} propert"
               + ("y" if props == 1 else "ies"))


# --------------------------------------------------------------------------------------------
# IPTC (IIM records) and Photoshop image resources

_IIM_NAMES = {
    5: "object name", 7: "edit status", 15: "category", 20: "supplemental category",
    25: "keywords", 40: "special instructions", 55: "date created", 60: "time created",
    62: "digital creation date", 63: "digital creation time", 65: "originating program",
    80: "by-line", 85: "by-line title", 90: "city", 92: "sub-location", 95: "province/state",
    100: "country code", 101: "country", 103: "transmission reference", 105: "headline",
    110: "credit", 115: "source", 116: "copyright notice", 118: "contact", 120: "caption",
    122: "caption writer",
}


def _scan_iim(report: MetadataReport, data: bytes) -> None:
    """Report IPTC-IIM datasets (caption, keywords, by-line, ...)."""
    values: dict[int, list[bytes]] = {}
    pos, n = 0, len(data)
    while pos + 5 <= n and data[pos] == 0x1C:
        record, dataset = data[pos + 1], data[pos + 2]
        size = _be16(data, pos + 3)
        pos += 5
        if size & 0x8000:  # extended dataset: the length is in the next (size & 0x7FFF) bytes
            width = size & 0x7FFF
            if width > 4:
                break
            size = int.from_bytes(data[pos:pos + width], "big")
            pos += width
        value = data[pos:pos + size]
        pos += size
        if record == 2 and dataset != 0:
            values.setdefault(dataset, []).append(value)
    if pos < n and data[pos:].strip(b"\0"):
        report.problem("IPTC block is malformed; it will be dropped")
    if not values:
        report.add("other", "IPTC block", "present, holding no text")
    for dataset, found in values.items():
        texts = []
        for raw in found:
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(raw.decode("latin-1"))
        name = _IIM_NAMES.get(dataset, f"dataset 2:{dataset}")
        report.add("iptc", f"IPTC {name}", "; ".join(texts) or "(empty)")


def _scan_irb(report: MetadataReport, data: bytes, parsed: _Parsed | None = None) -> None:
    """Report Photoshop image resources: IPTC, thumbnails, EXIF and XMP copies."""
    pos, n = 0, len(data)
    other = 0
    while pos + 12 <= n:
        if data[pos:pos + 4] not in (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR"):
            report.problem("Photoshop data block is malformed; it will be dropped")
            break
        rid = _be16(data, pos + 4)
        name_len = data[pos + 6] + 1
        name_len += name_len & 1
        start = pos + 6 + name_len
        if start + 4 > n:
            break
        size = _be32(data, start)
        body = data[start + 4:start + 4 + size]
        pos = start + 4 + size + (size & 1)
        if rid == 0x0404:
            _scan_iim(report, body)
        elif rid in (0x0409, 0x040C):
            report.add("thumbnail", "Photoshop thumbnail", f"{len(body)} bytes")
        elif rid in (0x0422, 0x0423):
            _scan_exif(report, body, "Photoshop EXIF")
        elif rid == 0x0424:
            _scan_xmp(report, body, "Photoshop XMP")
        elif rid == 0x040F and parsed is not None and parsed.icc is None:
            parsed.icc = body
        elif rid not in (0x0425, 0x040F):  # 0x0425 is only a digest of the IPTC block
            other += 1
    if other:
        report.add("other", "Photoshop resources", f"{other} blocks (editing settings)")


# --------------------------------------------------------------------------------------------
# JPEG

#: a marker that ends entropy-coded data. FF00 is stuffing, FFD0-FFD7 restart markers, FFFF
#: fill; FF01-FFBF are not markers at all (libjpeg skips them when it resynchronises at the
#: next restart marker), so they stay inside the data and are copied with it.
_JPEG_ENTROPY_END = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: marker segments a safe copy keeps verbatim: tables, frame, scans, restart interval
_JPEG_KEEP = _SOF_MARKERS | {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDF}
#: marker segments that may appear before EOI; anything else means the file is damaged
_JPEG_SEGMENTS = _JPEG_KEEP | set(range(0xE0, 0xF0)) | {0xFE}
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"
_ICC_ID = b"ICC_PROFILE\0"


def _walk_jpeg(data: bytes) -> _Parsed:
    """Split a JPEG into marker segments up to the first image's EOI.

    ``parts`` holds ``(marker, start, end)``; an SOS segment's end includes its entropy-coded
    data, found by scanning for the next real marker (see :data:`_JPEG_ENTROPY_END`).
    ``eoi_end`` is None when no EOI was reached: ``extra["truncated"]`` (the data runs out) or
    ``extra["damaged"]`` (a byte offset where no valid marker stands). Stray bytes between
    segments are skipped (``extra["stray"]``), as decoders do.
    """
    parsed = _Parsed()
    parts = parsed.parts
    n = len(data)
    pos = 2
    while True:
        if pos + 1 >= n:
            parsed.extra["truncated"] = True
            break
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                parsed.extra["truncated"] = True
                break
            parsed.extra["stray"] = True
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            parts.append((marker, pos, pos + 2))
            parsed.eoi_end = pos + 2
            break
        if 0xD0 <= marker <= 0xD7:
            parts.append((marker, pos, pos + 2))
            pos += 2
            continue
        if marker not in _JPEG_SEGMENTS:
            parsed.extra["damaged"] = pos
            break
        if pos + 4 > n:
            parsed.extra["truncated"] = True
            break
        end = pos + 2 + _be16(data, pos + 2)
        if end < pos + 4:
            parsed.extra["damaged"] = pos
            break
        if end > n:
            parsed.extra["truncated"] = True
            break
        if marker == 0xDA:
            found = _JPEG_ENTROPY_END.search(data, end)
            if found is None:
                parsed.extra["truncated"] = True
                break
            end = found.start()
        parts.append((marker, pos, end))
        pos = end
    return parsed


def _app_name(payload: bytes) -> str:
    ident = payload[:20].split(b"\0", 1)[0]
    ident = re.sub(rb"[^ -~]", b"", ident).decode("ascii").strip()
    return ident


def _scan_jpeg(report: MetadataReport, data: bytes, parsed: _Parsed, depth: int = 0,
               label: str = "") -> None:
    icc_chunks: dict[int, bytes] = {}
    extended: dict[bytes, dict[int, bytes]] = {}
    photoshop = bytearray()
    for marker, start, end in parsed.parts:
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            continue
        payload = data[start + 4:end]
        if marker == 0xE0 and payload.startswith(b"JFIF\0"):
            if len(payload) >= 14 and payload[12] and payload[13]:
                report.add("thumbnail", f"{label}JFIF thumbnail",
                           f"{payload[12]}x{payload[13]} pixels")
        elif marker == 0xE0 and payload.startswith(b"JFXX\0"):
            report.add("thumbnail", f"{label}JFIF extension thumbnail", f"{len(payload)} bytes")
        elif marker == 0xE1 and payload.startswith(b"Exif\0"):
            _scan_exif(report, payload[6:], f"{label}EXIF")
        elif marker == 0xE1 and payload.startswith(_XMP_ID):
            _scan_xmp(report, payload[len(_XMP_ID):], f"{label}XMP")
        elif marker == 0xE1 and payload.startswith(_XMP_EXT_ID) and len(payload) >= 75:
            guid = payload[35:67]
            offset = _be32(payload, 71)
            extended.setdefault(guid, {})[offset] = payload[75:]
        elif marker == 0xE2 and payload.startswith(_ICC_ID) and len(payload) >= 14:
            icc_chunks[payload[12]] = payload[14:]
        elif marker == 0xE2 and payload.startswith(b"MPF\0"):
            report.add("thumbnail", f"{label}MPF index",
                       "lists extra images stored after the main picture")
        elif marker == 0xED and payload.startswith(b"Photoshop 3.0\0"):
            photoshop += payload[14:]
        elif marker == 0xEE and payload.startswith(b"Adobe"):
            pass  # colour transform flag, needed to decode correctly
        elif marker == 0xFE:
            report.add("comment", f"{label}JPEG comment", payload or "(empty)")
        else:
            name = _app_name(payload)
            report.add("other", f"{label}APP{marker - 0xE0} segment",
                       f"{name or 'unnamed'}, {len(payload)} bytes")
    for guid, chunks in extended.items():
        joined = b"".join(chunks[k] for k in sorted(chunks))
        _scan_xmp(report, joined, f"{label}extended XMP")
    if photoshop:
        _scan_irb(report, bytes(photoshop))
    if icc_chunks and depth == 0:
        parsed.icc = b"".join(icc_chunks[k] for k in sorted(icc_chunks))
    if parsed.extra.get("stray") and depth == 0:
        report.problem("stray bytes between JPEG segments; they will be dropped")
    if "damaged" in parsed.extra and depth == 0:
        report.problem(f"the picture data is damaged at byte {parsed.extra['damaged']}",
                       metadata=False)
    if parsed.eoi_end is not None:
        trailer = data[parsed.eoi_end:]
        if trailer.strip(b"\0\xff"):
            report.add("thumbnail", f"{label}data after the picture",
                       f"{len(trailer)} bytes (extra images, previews or video)")
            nested = trailer.find(b"\xff\xd8\xff")
            if nested >= 0 and depth < 3:
                inner = trailer[nested:]
                _scan_jpeg(report, inner, _walk_jpeg(inner), depth + 1,
                           f"{label}extra image {depth + 2}: ")


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _minimal_exif(orientation: int) -> bytes:
    """b"Exif\\0\\0" + a TIFF block holding only the Orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _clean_jpeg(data: bytes, parsed: _Parsed, orientation: int) -> bytes:
    """The JPEG with every metadata segment dropped; tables and scans are copied verbatim."""
    jfif = b""
    adobe = False
    body = []
    for marker, start, end in parsed.parts:
        payload = data[start + 4:end]
        if marker == 0xE0 and payload.startswith(b"JFIF\0") and not jfif and len(payload) >= 12:
            # version, density units and density; the thumbnail size is set to 0x0
            jfif = _jpeg_segment(0xE0, payload[:12] + b"\0\0")
        elif marker == 0xE2 and payload.startswith(_ICC_ID):
            body.append(data[start:end])
        elif marker == 0xEE and payload.startswith(b"Adobe") and not adobe:
            adobe = True
            body.append(data[start:end])
        elif marker in _JPEG_KEEP or 0xD0 <= marker <= 0xD7:
            body.append(data[start:end])
    head = [b"\xff\xd8", jfif]
    if orientation != 1:
        head.append(_jpeg_segment(0xE1, _minimal_exif(orientation)))
    return b"".join(head + body + [b"\xff\xd9"])


# --------------------------------------------------------------------------------------------
# PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: chunks a safe copy keeps: the picture, transparency, colour and animation
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
             b"sBIT", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv", b"cLLi"}
_PNG_TEXT_GROUP = (
    ("gps", ("gps", "location", "latitude", "longitude")),
    ("people", ("person", "people", "face")),
    ("camera", ("serial", "make", "model", "camera", "lens")),
    ("owner", ("author", "artist", "copyright", "owner", "creator", "rights")),
    ("software", ("software", "tool", "program")),
    ("time", ("time", "date")),
)


def _walk_png(data: bytes) -> _Parsed:
    parsed = _Parsed()
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = _be32(data, pos)
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > n:
            parsed.extra["truncated"] = True
            break
        parsed.parts.append((ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            parsed.eoi_end = end
            break
    return parsed


def _png_text(ctype: bytes, body: bytes) -> tuple[str, bytes | None]:
    """(keyword, text bytes) of a tEXt, zTXt or iTXt chunk; text None when unreadable."""
    keyword, _, rest = body.partition(b"\0")
    key = keyword.decode("latin-1", "replace")
    if ctype == b"tEXt":
        return key, rest
    if ctype == b"zTXt":
        return key, _inflate(rest[1:])
    compressed = rest[:1] == b"\x01"
    rest = rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return key, _inflate(text) if compressed else text


def _scan_png(report: MetadataReport, data: bytes, parsed: _Parsed) -> None:
    for ctype, start, end in parsed.parts:
        body = data[start + 8:end - 4]
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            key, text = _png_text(ctype, body)
            if text is None:
                report.problem(f"PNG text chunk {key!r} is malformed; it will be dropped")
                report.add("comment", f"PNG text {key}", "could not be read")
            elif key == "XML:com.adobe.xmp" or key == "Raw profile type xmp":
                _scan_xmp(report, _raw_profile(text) if key.startswith("Raw") else text)
            elif key in ("Raw profile type exif", "Raw profile type APP1"):
                raw = _raw_profile(text)
                _scan_exif(report, raw[6:] if raw.startswith(b"Exif\0") else raw, "PNG EXIF")
            elif key in ("Raw profile type iptc", "Raw profile type 8bim"):
                raw = _raw_profile(text)
                if raw.startswith(b"8BIM"):
                    _scan_irb(report, raw)
                else:
                    _scan_iim(report, raw)
            else:
                lower = key.lower()
                group = next((g for g, words in _PNG_TEXT_GROUP
                              if any(w in lower for w in words)), "comment")
                report.add(group, f"PNG text {key}", text or "(empty)")
        elif ctype == b"eXIf":
            _scan_exif(report, body[6:] if body.startswith(b"Exif\0") else body, "PNG EXIF")
        elif ctype == b"tIME":
            report.add("time", "PNG tIME", "last modification time")
        elif ctype == b"iCCP":
            _, _, rest = body.partition(b"\0")
            parsed.icc = _inflate(rest[1:]) or body
        elif ctype not in _PNG_KEEP:
            report.add("other", f"PNG {ctype.decode('latin-1')} chunk", f"{len(body)} bytes")
    if parsed.eoi_end is not None and data[parsed.eoi_end:].strip(b"\0"):
        report.add("other", "data after the picture", f"{len(data) - parsed.eoi_end} bytes")
    if parsed.extra.get("truncated"):
        report.problem("the picture data looks truncated", metadata=False)


def _raw_profile(text: bytes) -> bytes:
    """ImageMagick's hex 'Raw profile type' text as bytes."""
    lines = text.split(b"\n")
    try:
        return bytes.fromhex(b"".join(lines[3:]).decode("ascii"))
    except ValueError:
        return b""


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(ctype)) & 0xFFFFFFFF
    return len(body).to_bytes(4, "big") + ctype + body + crc.to_bytes(4, "big")


def _clean_png(data: bytes, parsed: _Parsed, orientation: int) -> bytes:
    """The PNG with text, EXIF, time and unknown chunks dropped; picture chunks verbatim."""
    out = [_PNG_SIGNATURE]
    ended = False
    for ctype, start, end in parsed.parts:
        if ctype not in _PNG_KEEP:
            continue
        out.append(data[start:end])
        if ctype == b"IHDR" and orientation != 1:
            out.append(_png_chunk(b"eXIf", _minimal_exif(orientation)[6:]))
        ended = ctype == b"IEND"
    if not ended:
        out.append(_png_chunk(b"IEND", b""))
    return b"".join(out)


# --------------------------------------------------------------------------------------------
# WebP

_WEBP_KEEP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"}


def _walk_webp(data: bytes) -> _Parsed:
    parsed = _Parsed()
    n = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= n:
        fourcc = data[pos:pos + 4]
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
        if end > n:
            parsed.extra["truncated"] = True
            break
        parsed.parts.append((fourcc, pos, end))
        pos = end + ((end - pos) & 1)
    parsed.eoi_end = pos
    return parsed


def _scan_webp(report: MetadataReport, data: bytes, parsed: _Parsed) -> None:
    for fourcc, start, end in parsed.parts:
        body = data[start + 8:end]
        if fourcc == b"EXIF":
            _scan_exif(report, body[6:] if body.startswith(b"Exif\0") else body, "WebP EXIF")
        elif fourcc == b"XMP ":
            _scan_xmp(report, body)
        elif fourcc == b"ICCP":
            parsed.icc = body
        elif fourcc not in _WEBP_KEEP:
            name = fourcc.decode("latin-1").strip()
            report.add("other", f"WebP {name} chunk", f"{len(body)} bytes")
    if parsed.extra.get("truncated"):
        report.problem("the picture data looks truncated", metadata=False)


def _clean_webp(data: bytes, parsed: _Parsed, orientation: int) -> bytes:
    """The WebP with EXIF, XMP and unknown chunks dropped; picture chunks verbatim.

    A simple-format WebP (no VP8X header) cannot hold metadata: its one bitstream is kept.
    """
    chunks = [(fourcc, data[start:end]) for fourcc, start, end in parsed.parts
              if fourcc in _WEBP_KEEP]
    vp8x = next((chunk for fourcc, chunk in chunks if fourcc == b"VP8X"), None)
    if vp8x is None:
        out = [chunk for fourcc, chunk in chunks if fourcc in (b"VP8 ", b"VP8L")][:1]
    else:
        flags = vp8x[8] & 0x12  # keep the alpha and animation flags
        flags |= 0x20 if any(fourcc == b"ICCP" for fourcc, _ in chunks) else 0
        flags |= 0x08 if orientation != 1 else 0
        out = [chunk[:8] + bytes((flags,)) + chunk[9:] if fourcc == b"VP8X" else chunk
               for fourcc, chunk in chunks]
        if orientation != 1:
            exif = _minimal_exif(orientation)[6:]
            out.append(b"EXIF" + len(exif).to_bytes(4, "little") + exif)
    body = b"".join(chunk + b"\0" if len(chunk) & 1 else chunk for chunk in out)
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


#: for each container: the parts without which there is no picture
_PICTURE_PARTS = {
    "JPEG": [_SOF_MARKERS, {0xDA}], "MPO": [_SOF_MARKERS, {0xDA}],
    "PNG": [{b"IHDR"}, {b"IDAT"}],
    "WEBP": [{b"VP8 ", b"VP8L", b"ANMF"}],
}


def _check_structure(src: Path, fmt: str, parsed: _Parsed) -> None:
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


# --------------------------------------------------------------------------------------------
# TIFF and HEIC/HEIF (read through Pillow; safe copies are re-encoded to JPEG)


def _scan_tiff(report: MetadataReport, img: Image.Image, parsed: _Parsed) -> None:
    try:
        exif = img.getexif()
    except Exception:
        report.problem("TIFF tags are malformed; they will be dropped")
        exif = None
    if exif is not None:
        _scan_exif(report, exif, "TIFF", parsed)
    icc = img.info.get("icc_profile")
    if icc:
        parsed.icc = icc
    pages = getattr(img, "n_frames", 1)
    if pages > 1:
        report.add("other", "TIFF pages", f"{pages - 1} more page(s); only the first is kept")


def _scan_heif(report: MetadataReport, img: Image.Image, parsed: _Parsed, data: bytes) -> None:
    info = img.info
    if info.get("exif"):
        raw = info["exif"]
        _scan_exif(report, raw[6:] if raw.startswith(b"Exif\0") else raw, "HEIF EXIF")
    primary = bytes(info.get("xmp") or b"")
    if primary:
        _scan_xmp(report, primary, "HEIF XMP")
    # XMP attached to other items (HDR gain map, depth map) is not in Pillow's info
    start = data.find(b"<x:xmpmeta")
    for _ in range(20):
        end = data.find(b"</x:xmpmeta>", start)
        if start < 0 or end < 0:
            break
        packet = data[start:end + 12]
        if packet not in primary:
            _scan_xmp(report, packet, "HEIF XMP (second image)")
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


def _reencode(src: Path, img: Image.Image, orientation: int, icc: bytes | None,
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
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=settings.safe_copy_jpeg_quality,
                 icc_profile=icc or None)
    return out.getvalue(), icc


# --------------------------------------------------------------------------------------------
# Writing and verifying


def _write_atomic(dst: Path, payload: bytes, verify) -> None:
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


def _verify_copy(tmp: Path, src: Path, dst: Path, orientation: int, icc: bytes | None,
                 decode: bool, settings: Settings) -> None:
    """Re-read the written copy: nothing identifying, same orientation and ICC, decodes."""
    try:
        img, damaged = _open(tmp, settings)
    except ConsentError as exc:
        raise SafeCopyFailed(f"{dst}: the safe copy could not be read back ({exc}); "
                             "nothing was written") from None
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
        check, parsed = _scan_open(dst, img, _read(tmp), damaged)
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
