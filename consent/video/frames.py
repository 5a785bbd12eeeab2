"""A clip opened, refused when it cannot be checked, and its frames sampled one at a time.

:func:`probe` reads the container's header (nothing decoded) and refuses, with a sentence naming
the file and saying what to do (:class:`~consent.errors.UnreadableVideo`,
:class:`~consent.errors.VideoTooLarge`): a missing or empty file, one PyAV cannot open (damaged,
not a video), a clip with no picture (sound only), a container this tool does not check, a
clip longer than ``settings.video_max_seconds`` or with frames of more than
``settings.video_max_pixels``.

:func:`sample` decodes the frames in order, one at a time (a frame is dropped as soon as the
next is decoded: memory is one frame and the decoder's own buffers, whatever the length), and
yields a frame:

1. every ``1 / settings.video_sample_fps`` seconds (0.25 s at the default 4): a face on screen
   for half a second is on at least two sampled frames, one if a frame is lost at a cut;
2. at a scene cut (:data:`CUT_DIFFERENCE`: the mean grey difference between consecutive frames
   at 32x18 pixels), so the first frame of every shot is looked at, however short.

A clip that stops decoding before its stated duration (a truncated file) is refused: part of it
was never looked at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UnreadableVideo, VideoTooLarge
from ..settings import DEFAULTS, Settings

#: a scene cut: the mean absolute difference of two consecutive frames, grey at 32x18, above
#: this (0-255). Measured on the clips made from fixture photos: a cut between two different
#: pictures 28.9-41.0; within a shot, a zoom jumping 16 px a frame at most 8.8 and a 4K pan
#: 0.2. A false cut (a camera flash) costs one more frame looked at, a missed one nothing but
#: the clock's 0.25 s
CUT_DIFFERENCE = 25.0
#: a clip decoding to less than this share of its stated duration is cut short (truncated); the
#: last sample time is at most one frame before the end of a whole clip
WHOLE_SHARE = 0.9
#: what to do with a video that cannot be read
WATCH_IT = "copy it again from the phone or camera, or watch it and check every face yourself"

#: PyAV's container names -> the name users know (MOV and MP4 share FFmpeg's demuxer)
_FORMATS = {"webm": "WebM", "matroska": "WebM"}


@dataclass
class Clip:
    """What a clip's header says: enough to decide whether and how to check it."""

    path: Path
    #: ``MP4``, ``MOV`` or ``WebM``
    format: str
    #: seconds, as the container states it
    duration: float
    #: width and height as displayed (the phone's rotation applied)
    width: int
    height: int
    #: frames per second (the stream's average rate; 0 when unknown)
    fps: float
    #: the display rotation in degrees, counter-clockwise (0, 90, 180, 270)
    rotation: int
    has_audio: bool
    #: the kinds of the streams after the first video stream and audio stream (``data``,
    #: ``subtitle``, a second ``video``...): none of them goes into the safe copy
    other_streams: list[str] = field(default_factory=list)
    #: tag names found in the container and its streams (see :func:`metadata_groups`)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    """One sampled frame: its time in seconds and its picture, RGB, upright."""

    t: float
    image: np.ndarray
    #: True when sampled because the shot changed (a scene cut), not by the clock
    cut: bool = False


def _open(path: Path):
    import av

    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise UnreadableVideo(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise UnreadableVideo(f"{path}: cannot be read ({exc.strerror or exc}); check permissions") from None
    if path.is_dir():
        raise UnreadableVideo(f"{path}: is a folder, not a video")
    if size == 0:
        raise UnreadableVideo(f"{path}: the file is empty (0 bytes); {WATCH_IT}")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise UnreadableVideo(f"{path}: not a video this tool can read, or damaged ({_why(exc)}); {WATCH_IT}") from None
    except OSError as exc:
        raise UnreadableVideo(f"{path}: cannot be read ({exc.strerror or exc}); check permissions") from None


def _why(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(":")[0].strip().rstrip(".").lower() or type(exc).__name__


def _format(container) -> str:
    name = container.format.name
    for key, word in _FORMATS.items():
        if key in name:
            return word
    if "mov" in name or "mp4" in name:
        brand = (container.metadata.get("major_brand") or "").strip()
        return "MOV" if brand == "qt" else "MP4"
    return name


def probe(path: str | os.PathLike, settings: Settings = DEFAULTS) -> Clip:
    """The clip at ``path`` from its header, or a clear refusal (see the module's docstring)."""
    path = Path(path)
    container = _open(path)
    try:
        fmt = _format(container)
        if fmt not in ("MP4", "MOV", "WebM"):
            raise UnreadableVideo(f"{path}: a {fmt} file, not an MP4, MOV or WebM video; save it as MP4 "
                                  "and check that, or watch it and check every face yourself")
        if not container.streams.video:
            what = "sound only" if container.streams.audio else "no picture"
            raise UnreadableVideo(f"{path}: {what}, no picture to check for faces; listen to it for pupils' "
                                  "names yourself before publishing it")
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise UnreadableVideo(f"{path}: its picture size cannot be read (damaged); {WATCH_IT}")
        if width * height > settings.video_max_pixels:
            raise VideoTooLarge(f"{path}: its frames are {width}x{height} pixels, more than the "
                                f"{settings.video_max_pixels:,} this tool checks (video_max_pixels); save a "
                                "4K or smaller copy and check that")
        duration = _duration(container, video)
        if duration is None or duration <= 0:
            raise UnreadableVideo(f"{path}: its length cannot be read (damaged or cut short); {WATCH_IT}")
        if duration > settings.video_max_seconds:
            raise VideoTooLarge(f"{path}: {duration:,.0f} seconds long, more than the {settings.video_max_seconds} "
                                "this tool checks (video_max_seconds); cut it into shorter parts and check each")
        rotation = _rotation(container, video)
        if rotation in (90, 270):
            width, height = height, width
        audio = container.streams.audio
        others = [s.type for s in container.streams
                  if s is not video and not (audio and s is audio[0])]
        tags = dict(container.metadata)
        for s in container.streams:
            tags.update({f"{s.type}:{k}": v for k, v in s.metadata.items()})
        rate = video.average_rate or video.guessed_rate
        return Clip(path=path, format=fmt, duration=duration, width=width, height=height,
                    fps=float(rate) if rate else 0.0, rotation=rotation, has_audio=bool(audio),
                    other_streams=others, tags=tags)
    finally:
        container.close()


def _duration(container, video) -> float | None:
    if video.duration is not None and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _rotation(container, video) -> int:
    """The display rotation phones record (a display matrix), from the first frame decoded
    (which also shows the picture decodes at all), as 0, 90, 180 or 270 counter-clockwise."""
    import av

    try:
        for frame in container.decode(video):
            return _frame_rotation(frame, 0)
    except av.FFmpegError as exc:
        raise UnreadableVideo(f"{container.name}: its first frame cannot be decoded (damaged: {_why(exc)}); "
                              f"{WATCH_IT}") from None
    raise UnreadableVideo(f"{container.name}: no frame of it could be decoded (damaged or cut short); {WATCH_IT}")


def sample(clip: Clip, settings: Settings = DEFAULTS) -> Iterator[Sample]:
    """The clip's sampled frames in order (see the module's docstring), decoded one at a time.

    Raises :class:`~consent.errors.UnreadableVideo` when decoding fails part way or stops well
    before the stated end (the samples yielded before that were looked at, the rest was not).
    """
    import av

    step = 1.0 / settings.video_sample_fps
    container = _open(clip.path)
    last = -1.0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        next_t = 0.0
        previous = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = max(0.0, frame.time - start)
                small = signature(frame)
                cut = previous is not None and float(np.abs(small - previous).mean()) > CUT_DIFFERENCE
                previous = small
                last = t
                if t + 1e-6 >= next_t or cut:
                    yield Sample(t, _upright(frame.to_ndarray(format="rgb24"), _frame_rotation(frame, clip.rotation)),
                                 cut=cut and t + 1e-6 < next_t)
                    while next_t <= t + 1e-6:
                        next_t += step
        except av.FFmpegError as exc:
            raise UnreadableVideo(f"{clip.path}: damaged at {last:.1f} s of {clip.duration:.1f} s ({_why(exc)}); "
                                  f"{WATCH_IT}") from None
    finally:
        container.close()
    frame_s = 1.0 / clip.fps if clip.fps else 0.1
    if last < 0:
        raise UnreadableVideo(f"{clip.path}: no frame of it could be decoded (damaged); {WATCH_IT}")
    if last + frame_s < clip.duration * WHOLE_SHARE - frame_s:
        raise UnreadableVideo(f"{clip.path}: the file stops at {last:.1f} s of its {clip.duration:.1f} s (cut "
                              f"short, e.g. a copy that did not finish); {WATCH_IT}")


#: decoded pictures whose first plane is 8-bit luma, read as it is for :func:`signature`
_LUMA8 = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}
#: the signature's size (width, height) and the rows and columns of luma it reads (every 4th)
SIGNATURE_SIZE, SIGNATURE_STEP = (32, 18), 4


def signature(frame) -> np.ndarray:
    """A frame's grey picture at 32x18 (0-255, float) for finding scene cuts: the mean of each
    cell of its luma plane, read at every 4th row and column (the frame is not converted: this
    runs on every frame of the clip). Limited-range luma (16-235) is stretched to 0-255, as a
    grey conversion would. Other pixel formats are scaled by FFmpeg."""
    w, h = SIGNATURE_SIZE
    if frame.format.name not in _LUMA8 or frame.width < w * SIGNATURE_STEP or frame.height < h * SIGNATURE_STEP:
        return frame.reformat(width=w, height=h, format="gray").to_ndarray().astype(np.float64)
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]
    luma = luma[::SIGNATURE_STEP, ::SIGNATURE_STEP]
    rows, cols = luma.shape[0] // h * h, luma.shape[1] // w * w
    small = luma[:rows, :cols].reshape(h, rows // h, w, cols // w).mean(axis=(1, 3))
    if frame.format.name.startswith("yuvj") or getattr(frame, "color_range", 1) == 2:  # full range
        return small
    return np.clip((small - 16.0) * (255.0 / 219.0), 0.0, 255.0)


def ahead(samples: Iterator[Sample]) -> Iterator[Sample]:
    """``samples`` as they come, the next one decoded in a thread while the caller works on
    this one (PyAV decodes without Python's lock: the decoder and the face detector share the
    cores). At most one sample waits (memory: one more frame). What the decoding raises is
    raised here, where it happened in the order; a caller that stops early stops the thread."""
    import queue
    import threading

    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in samples:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)
        finally:
            close = getattr(samples, "close", None)
            if close is not None:
                close()  # the clip's file closed here, whether it was read to the end or not

    thread = threading.Thread(target=run, name="clip-decoder", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _frame_rotation(frame, default: int) -> int:
    """A frame's display rotation (``frame.rotation``, counter-clockwise), to a quarter turn."""
    rotation = getattr(frame, "rotation", None)
    if rotation is None:
        return default
    return int(round(rotation / 90.0)) % 4 * 90


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded frame turned as the phone shows it (``rotation`` degrees counter-clockwise)."""
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))
