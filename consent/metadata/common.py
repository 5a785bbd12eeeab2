"""Helpers every format reader shares: what a container walk found, big-endian reads, a
bounded inflate, metadata values as one short line, and degrees/minutes/seconds.

No module of the package is imported here.
"""

from __future__ import annotations

import math
import re
import zlib

#: longest value shown for one item (the rest is cut with an ellipsis)
MAX_VALUE = 120


class Parsed:
    """What a container walk found: segment/chunk positions and the ICC profile bytes."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []
        self.eoi_end: int | None = None
        self.icc: bytes | None = None
        self.extra: dict = {}


def as_text(value) -> str:
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
        text = ", ".join(as_text(v) for v in value[:20])
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "\u2026"
    return text


def be16(data, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


def be32(data, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "big")


def inflate(data: bytes, limit: int = 1 << 22) -> bytes | None:
    """zlib-decompress at most ``limit`` bytes; None when the stream is broken."""
    try:
        return zlib.decompressobj().decompress(data, limit)
    except zlib.error:
        return None


def rational(value) -> float:
    try:
        if isinstance(value, tuple) and len(value) == 2:
            return value[0] / value[1]
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return math.nan


def dms(value, ref, limit: float) -> float | None:
    """Degrees/minutes/seconds (EXIF) to signed decimal degrees; None when unreadable."""
    try:
        parts = [rational(v) for v in value][:3]
    except TypeError:
        parts = [rational(value)]
    if not parts or not all(math.isfinite(p) for p in parts):
        return None
    parts += [0.0] * (3 - len(parts))
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    ref = as_text(ref).upper()[:1]
    if ref in ("S", "W"):
        degrees = -degrees
    return degrees if abs(degrees) <= limit else None
