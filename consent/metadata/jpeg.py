"""JPEG (and MPO): walk the marker segments, report the metadata ones, and rewrite the file
without them (tables and scans copied byte for byte)."""

from __future__ import annotations

import re

from . import exif, xmp
from .common import Parsed, be16, be32
from .report import MetadataReport

#: a marker that ends entropy-coded data. FF00 is stuffing, FFD0-FFD7 restart markers, FFFF
#: fill; FF01-FFBF are not markers at all (libjpeg skips them when it resynchronises at the
#: next restart marker), so they stay inside the data and are copied with it.
_JPEG_ENTROPY_END = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: marker segments a safe copy keeps verbatim: tables, frame, scans, restart interval
_JPEG_KEEP = SOF_MARKERS | {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDF}
#: marker segments that may appear before EOI; anything else means the file is damaged
_JPEG_SEGMENTS = _JPEG_KEEP | set(range(0xE0, 0xF0)) | {0xFE}
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"
_ICC_ID = b"ICC_PROFILE\0"


def walk(data: bytes) -> Parsed:
    """Split a JPEG into marker segments up to the first image's EOI.

    ``parts`` holds ``(marker, start, end)``; an SOS segment's end includes its entropy-coded
    data, found by scanning for the next real marker (see :data:`_JPEG_ENTROPY_END`).
    ``eoi_end`` is None when no EOI was reached: ``extra["truncated"]`` (the data runs out) or
    ``extra["damaged"]`` (a byte offset where no valid marker stands). Stray bytes between
    segments are skipped (``extra["stray"]``), as decoders do.
    """
    parsed = Parsed()
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
        end = pos + 2 + be16(data, pos + 2)
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


def scan(report: MetadataReport, data: bytes, parsed: Parsed, depth: int = 0,
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
            exif.scan(report, payload[6:], f"{label}EXIF")
        elif marker == 0xE1 and payload.startswith(_XMP_ID):
            xmp.scan(report, payload[len(_XMP_ID):], f"{label}XMP")
        elif marker == 0xE1 and payload.startswith(_XMP_EXT_ID) and len(payload) >= 75:
            guid = payload[35:67]
            offset = be32(payload, 71)
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
        xmp.scan(report, joined, f"{label}extended XMP")
    if photoshop:
        exif.scan_irb(report, bytes(photoshop))
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
                scan(report, inner, walk(inner), depth + 1,
                     f"{label}extra image {depth + 2}: ")


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def clean(data: bytes, parsed: Parsed, orientation: int) -> bytes:
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
        head.append(_jpeg_segment(0xE1, exif.minimal_exif(orientation)))
    return b"".join(head + body + [b"\xff\xd9"])
