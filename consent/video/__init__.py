"""Videos: the photo check for the clips schools post (issue 31).

One module, one job:

* :mod:`.frames`: a clip opened and refused when it cannot be checked (empty, damaged, cut
  short, sound only, too long, frames too large), then its frames decoded one at a time and
  sampled at ``settings.video_sample_fps`` and at scene cuts;
* :mod:`.tracks`: the faces found on the sampled frames linked into tracks, one person across
  frames (box overlap between consecutive samples, then encodings);
* :mod:`.check`: the check of one clip, on the photo pipeline's stages: each track judged once
  from its best sightings (:mod:`consent.vision.faces`, :mod:`consent.register.matching`),
  then :func:`consent.check.judge` and the same rules, reasons carrying times ("0:12-0:19: ...");
* :mod:`.copy`: the safe copy, a remux with no metadata and no data or subtitle streams,
  verified by reading it back.

Videos are checked in the containers PyAV reads reliably from phones and cameras:
:data:`CHECKED_SUFFIXES`. Other video endings stay "could not check: watch it yourself"
(:func:`consent.images.not_checked_reason`).
"""

from __future__ import annotations

import os

from ..images import CHECKED_VIDEO_SUFFIXES

#: endings of the videos this tool checks (MP4, MOV, M4V; WebM where it decodes)
CHECKED_SUFFIXES = CHECKED_VIDEO_SUFFIXES


def is_video(name: str | os.PathLike) -> bool:
    """True when ``name`` ends as a video this tool checks (:data:`CHECKED_SUFFIXES`)."""
    return os.path.splitext(str(name))[1].lower() in CHECKED_SUFFIXES


def clock(seconds: float) -> str:
    """A time in a clip as people read it: 72.4 -> "1:12"."""
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def span_words(start: float, end: float) -> str:
    """A stretch of a clip: "0:12-0:19", or "0:12" when it starts and ends in one second."""
    a, b = clock(start), clock(end)
    return a if a == b else f"{a}-{b}"
