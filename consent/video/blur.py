"""A clip's copy with faces blurred on every frame, re-encoded as H.264.

The faces to blur are tracks (:mod:`consent.video.tracks`), seen on the sampled frames only;
on every frame between, a track's box is carried (:func:`box_at`):

1. between two sightings at most two sample steps apart, the box moves in a straight line from
   one to the other; further apart (the face was missed in between), both boxes are blurred;
2. before its first sighting and after its last, by one sample step (the face may have been on
   screen up to a step before it was first sampled), the nearest sighting's box;
3. each box is grown by ``settings.blur_margin`` and pixelated as a photo's, with OpenCV
   (:func:`consent.vision.blur.obscure_pixels`).

Frames are decoded, blurred and encoded one at a time (turned upright: the copy has no
rotation to apply); the sound is copied as it is (or dropped). The copy is written to a
temporary file and renamed into place once read back with no tags and only its picture and
sound (:func:`consent.video.copy.verify`). :func:`consent.video.check.check_video` then checks
the copy again: the detector must not find the blurred faces there.

Progress: ``write_blurred_copy(..., progress=fn)`` calls ``fn(frame, frames)`` every
``PROGRESS_EVERY`` frames written and once at the end (``frames``: the header's count, or the
duration times the rate; the last call's ``frame`` is the true count). A caller of
``check_video`` (which passes no ``progress``) gets the same calls by wrapping the check in
``with reporting(fn):`` on the thread that runs it (the web app's blurred copy of a clip).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SafeCopyFailed
from ..settings import DEFAULTS, Settings
from .copy import temporary_beside, verify
from .frames import Clip, _frame_rotation, _upright
from .tracks import Track

#: the blurred copy's container by the clip's format (H.264 goes in MP4 or MOV; WebM becomes MP4)
_MUXERS = {"MP4": ("mp4", ".mp4"), "MOV": ("mov", ".mov"), "WebM": ("mp4", ".mp4")}
#: x264's constant quality for the copy (18: visually the same as the original, about)
CRF = "18"
#: x264's speed: "veryfast" encoded 150 frames of 1080p in 2.7 s against "medium"'s 5.5 s (3.8
#: against 8.3 s of CPU), at the same constant quality and a smaller file on that test (422
#: against 500 KB); "superfast" saved 0.5 s more for three times the file
PRESET = "veryfast"
#: frames between two progress calls (a second of a 30 fps clip; a call costs nothing itself)
PROGRESS_EVERY = 30

Progress = Callable[[int, int], None]
#: the progress callback of a ``write_blurred_copy`` called without one (:func:`reporting`)
_reporting: ContextVar[Progress | None] = ContextVar("blurred_copy_progress", default=None)


@contextmanager
def reporting(progress: Progress | None):
    """Within the block, on this thread, every blurred copy written reports to ``progress``."""
    token = _reporting.set(progress)
    try:
        yield
    finally:
        _reporting.reset(token)


def blurred_suffix(clip: Clip) -> str:
    return _MUXERS[clip.format][1]


def box_at(track: Track, t: float, step: float):
    """The box to blur for ``track`` at ``t`` seconds (see the module's docstring), a list of
    (top, right, bottom, left) boxes, empty when the face is not on screen then."""
    s = track.sightings
    if t < s[0].t - step or t > s[-1].t + step:
        return []
    if t <= s[0].t:
        return [s[0].box]
    if t >= s[-1].t:
        return [s[-1].box]
    for a, b in zip(s, s[1:]):
        if a.t <= t <= b.t:
            if b.t - a.t > 2 * step + 1e-6:
                return [a.box, b.box]
            k = (t - a.t) / (b.t - a.t) if b.t > a.t else 0.0
            return [tuple(round(x + (y - x) * k) for x, y in zip(a.box, b.box))]
    return []


def write_blurred_copy(clip: Clip, tracks: list[Track], dst: str | os.PathLike, settings: Settings = DEFAULTS,
                       *, drop_sound: bool = False, progress: Progress | None = None) -> Path:
    """Write ``clip`` with ``tracks``' faces blurred on every frame to ``dst``; returns it.
    ``progress(frame, frames)``: see the module's docstring."""
    import av

    dst = Path(dst)
    tmp = temporary_beside(dst)
    try:
        try:
            frames = _encode(clip, tracks, tmp, settings, drop_sound, progress or _reporting.get())
        except av.FFmpegError as exc:
            raise SafeCopyFailed(f"{clip.path}: its blurred copy could not be written ({exc})") from None
        verify(tmp, clip, frames, drop_sound)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _encode(clip: Clip, tracks: list[Track], tmp: Path, settings: Settings, drop_sound: bool,
            progress: Progress | None = None) -> int:
    import av

    from ..vision.blur import obscure_pixels

    step = 1.0 / settings.video_sample_fps
    # each track's first and last moment to blur, to find the tracks on screen at a frame at once
    starts = np.array([track.sightings[0].t - step for track in tracks], dtype=np.float64)
    ends = np.array([track.sightings[-1].t + step for track in tracks], dtype=np.float64)
    with av.open(str(clip.path), metadata_errors="ignore") as src, \
            av.open(str(tmp), "w", format=_MUXERS[clip.format][0], options={"fflags": "+bitexact"}) as out:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        start = float(vin.start_time * vin.time_base) if vin.start_time is not None else 0.0
        vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 30)
        vout.width, vout.height, vout.pix_fmt = clip.width, clip.height, "yuv420p"
        vout.options = {"crf": CRF, "preset": PRESET}
        vout.time_base = vin.time_base
        streams, aout = [vin], None
        if src.streams.audio and not drop_sound:
            ain = src.streams.audio[0]
            aout = out.add_stream_from_template(ain)
            aout.metadata.clear()
            streams.append(ain)
        out.metadata.clear()
        frames = 0
        expected = vin.frames or round(clip.duration * clip.fps) or 1
        for packet in src.demux(streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                t = max(0.0, (frame.time or 0.0) - start)
                image = _upright(frame.to_ndarray(format="rgb24"), _frame_rotation(frame, clip.rotation))
                on = np.nonzero((starts <= t) & (ends >= t))[0]
                boxes = [box for i in on for box in box_at(tracks[i], t, step)]
                if boxes:
                    image = obscure_pixels(np.ascontiguousarray(image), boxes, settings)
                new = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                new.pts, new.time_base = frame.pts, frame.time_base
                for encoded in vout.encode(new):
                    out.mux(encoded)
                frames += 1
                if progress is not None and frames % PROGRESS_EVERY == 0:
                    progress(frames, max(expected, frames + 1))
        for encoded in vout.encode():
            out.mux(encoded)
    if progress is not None:
        progress(frames, frames)
    return frames
