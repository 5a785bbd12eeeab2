"""The check of one clip, on the photo check's stages and rules.

1. intake (:func:`consent.video.frames.probe`): the header read, the clip refused when it
   cannot be checked; its metadata found (:func:`metadata_found`);
2. analysis (:func:`analyse`): the frames sampled one at a time
   (:func:`consent.video.frames.sample`), faces found on each with the photo detector
   (:func:`consent.vision.faces.detect`; its coarse pass, for close-ups, on every other sampled
   frame and at every cut, so any two frames in a row meet it: a face on screen for half a
   second is on two) and encoded (:func:`~consent.vision.faces.encode`)
   when the register has templates, linked into tracks (:mod:`consent.video.tracks`), while the
   words and the kit of the frames due for them are read in a thread beside (:class:`_Beside`); each track
   becomes one :class:`~consent.results.Face`, judged once from its sightings (:func:`face_of`);
3. judgement: :func:`consent.check.judge` and the same rules as a photo; each reason about faces
   starts with the times those faces are on screen ("0:12-0:19: ..."); PE kit and undress are
   measured on frames (:mod:`consent.video.kit`) and judged by the photo rule, its reason
   starting with the times they were seen; and review reasons say what the tool did not
   check: the sound (:data:`SOUND`, unless the safe copy drops it), the words in the picture
   with the text check off (:data:`TEXT`), PE kit with the kit check off or unable to run
   (:data:`KIT`), or both (:data:`PICTURE`);
4. the safe copy (:func:`consent.video.copy.make_safe_copy`): a remux with no metadata, or
   with ``blur_unconsented`` the copy with faces blurred (:func:`publish_blurred`).

The check never raises for a bad clip: the error is in the result, as for a photo. The
analysis (faces, tracks, text) is cached as a photo's is (:func:`analysed`), so a consent change
is judged without decoding the clip again.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from ..errors import ConsentError
from ..filenames import fit
from ..results import SEV_REVIEW, Face, PhotoCheck, Reason, channel_verdicts
from . import span_words
from .frames import Clip, ahead, probe, sample
from .kit import KIT_EVERY_S, KitFrames
from .tracks import Track, Tracker

#: the review reason on every clip with a sound track (unless the safe copy drops the sound)
SOUND = ("sound_not_checked", "the sound was not checked: listen for pupils' names")
#: the review reason on a clip whose text was not read (the text check off): words in the
#: picture, PE kit and undress are not looked for
PICTURE = ("picture_text_not_checked",
           "names written in the picture (badges, kit, whiteboards) and PE kit were not checked in the "
           "video: watch it for them")
#: the review reason on a clip whose text was read but whose kit was not (the kit check off, or
#: its model could not run: fail closed)
KIT = ("kit_not_checked", "PE kit and undress were not checked in the video: watch it for them")
#: the review reason on a clip whose kit was checked but whose text was not (the text check off)
TEXT = ("picture_text_not_checked",
        "names written in the picture (badges, kit, whiteboards) were not checked in the video: watch it for them")
#: the reasons only videos give (not rules': a blurred copy keeps them)
VIDEO_CODES = {SOUND[0], PICTURE[0], KIT[0]}
#: the text in the picture is read on a sampled frame at most this often (seconds), and at every
#: scene cut: a badge or a name on a shirt stays on screen longer than a face may
TEXT_EVERY_S = 1.0

#: frames up to this size (1080p) are decoded a frame ahead (:func:`consent.video.frames.ahead`);
#: larger ones one at a time: a 4K clip decoded ahead raised a batch worker's peak by 396 MB
#: (the budget is 400), one at a time by 245 MB (tests/test_web_video.py)
AHEAD_MAX_PIXELS = 1920 * 1080

#: in a reason's words, times on screen less than this many seconds apart are one stretch
JOIN_GAP_S = 2.0
#: kit seen on frames looked at one after the other (at most KIT_EVERY_S apart) is one stretch
KIT_JOIN_S = KIT_EVERY_S + 0.05

#: tag names (lower case, without a stream's prefix) -> the metadata group they belong to
#: (consent.rules.metadata.GROUP_WORDS); any other tag but the container's own is "other"
TAG_GROUPS = {
    "location": "gps", "location-eng": "gps", "com.apple.quicktime.location.iso6709": "gps",
    "com.android.capture.location": "gps", "xyz": "gps",
    "creation_time": "time", "date": "time", "com.apple.quicktime.creationdate": "time",
    "make": "camera", "model": "camera", "com.apple.quicktime.make": "camera",
    "com.apple.quicktime.model": "camera", "com.android.manufacturer": "camera",
    "com.android.model": "camera",
    "software": "software", "com.apple.quicktime.software": "software", "encoder": "software",
    "com.android.version": "software",
    "artist": "owner", "author": "owner", "copyright": "owner", "com.apple.quicktime.author": "owner",
    "comment": "comment", "description": "comment", "title": "comment",
    "com.apple.quicktime.description": "comment",
}
#: tags every container carries that identify nobody
HARMLESS_TAGS = {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id",
                 "language", "duration", "encoder", "encoder-eng"}


def metadata_found(clip: Clip) -> list[str]:
    """The identifying metadata groups in a clip's tags and streams (gps, time, camera, ...);
    a data or subtitle stream (a GoPro's GPS track, a drone's telemetry) is ``gps`` and
    ``other``: it may carry positions, and the safe copy has none."""
    found = set()
    for key, value in clip.tags.items():
        name = key.split(":", 1)[-1].lower()
        if name == "encoder" and "lavf" in str(value).lower():
            continue  # FFmpeg's own mark on a file it wrote
        group = TAG_GROUPS.get(name) or ("gps" if "location" in name or "gps" in name else None)
        if group is None and name in HARMLESS_TAGS:
            continue
        found.add(group or "other")
    if "data" in clip.other_streams:
        found.update({"gps", "other"})
    if any(kind != "data" for kind in clip.other_streams):
        found.add("other")
    order = ["gps", "time", "camera", "owner", "software", "comment", "other"]
    return [g for g in order if g in found]


def check_video(
    checker,
    source: str | os.PathLike,
    channels=None,
    caption: str = "",
    *,
    alt_text: str = "",
    display_name: str | None = None,
    folder: str | None = None,
    safe_dir: str | os.PathLike | None = None,
    safe_name: str | None = None,
    blur_unconsented: bool = False,
    drop_sound: bool = False,
    groups=None,
) -> PhotoCheck:
    """Check the clip at ``source`` with ``checker`` (a :class:`consent.check.Checker`: its
    register, settings and models); the arguments are :meth:`Checker.check`'s, plus
    ``drop_sound``: the safe copy has no sound, so the sound needs no listening to. Never raises
    for a bad clip."""
    from ..check import judge

    path = Path(source)
    name = display_name or path.name
    folder = folder if folder is not None else path.parent.name
    result = None
    try:
        chans = checker.channels(channels)
        only = checker.restriction(groups)
        t0 = time.perf_counter()
        clip = probe(path, checker.settings)
        analysis, tracks, info, cached = analysed(checker, clip, only)
        cacheable = not (analysis.text is not None and analysis.text.error) and not (
            "kit_frames" in info and KitFrames(frames=info["kit_frames"]).error)
        cached_form = _cached_form(analysis, tracks, info) if cacheable else None
        analysis.timings["probe"] = time.perf_counter() - t0 - sum(analysis.timings.values())
        frames = info.pop("kit_frames", None)
        kit = kit_judgement(frames if checker.kit_check else None, folder, name, caption, alt_text, checker.settings)
        result = judge(replace(analysis, kit=kit.measures if kit is not None else None), checker.view(), chans,
                       path=str(path), name=name, caption=caption, alt_text=alt_text, folder=folder,
                       settings=checker.settings)
        sound_dropped = bool(drop_sound and clip.has_audio and safe_dir is not None)
        add_times(result, tracks)
        add_text_times(result, analysis.text, info.pop("text_times", []))
        add_kit_times(result, kit)
        if clip.has_audio and not sound_dropped:
            result.reasons.append(Reason(code=SOUND[0], severity=SEV_REVIEW, message=SOUND[1]))
        result.reasons.extend(unchecked_picture(analysis.text is not None, kit))
        result.verdicts = channel_verdicts(result.reasons, chans)
        result.video = {**info, "audio": clip.has_audio, "sound_dropped": sound_dropped}
        if kit is not None:
            result.video.update(kit_frames=kit.frames, kit_at=[round(t, 3) for t in kit.times])
        result.cached = cached
        if safe_dir is not None:
            if blur_unconsented:
                t = time.perf_counter()
                Path(safe_dir).mkdir(parents=True, exist_ok=True)
                publish_blurred(checker, clip, result, tracks, Path(safe_dir), safe_name, drop_sound=drop_sound,
                                caption=caption, alt_text=alt_text, folder=folder, groups=only)
                result.timings["safe_copy"] = time.perf_counter() - t
            else:
                from .copy import make_safe_copy, safe_suffix

                t = time.perf_counter()
                Path(safe_dir).mkdir(parents=True, exist_ok=True)
                dst = Path(safe_dir) / (safe_name or fit(Path(name).stem, safe_suffix(clip)))
                result.safe_copy = str(make_safe_copy(clip, dst, drop_sound=drop_sound))
                if cached_form is not None:
                    remember_for_copy(checker, Path(result.safe_copy), cached_form, only)
                result.timings["safe_copy"] = time.perf_counter() - t
    except ConsentError as exc:
        result = result if result is not None else PhotoCheck(path=str(path), name=name)
        result.error, result.error_code = str(exc), exc.code
    except OSError as exc:  # the safe copy's folder could not be made
        result = result if result is not None else PhotoCheck(path=str(path), name=name)
        result.error = f"{safe_dir}: cannot write the safe copy there ({exc.strerror or exc}); check there is space"
        result.error_code = "safe_copy_failed"
    return result


def publish_blurred(checker, clip: Clip, result: PhotoCheck, tracks: list[Track], safe_dir: Path,
                    safe_name: str | None, *, drop_sound: bool, caption: str, alt_text: str, folder: str,
                    groups) -> None:
    """Write the clip's copy with every face not cleared for all channels checked blurred on
    every frame (:func:`consent.video.blur.write_blurred_copy`), check the copy again as it
    will be published (same words, same channels), and record what it may be published for by
    the photos' rule (:func:`consent.blurring.blurred_check`): the reasons about the blurred
    faces are cleared, the re-check may add reasons, never remove one. Names written in the
    picture are not blurred in videos (their reasons stay); PE kit and words are not looked for
    again in the copy (the clip's reasons about them stay, whatever the copy shows)."""

    from .. import blurring
    from .blur import blurred_suffix, write_blurred_copy

    faces = [f.index for f in result.faces if any(f.state(c) != "cleared" for c in result.channels)]
    dst = safe_dir / (safe_name or fit(Path(result.name).stem, "-blurred" + blurred_suffix(clip)))
    copy = write_blurred_copy(clip, [tracks[i] for i in faces], dst, checker.settings, drop_sound=drop_sound)
    result.safe_copy = str(copy)
    again = check_video(faces_only(checker), copy, result.channels, caption, alt_text=alt_text, display_name=result.name,
                        folder=folder, drop_sound=drop_sound, groups=groups)
    if again.error:
        raise ConsentError(f"{result.name}: the blurred copy could not be re-checked ({again.error})")
    by_rule = blurred_by_rule(result, again, faces)
    result.notes.append(f"{len(faces)} face(s) blurred on every frame; the blurred copy was checked again, and "
                        f"what blurring does not change still counts: {by_rule.summary()}")
    result.blurred_recheck = again.to_json(names=False, detail=True)
    result.blurred = blurring.to_json(by_rule, faces, [])


def blurred_by_rule(result: PhotoCheck, again: PhotoCheck, faces: list[int]) -> PhotoCheck:
    """What a clip's blurred copy may be published for, by the photos' rule
    (:func:`consent.blurring.blurred_check`: the reasons about the blurred ``faces`` cured, the
    re-check ``again`` adding reasons, never removing one), with the clip's own video-only
    reasons kept whatever the copy's check says (blurring cures neither the sound nor what the
    tool did not look at). ``again`` empty (no reasons): what a copy could clear at best,
    before it is made."""
    from dataclasses import replace as copy_of

    from .. import blurring

    ruled = [r for r in result.reasons if r.code not in VIDEO_CODES]
    video = [r for r in result.reasons if r.code in VIDEO_CODES]
    by_rule = blurring.blurred_check(copy_of(result, reasons=ruled),
                                     copy_of(again, reasons=[r for r in again.reasons if r.code not in VIDEO_CODES]),
                                     faces, [])
    reasons = by_rule.reasons + video
    return copy_of(by_rule, reasons=reasons, verdicts=channel_verdicts(reasons, result.channels))


def faces_only(checker):
    """``checker`` looking for faces only, for a clip's blurred copy: its words and kit are not
    read again (blurring faces adds neither), the clip's own reasons about them stay
    (:func:`publish_blurred`; the stored blurred check keeps the clip's kit frames)."""
    from copy import copy as shallow_copy

    looking = shallow_copy(checker)
    looking.text_check = looking.kit_check = False
    return looking


def kit_judgement(frames, folder: str, name: str, caption: str, alt_text: str, settings):
    """The clip's kit judged with its words (:func:`consent.video.kit.judge_frames`), or None
    when the kit check did not run on it (switched off). A stored clip judged again
    (:class:`consent.rejudge.StoredCheck`) calls it with the frames it stored and the words
    of the day."""
    if frames is None:
        return None
    from .kit import judge_frames

    # the words the rules read (consent.rules.RuleContext.context_text)
    context = " ".join(t for t in (folder, name, caption, alt_text) if t)
    return judge_frames(frames, context, settings)


def add_kit_times(result: PhotoCheck, kit) -> None:
    """The kit rule's reason (``pe_kit``, ``exposure``) starts with the times of the frames
    where it was seen."""
    if kit is None or kit.code is None:
        return
    for reason in result.reasons:
        if reason.code == kit.code:
            reason.times = stretches([(t, t) for t in kit.times], gap=KIT_JOIN_S)
            reason.message = f"{', '.join(span_words(a, b) for a, b in reason.times)}: {reason.message}"
    if kit.also_pe_kit:
        when = ", ".join(span_words(a, b) for a, b in stretches([(t, t) for t in kit.also_pe_kit], gap=KIT_JOIN_S))
        result.notes.append(f"PE kit or sportswear was also seen at {when}")


def unchecked_picture(text_read: bool, kit) -> list[Reason]:
    """The review reason naming what was not looked for in the picture: the words (text check
    off), PE kit and undress (kit check off, or its model could not run), or both."""
    kit_checked = kit is not None and not kit.error
    if text_read and kit_checked:
        return []
    if text_read:
        code, message = KIT
    elif kit_checked:
        code, message = TEXT
    else:
        code, message = PICTURE
    if kit is not None and kit.error:
        message = f"{message} (the kit check could not run: {kit.error})"
    return [Reason(code=code, severity=SEV_REVIEW, message=message)]


def add_times(result: PhotoCheck, tracks: list[Track]) -> None:
    """Each face (a track) gets its time on screen; each reason about faces starts with theirs."""
    for face in result.faces:
        face.times = tracks[face.index].spans()
    for reason in result.reasons:
        if not reason.faces:
            continue
        spans = sorted({span for i in reason.faces for span in tracks[i].spans()})
        reason.times = spans
        reason.message = f"{', '.join(span_words(a, b) for a, b in stretches(spans))}: {reason.message}"


def stretches(spans: list[tuple[float, float]], gap: float = JOIN_GAP_S) -> list[tuple[float, float]]:
    """Times on screen as a sentence says them: spans that overlap or are less than ``gap``
    seconds apart joined (the reason's ``times`` keep each face's own)."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def add_text_times(result: PhotoCheck, reading, text_times: list[float]) -> None:
    """Each reason about text in the picture (its ``regions``) gets the times the lines in
    those regions were first read at (``text_times[i]``: when ``reading.lines[i]`` was)."""
    if reading is None or not text_times:
        return
    lines = reading.lines
    for reason in result.reasons:
        if not reason.regions:
            continue
        seen = sorted({round(text_times[i], 2) for i, line in enumerate(lines)
                       if any(_inside(line.box, region) for region in reason.regions)})
        if seen:
            reason.times = [(t, t) for t in seen]
            reason.message = f"{', '.join(span_words(a, b) for a, b in stretches(reason.times))}: {reason.message}"


def _inside(box, region) -> bool:
    """A (top, right, bottom, left) ``box`` within ``region`` (a passage's box holds its lines')."""
    return box[0] >= region[0] and box[1] <= region[1] and box[2] <= region[2] and box[3] >= region[3]


def analysed(checker, clip: Clip, only=None):
    """:func:`analyse`, or what the analysis cache holds for the clip's bytes (the photos' cache,
    :mod:`consent.cache`, under a key of its own: the clip's hash, settings, face templates,
    kit profile and restriction); ``(analysis, tracks, info, cached)``. A clip whose text could
    not be read is not kept (after a reinstall it is read)."""
    from ..cache import fingerprint
    from ..check import Analysis
    from ..images import file_hash
    from .tracks import Sighting

    t = time.perf_counter()
    sha = file_hash(clip.path)
    hash_s = time.perf_counter() - t
    view = checker.view()
    cache = checker.cache()
    key = fingerprint(["video", checker.analysis_key(sha, view, only)])
    hit = cache.get(key) if cache is not None else None
    if hit is not None and checker.text_check and hit["analysis"].get("text") is None:
        hit = None  # analysed with the text check off (a batch with --no-text): read it now, in full
    if hit is not None and checker.kit_check and "kit_frames" not in hit["info"]:
        hit = None  # analysed with the kit check off: measure the kit now
    if hit is not None:
        analysis = Analysis.from_json(hit["analysis"])
        analysis.timings = {"hash": hash_s, "cached": 1.0}
        tracks = [Track([Sighting(**{**s, "box": tuple(s["box"])}) for s in track]) for track in hit["tracks"]]
        return analysis, tracks, dict(hit["info"]), True
    analysis, tracks, info = analyse(checker, clip, only, sha)
    analysis.timings["hash"] = hash_s
    kit_failed = "kit_frames" in info and KitFrames(frames=info["kit_frames"]).error
    if cache is not None and not (analysis.text is not None and analysis.text.error) and not kit_failed:
        cache.put(key, sha, view.gallery_fingerprint, _cached_form(analysis, tracks, info))
    return analysis, tracks, info, False


def _cached_form(analysis, tracks: list[Track], info: dict) -> dict:
    kept = [[{k: getattr(s, k) for k in SIGHTING_FIELDS} for s in track.sightings] for track in tracks]
    return {"analysis": analysis.to_json(), "tracks": kept, "info": dict(info)}


def remember_for_copy(checker, copy: Path, cached_form: dict, only=None) -> None:
    """Keep the clip's analysis for its safe copy's bytes too: the copy is a remux, the same
    frames decoded (:mod:`consent.video.copy`), so checking the copy later (a blurred copy asked
    for on the check page is made from it) needs no second look at its frames. Its metadata
    is the copy's own (none, read from its header)."""
    from ..cache import fingerprint
    from ..images import file_hash

    cache = checker.cache()
    if cache is None:
        return
    view = checker.view()
    sha = file_hash(copy)
    data = dict(cached_form["analysis"], sha256=sha, metadata_found=metadata_found(probe(copy, checker.settings)))
    cache.put(fingerprint(["video", checker.analysis_key(sha, view, only)]), sha, view.gallery_fingerprint,
              {**cached_form, "analysis": data})


#: what the cache keeps of each sighting (not its encoding: matching is done by then)
SIGHTING_FIELDS = ("t", "box", "height_px", "sharpness", "turn", "identifiable", "recognisable", "why_not")


def analyse(checker, clip: Clip, only=None, sha: str | None = None):
    """The clip's faces, found on its sampled frames and linked into tracks, as an
    :class:`consent.check.Analysis` (one face per track), the tracks, and what was sampled."""
    from PIL import Image

    from ..check import Analysis
    from ..images import Picture, file_hash
    from ..vision import faces as faces_mod

    settings = checker.settings
    detect_settings = replace(settings, detect_side=min(settings.detect_side, settings.video_detect_side))
    view = checker.view()
    gallery = view.gallery
    if only is not None and gallery is not None:
        gallery = gallery.restricted(only.person_ids)
    timings = {"decode": 0.0, "detect": 0.0, "encode": 0.0}
    sha = sha or file_hash(clip.path)
    tracker = Tracker(settings)
    frames = cuts = 0
    coarse = False
    reading, text_times, read_at = _text_reading(checker), [], None
    kit = KitFrames() if checker.kit_check else None
    beside = _Beside() if reading is not None or kit is not None else None
    try:
        t = time.perf_counter()
        shots = sample(clip, settings)
        if clip.width * clip.height <= AHEAD_MAX_PIXELS:
            shots = ahead(shots)
        for shot in shots:
            timings["decode"] += time.perf_counter() - t
            frames += 1
            cuts += shot.cut
            h, w = shot.image.shape[:2]
            picture = Picture(path=clip.path, format=clip.format, width=w, height=h, orientation=1,
                              image=Image.fromarray(shot.image), scale=1.0)
            t = time.perf_counter()
            coarse = shot.cut or not coarse  # every other sampled frame, and every cut: see the docstring
            detected = faces_mod.detect(picture, detect_settings, pixels=shot.image, coarse=coarse)
            timings["detect"] += time.perf_counter() - t
            t = time.perf_counter()
            if gallery is not None and any(d.recognisable for d in detected):
                faces_mod.encode(picture, [d for d, want in zip(detected, tracker.to_encode(shot.t, detected)) if want],
                                 settings)
            timings["encode"] += time.perf_counter() - t
            tracker.add(shot.t, detected)
            read = reading is not None and reading.error is None and (
                shot.cut or read_at is None or shot.t - read_at >= TEXT_EVERY_S - 1e-6)
            read_at = shot.t if read else read_at
            measure = kit is not None and kit.due(shot.t, shot.cut)
            if read or measure:
                beside.run(_look_at_picture, checker, shot.image, detected, shot.t, reading if read else None,
                           text_times, kit if measure else None, timings)
            del picture, shot
            t = time.perf_counter()
        if beside is not None:
            beside.wait()
    finally:
        if beside is not None:
            beside.close()
    t = time.perf_counter()
    tracks = tracker.tracks
    faces = [face_of(i, track, gallery, settings) for i, track in enumerate(tracks)]
    tracks, faces = one_track_per_person(tracks, faces, gallery, settings)
    timings["match"] = time.perf_counter() - t
    analysis = Analysis(sha256=sha, format=clip.format, width=clip.width, height=clip.height, faces=faces,
                        metadata_found=metadata_found(clip), notes=[], timings=timings,
                        compared_with=only.to_json() if only is not None else None)
    info = {"duration": round(clip.duration, 2), "fps": round(clip.fps, 3),
            "sample_fps": settings.video_sample_fps, "sampled_frames": frames, "scene_cuts": cuts,
            "tracks": len(tracks), "faces_at": [round(track.best().t, 3) for track in tracks]}
    if reading is not None:
        analysis.text = reading
        info["text_times"] = text_times
    if kit is not None:
        info["kit_frames"] = kit.frames
    return analysis, tracks, info


def one_track_per_person(tracks: list[Track], faces: list[Face], gallery, settings):
    """Tracks matched to the same person joined into one (a person who left the picture and came
    back, or whose track broke) and judged again from all their sightings: a person is counted
    once (the small-group rule counts pupils). Unmatched tracks stay apart."""
    by_person: dict[int, list[int]] = {}
    for i, face in enumerate(faces):
        if face.match == "matched":
            by_person.setdefault(face.person_id, []).append(i)
    if all(len(v) == 1 for v in by_person.values()):
        return tracks, faces
    merged = {v[0]: v for v in by_person.values()}
    dropped = {i for v in by_person.values() for i in v[1:]}
    out_tracks = []
    for i, track in enumerate(tracks):
        if i in dropped:
            continue
        if i in merged:
            track = Track(sorted((s for j in merged[i] for s in tracks[j].sightings), key=lambda s: s.t))
        out_tracks.append(track)
    return out_tracks, [face_of(i, track, gallery, settings) for i, track in enumerate(out_tracks)]


class _Beside:
    """One thread beside the frame loop for the words and the kit of a frame, so that they run
    while the next frames are decoded, their faces found and encoded (on two cores the loop
    alone leaves one idle much of the time). One frame at a time: :meth:`run` waits for the
    last frame's work first (memory: one more frame), and raises what it raised."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-picture")
        self._pending = None

    def run(self, fn, *args) -> None:
        self.wait()
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _look_at_picture(checker, image, detected, t: float, reading, text_times: list, kit, timings: dict) -> None:
    """The words (into ``reading``, unless None) and the kit (into ``kit``, unless None) of one
    sampled frame, in :class:`_Beside`'s thread."""
    if reading is not None and reading.error is None:
        _read_text(checker, image, t, reading, text_times, timings)
    if kit is not None:
        kit.measure(checker, image, detected, t, timings)


def _text_reading(checker):
    """An empty :class:`~consent.vision.text.TextReading` to gather the clip's lines into, or
    None when the text check is off."""
    if not checker.text_check:
        return None
    from ..vision.text import TextReading

    return TextReading()


def _read_text(checker, image, t: float, reading, text_times: list, timings: dict) -> None:
    """Read the text on one sampled frame into ``reading``: each line not read before (the same
    words) with the time it was first read (``text_times``); a model that cannot load is the
    reading's error (the rule says the text could not be read)."""
    from ..errors import ModelUnavailable
    from ..vision import text as text_mod

    start = time.perf_counter()
    try:
        found = text_mod.read(image, 1.0, checker.settings)
    except ModelUnavailable as exc:
        reading.error = str(exc)
        found = text_mod.TextReading()
    known = {line.text.casefold() for line in reading.lines}
    for line in found.lines:
        if line.text.casefold() not in known:
            known.add(line.text.casefold())
            reading.lines.append(line)
            text_times.append(t)
    timings["text"] = timings.get("text", 0.0) + time.perf_counter() - start


def face_of(index: int, track: Track, gallery, settings) -> Face:
    """One track as one face of the check, judged once from its sightings:

    * identifiable when any sighting is (a person who knows the pupil saw them clearly once);
      its box and size are those of its best sighting (largest, sharpest);
    * recognisable when any sighting is; then matched against the register from the encodings
      of its best sightings (at most :data:`consent.video.tracks.KEEP_ENCODINGS`), each on its
      own with the photo rule (:func:`consent.register.matching.match_faces`): ``matched`` only
      when at least half of them match and all that match name the same person; matches naming
      different people make it ``ambiguous``; else the best sighting's own result (unknown,
      looks like, ambiguous) stands.
    """
    from ..check import take_match
    from ..register.matching import AMBIGUOUS, MATCHED, Match, match_faces

    best = track.best()
    identifiable = any(s.identifiable for s in track.sightings)
    recognisable = any(s.recognisable for s in track.sightings)
    status = "not_identifiable" if not identifiable else ("unknown" if recognisable else "unchecked")
    face = Face(index=index, box=best.box, height_px=best.height_px, identifiable=identifiable,
                recognisable=recognisable, why_not=best.why_not, match=status)
    encodings = track.encodings()
    if status != "unknown" or gallery is None or not encodings:
        return face
    found = [match_faces([e], gallery, settings)[0] for e in encodings]
    matched = [m for m in found if m.status == MATCHED]
    people = list(dict.fromkeys(m.person_id for m in matched))
    if len(people) > 1:
        take_match(face, Match(person_id=None, distance=min(m.distance for m in matched), margin=0.0,
                               status=AMBIGUOUS, candidates=tuple(people)))
    elif matched and 2 * len(matched) >= len(found):
        take_match(face, min(matched, key=lambda m: m.distance))
    else:
        take_match(face, next((m for m in found if m.status != MATCHED), found[0]))
    return face
