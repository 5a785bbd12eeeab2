"""IPTC-IIM records (caption, keywords, by-line, ...), as Photoshop resources, PNG raw
profiles and TIFF tags carry them."""

from __future__ import annotations

from .common import be16
from .report import MetadataReport

_IIM_NAMES = {
    5: "object name", 7: "edit status", 15: "category", 20: "supplemental category",
    25: "keywords", 40: "special instructions", 55: "date created", 60: "time created",
    62: "digital creation date", 63: "digital creation time", 65: "originating program",
    80: "by-line", 85: "by-line title", 90: "city", 92: "sub-location", 95: "province/state",
    100: "country code", 101: "country", 103: "transmission reference", 105: "headline",
    110: "credit", 115: "source", 116: "copyright notice", 118: "contact", 120: "caption",
    122: "caption writer",
}


def scan(report: MetadataReport, data: bytes) -> None:
    """Report IPTC-IIM datasets (caption, keywords, by-line, ...)."""
    values: dict[int, list[bytes]] = {}
    pos, n = 0, len(data)
    while pos + 5 <= n and data[pos] == 0x1C:
        record, dataset = data[pos + 1], data[pos + 2]
        size = be16(data, pos + 3)
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
