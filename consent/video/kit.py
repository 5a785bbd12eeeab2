"""PE kit, sportswear and undress in a clip: the photo kit check on sampled frames.

The photo check's kit measures (:func:`consent.vision.kit.measure`: the scene model over the
whole frame and over each person's body below their face, bare skin against each person's own
face, the school kit colours) run on a sampled frame at most every :data:`KIT_EVERY_S` seconds
and at every scene cut, with the faces the face detector found on that frame. Every shot is
thus looked at at least once (its first frame is a cut), and a long shot once a second.

Why once a second and not on every frame the faces are looked for (4 a second): PE kit and
undress are what a scene shows, and a scene lasts longer than a face may be on screen; the
measures cost 36-42 ms a 1080p frame on this machine when it was quiet (the 20 kit fixture
photos fitted into 1920 x 1080 frames) and 93 ms under load (``python -m bench video``: 2.8 s on
the 30 frames of a 30-second clip), so once a second adds 1.2-2.8 s to a 30-second clip's check
where every frame faces are looked for on (120) would add 5-11 s, a third or more of the
check's whole budget (half the clip's length).

The clip is then judged by the photo rule (:mod:`consent.rules.kit`) with the clip's own words
(folder, file name, caption): each frame's measures are decided (:func:`consent.vision.kit.decide`),
and the rule is given the strongest frame of the worst kind found (undress before PE kit), so the
reason says what was seen there; its times are those of every frame found of that kind
("0:04-0:08: pupils may be in PE kit ..."). As on a photo, undress is the one reason when
both are seen; the frames showing PE kit elsewhere in the clip are then named in a note.

When the scene model cannot run on a frame the clip's kit was not checked
(:data:`consent.video.check.KIT`: fail closed, watch it), never "no kit".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: the kit is measured on a sampled frame at most this often (seconds), and at every scene cut
KIT_EVERY_S = 1.0


@dataclass
class KitFrames:
    """The kit measures of the frames looked at: ``frames`` holds ``{"t": seconds, "kit":
    KitMeasures.to_json()}`` in time order (cacheable with the clip's analysis)."""

    frames: list[dict] = field(default_factory=list)
    last: float | None = None

    def due(self, t: float, cut: bool) -> bool:
        """Whether the frame at ``t`` (a scene cut or not) is one to measure; if so, it counts
        as measured from now (:meth:`measure` may run later, in another thread)."""
        if cut or self.last is None or t - self.last >= KIT_EVERY_S - 1e-6:
            self.last = t
            return True
        return False

    def measure(self, checker, image, detected, t: float, timings: dict) -> None:
        """Measure the kit on one frame (``image``, RGB; ``detected``: the faces found on it, in
        its pixels), with the checker's settings and school kit profile."""
        from ..vision import faces as faces_mod, kit

        start = time.perf_counter()
        boxes = [faces_mod.hog_like_box(d, 1.0) for d in detected]
        measures = kit.measure(image, boxes, profile=getattr(checker, "_kit_profile", None),
                               settings=checker.settings)
        self.frames.append({"t": round(t, 3), "kit": measures.to_json()})
        timings["kit"] = timings.get("kit", 0.0) + time.perf_counter() - start

    @property
    def error(self) -> str:
        """Why the kit could not be measured ("" when it was on every frame looked at)."""
        return next((f["kit"]["error"] or "the scene model did not run" for f in self.frames
                     if f["kit"].get("scene") is None), "")


@dataclass
class KitJudgement:
    """The clip's kit as the photo rule will see it: ``measures`` (the strongest frame of the
    worst kind, for :func:`consent.check.judge`), ``code`` (``exposure``, ``pe_kit`` or None),
    ``times`` (the frames of that kind, seconds), ``frames`` looked at, and ``error`` when the
    check could not run."""

    measures: object | None
    code: str | None
    times: list[float]
    frames: int
    error: str = ""
    #: the frames that showed PE kit when undress is what the rule reports (seconds)
    also_pe_kit: list[float] = field(default_factory=list)


def judge_frames(frames: list[dict], context: str, settings) -> KitJudgement:
    """Decide each frame's kit with the clip's ``context`` words (folder, file name, caption)
    and pick what the rule is given (see the module's docstring)."""
    from ..vision.kit import KitMeasures, decide

    kit = KitFrames(frames=frames)
    if not frames or kit.error:
        return KitJudgement(None, None, [], len(frames), kit.error or "no frame was looked at")
    decided = []
    for frame in frames:
        measures = KitMeasures.from_json(frame["kit"])
        decided.append((frame["t"], measures, decide(measures, context, settings)))
    pe_kit = [t for t, _, a in decided if a.pe_kit and not a.exposure]
    for code, flagged in (("exposure", lambda a: a.exposure), ("pe_kit", lambda a: a.pe_kit)):
        found = [(t, m) for t, m, a in decided if flagged(a)]
        if found:
            strongest = max(found, key=lambda tm: _strength(tm[1], code))
            return KitJudgement(strongest[1], code, [t for t, _ in found], len(frames),
                                also_pe_kit=pe_kit if code == "exposure" else [])
    return KitJudgement(decided[0][1], None, [], len(frames))


def _strength(measures, code: str) -> float:
    """How strongly a frame shows ``code``: the scene's or one person's summed probability."""
    key = "swimwear" if code == "exposure" else "sport"
    people = [(p.get(key) or 0.0) for p in measures.persons]
    return max([measures.scene[key], *people]) + (measures.bare_torso if code == "exposure" else measures.in_kit)
