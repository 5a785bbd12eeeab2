"""Irreversibly obscure faces in a publication-safe copy.

Each face box, grown by a margin, is pixelated to a coarse grid and then blurred, so neither a
person nor a face-recognition model can recover the face; the copy is written as JPEG with the
original's colour profile and no other metadata, atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

from ..errors import SafeCopyFailed
from ..images import give_back_memory
from ..settings import DEFAULTS, Settings

def obscure(image: Image.Image, boxes, settings: Settings = DEFAULTS, in_place: bool = False) -> Image.Image:
    """A copy of ``image`` (with ``in_place``: ``image`` itself) with every (top, right, bottom,
    left) box, grown by ``settings.blur_margin``, pixelated to ``settings.blur_cells`` cells
    across and blurred."""
    margin, cells = settings.blur_margin, settings.blur_cells
    out = image if in_place else image.copy()
    for top, right, bottom, left in boxes:
        w, h = right - left, bottom - top
        region = (
            max(0, int(left - w * margin)), max(0, int(top - h * margin)),
            min(out.width, int(right + w * margin)), min(out.height, int(bottom + h * margin)),
        )
        rw, rh = region[2] - region[0], region[3] - region[1]
        if rw <= 0 or rh <= 0:
            continue
        crop = out.crop(region)
        small = crop.resize((max(1, cells), max(1, round(cells * rh / rw))), Image.Resampling.BOX)
        blocky = small.resize((rw, rh), Image.Resampling.NEAREST)
        out.paste(blocky.filter(ImageFilter.GaussianBlur(radius=max(2, rw / (cells * 2)))), region)
    return out


def write_blurred_copy(photo, boxes, dst, settings: Settings = DEFAULTS) -> Path:
    """Write ``photo`` (a :class:`consent.images.Photo`: its picture at full size) with ``boxes``
    (original upright coordinates) obscured to ``dst`` as JPEG."""
    dst = Path(dst)
    with photo.open() as original:
        icc = original.info.get("icc_profile")
    # the full-size picture is handed over and obscured in place: no second full-size copy
    blurred = obscure(photo.take_picture().image, boxes, settings, in_place=True)
    fd, tmp = tempfile.mkstemp(prefix=".blur-", suffix=".jpg", dir=dst.parent)
    os.close(fd)
    try:
        blurred.save(tmp, "JPEG", quality=settings.safe_copy_jpeg_quality, icc_profile=icc)
        os.replace(tmp, dst)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SafeCopyFailed(f"{dst}: the blurred copy could not be written ({exc.strerror or exc})") from None
    finally:
        del blurred  # the full-size picture, dropped before the copy is re-checked
        give_back_memory()
    return dst
