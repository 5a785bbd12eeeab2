"""A clip's publication-safe copy: its picture and sound remuxed, nothing else.

The copy (:func:`make_safe_copy`) is a new container holding the first video stream and (unless
dropped) the first audio stream, their packets copied without re-encoding (same picture, same
sound, made in about the time it takes to read the file). What is not copied is gone: the
container's and streams' tags (QuickTime ``©xyz`` location,
``com.apple.quicktime.location.ISO6709``, make, model, software, dates), data streams (a
GoPro's GPS track, a drone's telemetry), subtitle streams, chapters, cover pictures. FFmpeg's
own "encoder" tag is not written (``fflags=+bitexact``); the phone's rotation is kept, as the
display matrix FFmpeg writes for the stream, so the copy plays upright.

It is written to a temporary file in the destination folder and renamed into place only after
it has been read back (:func:`verify`): one video stream and at most one audio stream, no tag
but the container's own (:data:`ALLOWED_TAGS`), the same number of video packets. Anything
else and no copy is kept (:class:`~consent.errors.SafeCopyFailed`). The tests read copies with
exiftool (``-ee``: embedded tracks too) as an independent check.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import SafeCopyFailed
from .frames import Clip

#: tags a remux writes that identify nobody: the container's brand and each stream's handler
ALLOWED_TAGS = {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id",
                "language", "duration", "encoder"}
#: the copy's container and ending by the clip's format (M4V is MP4)
_MUXERS = {"MP4": ("mp4", ".mp4"), "MOV": ("mov", ".mov"), "WebM": ("webm", ".webm")}


def safe_suffix(clip: Clip) -> str:
    """The safe copy's ending: its real container's (``.m4v`` becomes ``.mp4``)."""
    return _MUXERS[clip.format][1]


def make_safe_copy(clip: Clip, dst: str | os.PathLike, *, drop_sound: bool = False) -> Path:
    """Write ``clip``'s safe copy to ``dst`` (see the module's docstring); returns ``dst``.
    ``drop_sound``: the copy has no sound at all."""
    import av

    dst = Path(dst)
    tmp = temporary_beside(dst)
    try:
        try:
            packets = _remux(clip, tmp, drop_sound)
        except av.FFmpegError as exc:
            raise SafeCopyFailed(f"{clip.path}: its safe copy could not be written ({exc}); the clip may be "
                                 "damaged: copy it again from the phone or camera") from None
        verify(tmp, clip, packets, drop_sound)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def temporary_beside(dst: Path) -> Path:
    """A new empty file in ``dst``'s folder to write a copy into before it is renamed to ``dst``,
    created with the usual permissions (as the photos' safe copies: readable as the umask allows)."""
    for _ in range(100):
        tmp = dst.with_name(f".consent-{secrets.token_hex(6)}{dst.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise SafeCopyFailed(f"{dst.parent}: no temporary file could be made there for the copy")


def _remux(clip: Clip, tmp: Path, drop_sound: bool) -> int:
    """Copy the packets of the clip's first video and audio streams into ``tmp``; returns how
    many video packets were copied."""
    import av

    muxer = _MUXERS[clip.format][0]
    with av.open(str(clip.path), metadata_errors="ignore") as src, \
            av.open(str(tmp), "w", format=muxer, options={"fflags": "+bitexact"}) as out:
        streams = [src.streams.video[0]]
        if src.streams.audio and not drop_sound:
            streams.append(src.streams.audio[0])
        targets = {}
        for stream in streams:
            target = out.add_stream_from_template(stream)
            if stream.codec_tag and stream.codec_tag.isprintable():
                target.codec_tag = stream.codec_tag  # an iPhone's HEVC is 'hvc1' (the muxer's default
                #                                      'hev1' does not play on Apple devices)
            target.metadata.clear()
            if stream.type == "video" and clip.rotation:
                target.set_display_rotation(clip.rotation)
            targets[stream.index] = target
        out.metadata.clear()
        video_packets = 0
        for packet in src.demux(streams):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            video_packets += packet.stream.type == "video"
            packet.stream = targets[packet.stream.index]
            out.mux(packet)
    return video_packets


def verify(copy: Path, clip: Clip, video_packets: int, drop_sound: bool) -> None:
    """Read the copy back: its streams, its tags and its video packets (see the module's
    docstring); :class:`~consent.errors.SafeCopyFailed` when anything is left or lost."""
    import av

    def failed(what: str) -> SafeCopyFailed:
        return SafeCopyFailed(f"{clip.path}: its safe copy failed the check ({what}); no copy was kept")

    try:
        with av.open(str(copy), metadata_errors="ignore") as back:
            kinds = [s.type for s in back.streams]
            if kinds.count("video") != 1 or any(k not in ("video", "audio") for k in kinds) or kinds.count("audio") > 1:
                raise failed(f"streams {', '.join(kinds)}")
            if drop_sound and "audio" in kinds:
                raise failed("the sound is still there")
            tags = dict(back.metadata)
            for s in back.streams:
                tags.update(s.metadata)
            left = sorted(k for k, v in tags.items() if k.lower() not in ALLOWED_TAGS or _identifying(k, v))
            if left:
                raise failed(f"tags left: {', '.join(left)}")
            count = sum(1 for p in back.demux(back.streams.video[0]) if p.dts is not None)
    except av.FFmpegError as exc:
        raise failed(f"it cannot be read back: {exc}") from None
    if count != video_packets:
        raise failed(f"{count} of {video_packets} video frames")
    if copy.suffix.lower() in (".mp4", ".mov", ".m4v"):  # QuickTime boxes (a WebM's blurred copy is MP4)
        _no_location_boxes(copy, failed)


def _identifying(key: str, value) -> bool:
    """An allowed tag whose value could identify a device or person (a handler named after the
    phone's maker, an encoder string but FFmpeg's)."""
    text = str(value).lower()
    if key.lower() == "encoder":
        return not text.startswith("lavf")
    return any(word in text for word in ("apple", "android", "gopro", "samsung", "iphone", "location"))


#: QuickTime boxes that hold a position (``©xyz``) or metadata keys (``keys``: where
#: ``com.apple.quicktime.location.ISO6709`` lives)
_LOCATION_BOXES = (b"\xa9xyz", b"ISO6709", b"com.apple.quicktime", b"com.android")


def _no_location_boxes(copy: Path, failed) -> None:
    """The copy's ``moov`` box (MP4 and MOV: where tags live) holds none of
    :data:`_LOCATION_BOXES`, byte for byte: a check that does not rely on FFmpeg's reading."""
    with open(copy, "rb") as fh:
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return
            size, kind = int.from_bytes(head[:4], "big"), head[4:]
            header = 8
            if size == 1:
                size, header = int.from_bytes(fh.read(8), "big"), 16
            if kind == b"moov":
                body = fh.read(size - header)
                hit = [b.decode("latin-1") for b in _LOCATION_BOXES if b in body]
                if hit:
                    raise failed(f"{', '.join(hit)} still in its header")
                return
            if size == 0 or size < header:
                return
            fh.seek(size - header, 1)
