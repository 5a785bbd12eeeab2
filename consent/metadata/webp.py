"""WebP: walk the RIFF chunks, report EXIF, XMP and unknown ones, and rewrite the file keeping
the picture chunks verbatim (a lossy WebP is never re-encoded)."""

from __future__ import annotations

from . import exif, xmp
from .common import Parsed
from .report import MetadataReport

_WEBP_KEEP = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"}


def walk(data: bytes) -> Parsed:
    parsed = Parsed()
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


def scan(report: MetadataReport, data: bytes, parsed: Parsed) -> None:
    for fourcc, start, end in parsed.parts:
        body = data[start + 8:end]
        if fourcc == b"EXIF":
            exif.scan(report, body[6:] if body.startswith(b"Exif\0") else body, "WebP EXIF")
        elif fourcc == b"XMP ":
            xmp.scan(report, body)
        elif fourcc == b"ICCP":
            parsed.icc = body
        elif fourcc not in _WEBP_KEEP:
            name = fourcc.decode("latin-1").strip()
            report.add("other", f"WebP {name} chunk", f"{len(body)} bytes")
    if parsed.extra.get("truncated"):
        report.problem("the picture data looks truncated", metadata=False)


def clean(data: bytes, parsed: Parsed, orientation: int) -> bytes:
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
            block = exif.minimal_exif(orientation)[6:]
            out.append(b"EXIF" + len(block).to_bytes(4, "little") + block)
    body = b"".join(chunk + b"\0" if len(chunk) & 1 else chunk for chunk in out)
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body
