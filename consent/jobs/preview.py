"""The annotated preview on the check page: the photo, smaller, with numbered coloured face boxes
and boxes labelled "name" around pupils' names written in the picture.

Green: cleared for every channel checked; red: a registered person without consent, or a
pictured pupil's name; amber: a face the register cannot vouch for (unknown, unclear, too
small), or another pupil's name. Names are never drawn into the picture: the page lists them
beside the numbers, only for roles allowed to see them. The JPEG carries no metadata.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import ImageDraw, ImageFont

from consent import images
from consent.reports import STATE_COLOURS


def write(src, result, states: dict[int, str], dst: Path, settings) -> Path:
    """Draw ``result``'s faces (coloured by ``states``) on a small copy of ``src``; write ``dst``.
    A clip's preview is the strip of the frames behind its reasons (``consent.video.preview``)."""
    if result.video is not None:
        return _write_jpeg(_strip(result, states, settings), dst)
    photo = images.load(src, max_side=settings.preview_max_side, settings=settings)
    img = photo.image.copy()
    draw = ImageDraw.Draw(img)
    width = max(3, max(img.size) // 250)
    font_size = max(14, max(img.size) // 40)
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # very old Pillow
        font = ImageFont.load_default()
    for face in result.faces:
        colour = STATE_COLOURS[states.get(face.index, "review")]
        _labelled(draw, [v / photo.scale for v in face.box], colour, str(face.index + 1), font, width)
    for reason in result.reasons:
        colour = STATE_COLOURS["no_consent" if reason.severity == "block" else "review"]
        for region in reason.regions:
            _labelled(draw, [v / photo.scale for v in region], colour, "name", font, width)
    return _write_jpeg(img, dst)


def _strip(result, states: dict[int, str], settings):
    """A clip's frames behind its reasons, faces boxed in their colours, at most the preview's
    width; a grey tile when no frame can be read (the check says why)."""
    from PIL import Image

    from consent.video.preview import strip

    colours = {i: STATE_COLOURS[s] for i, s in states.items()}
    side = max(120, settings.preview_max_side // 3)
    img = strip(result, colours, side) or Image.new("RGB", (side * 16 // 9, side), "#5f6368")
    if img.width > settings.preview_max_side:
        img = img.resize((settings.preview_max_side, max(1, img.height * settings.preview_max_side // img.width)))
    return img


def _write_jpeg(img, dst: Path) -> Path:
    """``img`` as a JPEG without metadata at ``dst``, written whole or not at all."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".preview-", suffix=".jpg", dir=dst.parent)
    os.close(fd)
    try:
        img.save(tmp, "JPEG", quality=82)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def _labelled(draw, box, colour: str, label: str, font, width: int) -> None:
    """A (top, right, bottom, left) box outlined in ``colour`` with ``label`` on a tab above it."""
    top, right, bottom, left = box
    draw.rectangle([left, top, right, bottom], outline=colour, width=width)
    bbox = draw.textbbox((0, 0), label, font=font)
    tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
    y = top - th - 2 * width if top - th - 2 * width > 0 else bottom
    draw.rectangle([left, y, left + tw + 2 * width, y + th + 2 * width], fill=colour)
    draw.text((left + width, y + width - bbox[1]), label, fill="white", font=font)
