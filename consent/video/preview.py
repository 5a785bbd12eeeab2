"""A strip of the frames behind a clip's reasons, with the faces boxed.

For each reason about faces, the frame where each of its faces was seen best
(``PhotoCheck.video["faces_at"]``), in time order, at most :data:`MOST_FRAMES` in all, worst
reasons first; each frame is decoded on its own (a seek to the key frame before it, then
decoded up to it), turned upright, its faces boxed in ``colours`` (by face index) and labelled
with its time. Frames with no reason about faces (a clip whose only reasons are its sound and
kit): the first frame.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from ..results import VERDICT_ORDER, PhotoCheck
from . import clock
from .frames import _frame_rotation, _upright

#: the most frames in a strip
MOST_FRAMES = 4


def strip_times(result: PhotoCheck) -> list[float]:
    """The times of the frames a strip shows (see the module's docstring)."""
    at = (result.video or {}).get("faces_at") or []
    times: list[float] = []
    for reason in sorted(result.reasons, key=lambda r: -VERDICT_ORDER[r.verdict]):
        for i in reason.faces:
            if i < len(at) and at[i] not in times:
                times.append(at[i])
    return sorted(times[:MOST_FRAMES]) or [0.0]


def frame_at(path: str | Path, t: float):
    """The clip's frame at ``t`` seconds (the first at or after it), RGB and upright, or None."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            container.seek(int((t + start) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time - start + 1e-3 >= t:
                    return _upright(frame.to_ndarray(format="rgb24"), _frame_rotation(frame, 0))
    except (av.FFmpegError, OSError):
        return None
    return None


def strip(result: PhotoCheck, colours: dict[int, str], side: int = 360) -> Image.Image | None:
    """The strip for a checked clip (``result``): frames ``side`` px high side by side, each
    face seen best on it boxed in ``colours[face index]``; None when no frame can be read."""
    at = (result.video or {}).get("faces_at") or []
    tiles = []
    for t in strip_times(result):
        image = frame_at(result.path, t)
        if image is None:
            continue
        tile = Image.fromarray(image)
        k = side / tile.height
        tile = tile.resize((max(1, round(tile.width * k)), side))
        draw = ImageDraw.Draw(tile)
        for face in result.faces:
            if face.index < len(at) and at[face.index] == t:
                top, right, bottom, left = (v * k for v in face.box)
                draw.rectangle([left, top, right, bottom], outline=colours.get(face.index, "#f29900"),
                               width=max(2, side // 120))
        draw.rectangle([0, 0, 6 + 9 * len(clock(t)), 16], fill="#000000")
        draw.text((3, 2), clock(t), fill="#ffffff")
        tiles.append(tile)
    if not tiles:
        return None
    out = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), side), "#ffffff")
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + 4
    return out
