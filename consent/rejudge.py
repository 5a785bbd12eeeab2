"""Stored results judged again against the register as it is today.

A check that is kept (a web check, a batch item, a sign-off, a publication record) keeps a
:class:`StoredCheck`: the photo's :class:`~consent.check.Analysis` (face boxes, person *ids*,
kit measures: no register names, no encodings, no never-publish reasons; the lines of text read
in the picture are kept, and can include a name written there), the words that were judged
with it (caption, file name, folder) and the verdict per channel at the time. Whenever it is
shown or served it is judged again (:meth:`StoredCheck.judge`, no models needed) and
:func:`what_changed` says in one sentence why a verdict got worse::

    consent for newsletter was withdrawn on 3 March

A sign-off approves what the senior saw: :func:`covered` is what each reason was about, per
channel (its code, and the face and person it concerned), and :func:`uncovered` the reasons the
photo has now that an approval did not cover. An approval clears only the reasons it covered,
on the channels it released; anything new (a withdrawal, a never-publish flag, a consent that
expired, a face now recognised as someone) means the approval no longer stands.

Names are looked up in the register only when a result is judged, so purging a person leaves
nothing of them behind in stored results (their id matches nobody any more: the face reads
"not recognised").
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, replace

from .blurring import blurred_check
from .check import Analysis, judge
from .register.view import RegisterView
from .results import OK, VERDICT_ORDER, VERDICT_WORDS, PhotoCheck, box_from_json, box_json, channel_label
from .settings import DEFAULTS, Settings

#: bumped when the stored form changes meaning
STORED_FORMAT = 1


@dataclass
class BlurredFrom:
    """What a blurred copy was made from: the original photo's analysis, and the faces (indices
    into it) and places in the picture (name boxes) the copy blurred (``consent.blurring``)."""

    original: Analysis
    faces: list[int]
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"original": _without_names(self.original.to_json()), "faces": list(self.faces),
                "regions": [box_json(b) for b in self.regions]}

    @classmethod
    def from_json(cls, data: dict) -> "BlurredFrom":
        return cls(Analysis.from_json(data["original"]), list(data["faces"]),
                   [box_from_json(b) for b in data.get("regions", [])])


def _without_names(analysis: dict) -> dict:
    """An analysis's JSON as it is stored: no timings, and never a name (make sure of it)."""
    analysis["timings"] = {}
    for face in analysis["faces"]:
        face.pop("person_name", None)
        face.pop("suggested_name", None)
    return analysis


@dataclass
class StoredCheck:
    """What is kept of one check: enough to judge it again, nothing that names anyone."""

    analysis: Analysis
    channels: list[str]
    name: str
    caption: str = ""
    alt_text: str = ""
    folder: str = ""
    #: channel -> verdict when it was checked (or approved, or published): the basis
    verdicts: dict[str, str] = field(default_factory=dict)
    #: channel -> codes of the reasons that were not "info" then: a new one changes the basis
    #: even when the verdict stays the same (a signed-off photo in which someone is now unknown)
    codes: dict[str, list[str]] = field(default_factory=dict)
    #: for a blurred copy (``analysis`` is the copy's): the photo it was made from and what was
    #: blurred, so the copy is judged by rule (:func:`consent.blurring.blurred_check`), not by
    #: its pixels alone
    blurred_from: BlurredFrom | None = None
    #: for a clip (``consent.video``): what the judgement of its analysis needs to say what a
    #: photo's does not (:func:`video_record`): when each face is on screen, when each line of
    #: text was read, whether there is sound to listen to, and the clip's facts (duration,
    #: sampling, the frames behind the faces); None for a photo
    video: dict | None = None

    @classmethod
    def of(cls, analysis: Analysis, result: PhotoCheck, *, caption: str = "", alt_text: str = "",
           folder: str = "") -> "StoredCheck":
        """The stored form of ``result`` (judged from ``analysis``)."""
        return cls(
            analysis=analysis, channels=list(result.channels), name=result.name, caption=caption,
            alt_text=alt_text, folder=folder,
            verdicts={c: v.verdict for c, v in result.verdicts.items()}, codes=reason_codes(result),
        )

    def to_json(self) -> dict:
        data = {
            "format": STORED_FORMAT, "analysis": _without_names(self.analysis.to_json()),
            "channels": list(self.channels),
            "name": self.name, "caption": self.caption, "alt_text": self.alt_text,
            "folder": self.folder, "verdicts": dict(self.verdicts), "codes": dict(self.codes),
        }
        if self.blurred_from is not None:
            data["blurred_from"] = self.blurred_from.to_json()
        if self.video is not None:
            data["video"] = self.video
        return data

    @classmethod
    def from_json(cls, data: dict) -> "StoredCheck":
        return cls(
            analysis=Analysis.from_json(data["analysis"]), channels=list(data["channels"]),
            name=data["name"], caption=data.get("caption", ""), alt_text=data.get("alt_text", ""),
            folder=data.get("folder", ""), verdicts=dict(data.get("verdicts", {})),
            codes={c: list(v) for c, v in data.get("codes", {}).items()},
            blurred_from=BlurredFrom.from_json(data["blurred_from"]) if data.get("blurred_from") else None,
            video=data.get("video"),
        )

    @functools.cached_property
    def person_ids(self) -> list[int]:
        """Ids of the people recognised in the photo when it was analysed (a blurred copy: in
        the copy or in the photo it was made from)."""
        faces = self.analysis.faces + (self.blurred_from.original.faces if self.blurred_from else [])
        return sorted({f.person_id for f in faces if f.match == "matched" and f.person_id})

    def judge(self, view: RegisterView, settings: Settings = DEFAULTS,
              channels: list[str] | None = None) -> PhotoCheck:
        """The check as the register stands in ``view`` (for ``channels``, default the stored ones)."""
        chans = [c for c in (channels or self.channels) if c in view.channels]
        words = dict(path=self.name, name=self.name, caption=self.caption, alt_text=self.alt_text,
                     folder=self.folder, settings=settings)
        kit = self._video_kit(settings)
        result = judge(_with_kit(self.analysis, kit), view, chans, **words)
        if self.video is not None:
            _with_times(result, self.analysis, self.video.get("face_times", []), self.video.get("text_times", []))
        if self.blurred_from is None:
            return _with_video_reasons(result, self.video, self.analysis, kit)
        original = judge(_with_kit(self.blurred_from.original, kit), view, chans, **words)
        if self.video is not None:
            _with_times(original, self.blurred_from.original, self.video.get("original_face_times", []),
                        self.video.get("original_text_times", []))
        checked = blurred_check(original, result, self.blurred_from.faces, self.blurred_from.regions)
        return _with_video_reasons(checked, self.video, self.blurred_from.original, kit)

    def _video_kit(self, settings: Settings):
        """A clip's kit, judged again from the frames its check measured (``video.kit_frames``)
        with today's words and settings; None for a photo, or a clip whose kit was not measured
        (then ``kit_not_checked`` stays)."""
        frames = (self.video or {}).get("kit_frames")
        if not isinstance(frames, list):
            return None
        from .video.check import kit_judgement

        return kit_judgement(frames, self.folder, self.name, self.caption, self.alt_text, settings)


def video_record(tracks, info: dict, result: PhotoCheck) -> dict:
    """What a :class:`StoredCheck` of a clip keeps besides its analysis (``StoredCheck.video``):
    each face's times on screen (``tracks``, as :func:`consent.video.check.analysed` gives
    them), when each line of text was first read (``info["text_times"]``), and the check's
    ``result.video`` (duration, sampling, sound, whether the safe copy dropped it), and the kit
    measures of the frames looked at (``kit_frames``, when the kit check ran)."""
    record = {"face_times": [[list(span) for span in track.spans()] for track in tracks],
              "text_times": list(info.get("text_times", [])), "info": dict(result.video or {})}
    if isinstance(info.get("kit_frames"), list):  # the kit measured on frames, judged again with new words
        record["kit_frames"] = info["kit_frames"]
    return record


class _OnScreen:
    """A face's stored times as :func:`consent.video.check.add_times` reads a track's."""

    def __init__(self, spans):
        self._spans = [tuple(s) for s in spans]

    def spans(self):
        return self._spans


def _with_times(result: PhotoCheck, analysis: Analysis, face_times, text_times) -> None:
    """Each face of a judged clip gets its times on screen, each reason about faces or text in
    the picture starts with theirs, as the check said it (``consent.video.check``)."""
    from .video.check import add_text_times, add_times

    if len(face_times) < len(result.faces):  # never guess: a face without its times keeps none
        face_times = list(face_times) + [[]] * (len(result.faces) - len(face_times))
    add_times(result, [_OnScreen(t) for t in face_times])
    add_text_times(result, analysis.text, list(text_times))


def _with_kit(analysis: Analysis, kit) -> Analysis:
    """A clip's analysis with the kit measures of its judged frames (the rule reads one photo's)."""
    return analysis if kit is None else replace(analysis, kit=kit.measures)


def _with_video_reasons(result: PhotoCheck, video: dict | None, analysis: Analysis, kit=None) -> PhotoCheck:
    """A judged clip with the reasons only clips have, as the check gave them: the sound was not
    listened to (unless the safe copy dropped it), PE kit and undress (and, with the text check
    off, names in the picture) were not looked for. What the tool cannot check is never ok:
    judging a stored clip again never drops these. ``result.video`` is the clip's facts."""
    if video is None:
        return result
    from .results import SEV_REVIEW, Reason, channel_verdicts
    from .video.check import KIT, PICTURE, SOUND, add_kit_times, unchecked_picture

    info = dict(video.get("info") or {})
    reasons = [r for r in result.reasons if r.code not in (SOUND[0], KIT[0], PICTURE[0])]
    if info.get("audio", True) and not info.get("sound_dropped", False):
        reasons.append(Reason(code=SOUND[0], severity=SEV_REVIEW, message=SOUND[1]))
    reasons.extend(unchecked_picture(analysis.text is not None, kit))
    result.reasons = reasons
    add_kit_times(result, kit)
    result.verdicts = channel_verdicts(reasons, result.channels)
    result.video = info
    return result


@dataclass
class Change:
    """One channel whose verdict got worse since the basis, and why."""

    channel: str
    was: str
    now: str
    #: one sentence without names: "consent for newsletter was withdrawn on 3 March"
    because: str
    #: detail only admins may see: who, and why they must never be published
    admin_detail: str | None = None

    def to_json(self) -> dict:
        return {"channel": self.channel, "was": self.was, "now": self.now, "because": self.because,
                "admin_detail": self.admin_detail}


def reason_codes(result: PhotoCheck) -> dict[str, list[str]]:
    """Channel -> sorted codes of the reasons that are not just information."""
    return {c: sorted({r.code for r in result.reasons_for(c) if r.verdict != OK}) for c in result.verdicts}


#: one thing a reason was about: (code, face index, person id); face and person are None for a
#: reason about the whole photo (PE kit, a name in the caption), the person None for a face
#: nobody is matched to
Subject = tuple


def covered(result: PhotoCheck, channels=None) -> dict[str, list[list]]:
    """Channel -> the subjects (``[code, face, person]``) of its reasons that are not just
    information, for ``channels`` (default every channel checked): what an approval covers."""
    people = {f.index: (f.person_id if f.match == "matched" else None) for f in result.faces}
    out = {}
    for channel in (result.verdicts if channels is None else channels):
        subjects = set()
        for r in result.reasons_for(channel):
            if r.verdict == OK:
                continue
            if r.faces:
                subjects.update((r.code, i, people.get(i)) for i in r.faces)
            else:
                subjects.add((r.code, None, None))
        out[channel] = sorted([list(s) for s in subjects], key=repr)
    return out


def uncovered(basis: dict[str, list[list]], now: PhotoCheck, view: RegisterView,
              was: dict[str, str] | None = None) -> list["Change"]:
    """The channels of ``basis`` (what an approval covered: :func:`covered`) on which ``now``
    has a reason the approval did not cover, each with why in one sentence without names:
    "a person in the photo must never be published", "consent for website expired on 3 March",
    or the new reason's own words. ``was``: each channel's verdict when it was approved."""
    changes = []
    for channel, subjects in basis.items():
        verdict = now.verdicts.get(channel)
        if verdict is None or verdict.verdict == OK:
            continue
        seen = {tuple(s) for s in subjects}
        new = [s for s in map(tuple, covered(now, [channel])[channel]) if s not in seen]
        if not new:
            continue
        sentences, details = [], []
        for code, face, person in new:
            if person is not None:
                because, detail = _because(channel, now, view, [person])
                if because:
                    sentences.append(because)
                    details.extend([detail] if detail else [])
                    continue
            reason = next((r for r in now.reasons_for(channel) if r.code == code
                           and (face is None or face in r.faces)), None)
            if reason is not None:
                sentences.append(reason.message)
        sentences = list(dict.fromkeys(sentences)) or [_fallback(verdict)]
        changes.append(Change(channel, (was or {}).get(channel, verdict.verdict), verdict.verdict, "; ".join(sentences),
                              "; ".join(dict.fromkeys(details)) or None))
    return changes


def worse(now: str, was: str | None) -> bool:
    """True when verdict ``now`` is worse than ``was`` (a channel missing from the basis was ok)."""
    return VERDICT_ORDER.get(now, 2) > VERDICT_ORDER.get(was or OK, 0)


def what_changed(basis: dict[str, str], now: PhotoCheck, view: RegisterView,
                 person_ids: list[int] | None = None,
                 codes: dict[str, list[str]] | None = None) -> list[Change]:
    """The channels of ``now`` that are worse than in ``basis`` ({channel: verdict}), with why.

    A channel whose verdict is the same but not ok, with a reason that was not there in
    ``codes`` ({channel: reason codes} of the basis), has changed too: what was signed off is
    not what the photo shows now. ``person_ids``: who was recognised when the basis was made
    (someone since removed from the register is no longer among ``now``'s faces).
    """
    changes = []
    now_codes = reason_codes(now) if codes else {}
    for channel, verdict in now.verdicts.items():
        if channel not in basis:
            continue
        new_reason = (verdict.verdict != OK and codes is not None and channel in codes
                      and bool(set(now_codes.get(channel, [])) - set(codes[channel])))
        if not worse(verdict.verdict, basis[channel]) and not new_reason:
            continue
        because, detail = _because(channel, now, view, person_ids or [])
        changes.append(Change(channel, basis[channel], verdict.verdict, because or _fallback(verdict), detail))
    return changes


def _because(channel: str, now: PhotoCheck, view: RegisterView, person_ids: list[int]):
    label = channel_label(channel)
    sentences, details = [], []
    for pid in person_ids:
        person = view.people.get(pid)
        if person is None:
            sentences.append("a person in the photo was removed from the register")
            continue
        if person.never_publish:
            sentences.append("a person in the photo must never be published")
            details.append(f"{person.display_name}: {person.never_publish_reason or 'never-publish flag set'}")
            continue
        status = view.consent.get((pid, channel), "missing")
        if status == "granted":
            continue
        since, until = view.consent_dates.get((pid, channel), (None, None))
        if status == "expired":
            sentences.append(f"consent for {label} expired on {day_words(until)}" if until
                             else f"consent for {label} expired")
        elif status in ("withdrawn", "refused"):
            sentences.append(f"consent for {label} was {status} on {day_words(since)}" if since
                             else f"consent for {label} was {status}")
        else:
            sentences.append(f"there is no consent for {label} any more")
    sentences = list(dict.fromkeys(sentences))
    return "; ".join(sentences), ("; ".join(details) or None)


def _fallback(verdict) -> str:
    return f"the photo is now “{VERDICT_WORDS[verdict.verdict]}” for {channel_label(verdict.channel)}" + (
        f" ({verdict.detail})" if verdict.detail else "")


def day_words(day: dt.date | None, today: dt.date | None = None) -> str:
    """``3 March`` (``3 March 2025`` when not this year)."""
    if day is None:
        return "an unknown date"
    year = (today or dt.date.today()).year
    return f"{day.day} {day:%B}" + ("" if day.year == year else f" {day.year}")
