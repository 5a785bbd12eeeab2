"""PNG: walk the chunks, report text, EXIF, XMP and IPTC ones, and rewrite the file keeping
only the picture, transparency, colour and animation chunks."""

from __future__ import annotations

import zlib

from . import exif, iptc, xmp
from .common import Parsed, be32, inflate
from .report import MetadataReport

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


def walk(data: bytes) -> Parsed:
    parsed = Parsed()
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = be32(data, pos)
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
        return key, inflate(rest[1:])
    compressed = rest[:1] == b"\x01"
    rest = rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return key, inflate(text) if compressed else text


def scan(report: MetadataReport, data: bytes, parsed: Parsed) -> None:
    for ctype, start, end in parsed.parts:
        body = data[start + 8:end - 4]
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            key, text = _png_text(ctype, body)
            if text is None:
                report.problem(f"PNG text chunk {key!r} is malformed; it will be dropped")
                report.add("comment", f"PNG text {key}", "could not be read")
            elif key == "XML:com.adobe.xmp" or key == "Raw profile type xmp":
                xmp.scan(report, _raw_profile(text) if key.startswith("Raw") else text)
            elif key in ("Raw profile type exif", "Raw profile type APP1"):
                raw = _raw_profile(text)
                exif.scan(report, raw[6:] if raw.startswith(b"Exif\0") else raw, "PNG EXIF")
            elif key in ("Raw profile type iptc", "Raw profile type 8bim"):
                raw = _raw_profile(text)
                if raw.startswith(b"8BIM"):
                    exif.scan_irb(report, raw)
                else:
                    iptc.scan(report, raw)
            else:
                lower = key.lower()
                group = next((g for g, words in _PNG_TEXT_GROUP
                              if any(w in lower for w in words)), "comment")
                report.add(group, f"PNG text {key}", text or "(empty)")
        elif ctype == b"eXIf":
            exif.scan(report, body[6:] if body.startswith(b"Exif\0") else body, "PNG EXIF")
        elif ctype == b"tIME":
            report.add("time", "PNG tIME", "last modification time")
        elif ctype == b"iCCP":
            _, _, rest = body.partition(b"\0")
            parsed.icc = inflate(rest[1:]) or body
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


def clean(data: bytes, parsed: Parsed, orientation: int) -> bytes:
    """The PNG with text, EXIF, time and unknown chunks dropped; picture chunks verbatim."""
    out = [_PNG_SIGNATURE]
    ended = False
    for ctype, start, end in parsed.parts:
        if ctype not in _PNG_KEEP:
            continue
        out.append(data[start:end])
        if ctype == b"IHDR" and orientation != 1:
            out.append(_png_chunk(b"eXIf", exif.minimal_exif(orientation)[6:]))
        ended = ctype == b"IEND"
    if not ended:
        out.append(_png_chunk(b"IEND", b""))
    return b"".join(out)
