"""One photo, read once: the object every stage of a check takes.

A check opens the photo's file once, at intake (:meth:`Photo.read`), and never again: the
photo's bytes, their SHA-256 and the name it is known by travel together from there, and every
later stage works from them (:mod:`consent.check` lists the stages):

- the picture, decoded from the bytes once at the size a stage asks for
  (:meth:`Photo.picture`: the analysis size for the models, full size for a blurred copy;
  a face too small at the analysis size is encoded from a second, larger decode, made by
  :func:`consent.vision.faces.encode` from the same bytes);
- the metadata report, scanned from the bytes once (:func:`consent.metadata.scan`, which keeps
  it on the photo for the safe copy);
- the analysis cache's key (the SHA-256), the publication-safe copy (made from the bytes) and
  the blurred copy.

A photo that did not come from a file of this machine (a remote worker's, :mod:`consent.remote`)
is made from its bytes (:meth:`Photo.of_bytes`).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from . import images
from .settings import DEFAULTS, Settings


@dataclass(eq=False)
class Photo:
    """A photo's bytes, read once, and what is made of them once (see the module's docstring)."""

    #: the file it was read from: named in messages and results, never opened again
    path: Path
    #: the name it is known by (an upload's original file name; default the file's name)
    name: str
    data: bytes = field(repr=False)
    #: SHA-256 of the bytes, hex: identifies the photo across renames (the analysis cache's key)
    sha256: str
    settings: Settings = field(default=DEFAULTS, repr=False)
    #: seconds the intake took (reading and hashing the bytes)
    read_s: float = field(default=0.0, repr=False)
    #: the pictures decoded so far, by the longest side asked for (None: full size)
    _pictures: dict = field(default_factory=dict, init=False, repr=False)
    #: the metadata scan of the bytes, made once by :func:`consent.metadata.scan`
    scanned: tuple | None = field(default=None, init=False, repr=False)

    @classmethod
    def read(cls, path: os.PathLike | str, settings: Settings = DEFAULTS, name: str | None = None) -> "Photo":
        """The photo at ``path``: its file opened and read, this once. Raises
        :class:`~consent.errors.UnreadableImage` (missing, a folder, no permission)."""
        started = time.perf_counter()
        photo = cls.of_bytes(images.read_file(path), path, settings, name)
        photo.read_s = time.perf_counter() - started
        return photo

    @classmethod
    def of_bytes(cls, data: bytes, path: os.PathLike | str, settings: Settings = DEFAULTS,
                 name: str | None = None) -> "Photo":
        """The photo whose bytes are ``data``, known as ``path`` (never opened)."""
        path = Path(path)
        return cls(path, name or path.name, data, hashlib.sha256(data).hexdigest(), settings)

    @property
    def suffix(self) -> str:
        """The ending of its publication-safe copy, by content: ``.png``, ``.webp`` or ``.jpg``."""
        return images.copy_suffix(self.data)

    def open(self) -> Image.Image:
        """A Pillow image over the bytes, checked as a photo we accept, nothing decoded
        (:func:`consent.images.open_bytes`; each call a new one, to close after use)."""
        return images.open_bytes(self.data, self.path, self.settings)

    def picture(self, max_side: int | None = None) -> images.Picture:
        """The picture decoded upright, no larger than ``max_side`` (None: full size), decoded
        once for each size asked for; a full-size picture already decoded serves any size it
        fits. Raises the errors of :func:`consent.images.decode_bytes`."""
        if max_side not in self._pictures:
            full = self._pictures.get(None)
            if full is None:
                full = next((p for p in self._pictures.values() if p.scale == 1.0), None)
            if full is not None and (max_side is None or max(full.image.size) <= max_side):
                self._pictures[max_side] = full
            else:
                self._pictures[max_side] = images.decode_bytes(self.data, self.path, max_side, self.settings)
        return self._pictures[max_side]

    def check_whole(self) -> None:
        """Refuse the photo when its picture data is truncated or corrupted (the check's own
        decision, :func:`consent.images.decode`): decoded already, it is whole; else it is
        decoded at the smallest size that still reads every scan."""
        if self._pictures:
            return
        img = self.open()
        try:
            images.decode(img, images.describe(self.path), max_side=1)
        finally:
            img.close()
