"""What a scan found and what a safe copy kept: plain dataclasses with stable group codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .common import as_text

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

#: most items one report lists (a hostile file can hold millions of tags)
_MAX_ITEMS = 2000


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
        text = as_text(value)
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
