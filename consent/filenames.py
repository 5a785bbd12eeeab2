"""File names that fit the file system.

Most file systems (ext4, XFS, Btrfs, APFS, NTFS via its UTF-16 limit) hold names of at most 255
bytes; a photo's name of 126 accented characters is more than that in UTF-8, and writing its
safe copy failed with "File name too long". :func:`fit` shortens a name's stem, never its
ending, cutting between characters (a letter and its accents stay together).
"""

from __future__ import annotations

import unicodedata

#: the longest file name, in bytes, the file systems a school server uses hold
NAME_MAX = 255

#: bytes kept free for the temporary name a copy is written under first
#: (``.<name>.<8 hex>.tmp``, consent.metadata.write)
TEMP_SPARE = 14


def fit(stem: str, suffix: str, spare: int = TEMP_SPARE) -> str:
    """``stem + suffix`` shortened (the stem only) to at most ``NAME_MAX - spare`` bytes of UTF-8."""
    room = NAME_MAX - spare - len(suffix.encode("utf-8"))
    data = stem.encode("utf-8")
    if len(data) <= room:
        return stem + suffix
    cut = data[:room].decode("utf-8", errors="ignore")
    # the next character would have been an accent of the last letter: drop that letter too
    rest = stem[len(cut):]
    while cut and rest and unicodedata.combining(rest[0]):
        rest = cut[-1] + rest
        cut = cut[:-1]
    return (cut.rstrip() or "photo") + suffix
