"""XMP packets: named people, face regions, GPS, creator, dates and the rest."""

from __future__ import annotations

import re

from .common import dms
from .report import MetadataReport

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
    return dms((float(d), float(m or 0), float(s or 0)), ref, limit)


def scan(report: MetadataReport, data: bytes, label: str = "XMP") -> None:
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
