"""Irreversibly obscure faces in a publication-safe copy.

Each face box, grown by a margin, is pixelated to a coarse grid and then blurred, so neither a
person nor a face-recognition model can recover the face; the copy is written as JPEG with the
original's colour profile and no other metadata, atomically.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

from ..errors import SafeCopyFailed
from ..images import give_back_memory
from ..settings import DEFAULTS, Settings

def regions(boxes, width: int, height: int, settings: Settings = DEFAULTS):
    """Each (top, right, bottom, left) box grown by ``settings.blur_margin`` and clipped to a
    ``width`` x ``height`` picture, as (left, top, right, bottom); empty ones left out."""
    margin = settings.blur_margin
    for top, right, bottom, left in boxes:
        w, h = right - left, bottom - top
        region = (
            max(0, int(left - w * margin)), max(0, int(top - h * margin)),
            min(width, int(right + w * margin)), min(height, int(bottom + h * margin)),
        )
        if region[2] - region[0] > 0 and region[3] - region[1] > 0:
            yield region


def obscure(image: Image.Image, boxes, settings: Settings = DEFAULTS, in_place: bool = False) -> Image.Image:
    """A copy of ``image`` (with ``in_place``: ``image`` itself) with every (top, right, bottom,
    left) box, grown by ``settings.blur_margin``, pixelated to ``settings.blur_cells`` cells
    across and blurred."""
    cells = settings.blur_cells
    out = image if in_place else image.copy()
    for region in list(regions(boxes, out.width, out.height, settings)):
        rw, rh = region[2] - region[0], region[3] - region[1]
        crop = out.crop(region)
        small = crop.resize((max(1, cells), max(1, round(cells * rh / rw))), Image.Resampling.BOX)
        blocky = small.resize((rw, rh), Image.Resampling.NEAREST)
        out.paste(blocky.filter(ImageFilter.GaussianBlur(radius=max(2, rw / (cells * 2)))), region)
    return out


def obscure_pixels(pixels, boxes, settings: Settings = DEFAULTS):
    """:func:`obscure` in place on an RGB array (a video frame), with OpenCV: each region
    averaged into the same cells, enlarged back as blocks and blurred as Pillow blurs (three box
    blurs for a Gaussian of the same radius). Several times faster than Pillow on a crowd's
    boxes; a clip's blurred copy is re-checked, so the detector must not find these faces."""
    import cv2

    cells = settings.blur_cells
    height, width = pixels.shape[:2]
    for left, top, right, bottom in list(regions(boxes, width, height, settings)):
        rw, rh = right - left, bottom - top
        crop = pixels[top:bottom, left:right]
        small = cv2.resize(crop, (max(1, cells), max(1, round(cells * rh / rw))), interpolation=cv2.INTER_AREA)
        blocky = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        # Pillow's Gaussian: three box blurs of the width giving that standard deviation (its
        # time does not grow with the radius; OpenCV's true Gaussian took 53 ms a face)
        sigma = max(2, rw / (cells * 2))
        width = int(math.sqrt(4 * sigma * sigma + 1)) | 1
        for _ in range(3):
            blocky = cv2.blur(blocky, (width, width), borderType=cv2.BORDER_REPLICATE)
        pixels[top:bottom, left:right] = blocky
    return pixels


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
