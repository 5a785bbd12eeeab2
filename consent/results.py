"""What a photo check returns: plain dataclasses rendered by the CLI, JSON, HTML and web pages.

Reason codes and JSON field names are stable (see docs/json.md); ``JSON_VERSION`` changes when
a field changes meaning or goes away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JSON_VERSION = 2

#: verdicts, best first; the worst reason decides a channel's verdict
OK, REVIEW, BLOCK = "ok", "review", "block"
VERDICT_ORDER = {OK: 0, REVIEW: 1, BLOCK: 2}

#: reason severities and the verdict each leads to
INFO, SEV_REVIEW, SEV_BLOCK = "info", "review", "block"
SEVERITY_VERDICT = {INFO: OK, SEV_REVIEW: REVIEW, SEV_BLOCK: BLOCK}

#: One word (or phrase) for each state, the same on every web page, in the command line and in
#: the reports (JSON keeps the codes: ``ok``, ``review``, ``block``, ``error``). A verdict
#: (``error``: the photo could not be read at all) ...
VERDICT_WORDS = {OK: "ok", REVIEW: "needs sign-off", BLOCK: "do not publish", "error": "could not check"}
#: the same as a label (filters, headings): "OK", "Needs sign-off", "Do not publish", "Could not check"
VERDICT_LABELS = {k: w.upper() if k == OK else w.capitalize() for k, w in VERDICT_WORDS.items()}
#: ... a photo's sign-off (the web app's queue) ...
SIGN_OFF_WORDS = {"pending": "waiting for sign-off", "approved": "signed off", "rejected": "not approved"}
#: ... and a face's state over the channels checked (the colour of its box)
FACE_STATE_WORDS = {
    "cleared": "cleared",
    "no_consent": "no consent (for at least one channel checked)",
    "review": "not recognised: check who this is",
    "not_identifiable": "counted as a person only",
}


def state_words(state: str) -> str:
    """A verdict or sign-off state in words (``review`` -> "needs sign-off")."""
    return VERDICT_WORDS.get(state) or SIGN_OFF_WORDS.get(state) or state


def counts_words(counts: dict[str, int], videos: int = 0) -> str:
    """A batch's counts by verdict: "5 photos: ok 2, needs sign-off 1, do not publish 1, could
    not check 1"; with ``videos`` of them clips, "4 photos and 1 video: ..."."""
    total = sum(counts.values())
    photos = total - videos
    what = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in ((photos, "photo"), (videos, "video")) if n]
    return f"{' and '.join(what) or '0 photos'}: " + ", ".join(
        f"{VERDICT_WORDS[k]} {counts.get(k, 0)}" for k in (OK, REVIEW, BLOCK, "error"))


def worst(verdicts) -> str:
    """The worst of some verdicts (``ok`` when there are none)."""
    return max(verdicts, key=VERDICT_ORDER.__getitem__, default=OK)


def channel_label(channel: str) -> str:
    """``social_media`` -> ``social media``."""
    return channel.replace("_", " ")


@dataclass
class Reason:
    """One finding of one rule."""

    #: stable code, e.g. ``no_consent``, ``close_up`` (docs/json.md lists them)
    code: str
    #: ``info``, ``review`` or ``block``
    severity: str
    #: one plain-English sentence for school office staff
    message: str
    #: the channels this applies to; empty means every channel checked
    channels: list[str] = field(default_factory=list)
    #: indices into ``PhotoCheck.faces`` this reason is about
    faces: list[int] = field(default_factory=list)
    #: a senior colleague must sign the photo off before it is published
    senior_signoff: bool = False
    #: what would avoid the problem ("a shoulders-up crop would avoid this")
    suggestion: str | None = None
    #: detail only admins may see (e.g. why a pupil must never be published)
    admin_detail: str | None = None
    #: where in the picture, as (top, right, bottom, left) boxes in original pixels (e.g. a
    #: name written on a badge); locations only, never what is written there
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: detail naming people, for roles allowed to see names (whose name is readable)
    name_detail: str | None = None
    #: videos: when the faces it is about are on screen, as (start, end) seconds; in the JSON
    #: only for videos
    times: list[tuple[float, float]] = field(default_factory=list)

    def applies_to(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    @property
    def verdict(self) -> str:
        return SEVERITY_VERDICT[self.severity]

    def to_json(self, admin: bool = False, names: bool = True) -> dict:
        data = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "channels": list(self.channels),
            "faces": list(self.faces),
            "senior_signoff": self.senior_signoff,
            "suggestion": self.suggestion,
            "regions": [box_json(b) for b in self.regions],
        }
        if admin and self.admin_detail:
            data["admin_detail"] = self.admin_detail
        if names and self.name_detail:
            data["name_detail"] = self.name_detail
        if self.times:
            data["times"] = times_json(self.times)
        return data

    @classmethod
    def from_json(cls, r: dict) -> "Reason":
        return cls(
            code=r["code"], severity=r["severity"], message=r["message"],
            channels=list(r.get("channels", [])), faces=list(r.get("faces", [])),
            senior_signoff=r["senior_signoff"], suggestion=r["suggestion"],
            admin_detail=r.get("admin_detail"),
            regions=[box_from_json(b) for b in r.get("regions", [])],
            name_detail=r.get("name_detail"),
            times=times_from_json(r.get("times", [])),
        )


def times_json(times) -> list[dict]:
    """Stretches of a video, (start, end) seconds, as JSON."""
    return [{"start": a, "end": b} for a, b in times]


def times_from_json(times) -> list[tuple[float, float]]:
    return [(t["start"], t["end"]) for t in times]


def box_json(box: tuple[int, int, int, int]) -> dict:
    """A (top, right, bottom, left) box as JSON."""
    return {"top": box[0], "right": box[1], "bottom": box[2], "left": box[3]}


def box_from_json(b: dict) -> tuple[int, int, int, int]:
    return (b["top"], b["right"], b["bottom"], b["left"])


@dataclass
class Face:
    """A face found in the photo, and who it is as far as the register can tell."""

    index: int
    #: (top, right, bottom, left) in original upright image pixels
    box: tuple[int, int, int, int]
    height_px: int
    #: a person who knows the pupil could recognise this face (big and sharp enough)
    identifiable: bool
    #: why nobody could recognise the face, or why the tool cannot check who it is (too small,
    #: blurred, turned away); None when the tool checked it
    why_not: str | None = None
    #: ``matched``, ``unknown``, ``ambiguous``, ``looks_like`` (nobody close enough to match,
    #: but one person close enough to suggest: ``suggested_id``), ``unchecked`` (identifiable,
    #: but the tool cannot match it: turned away, small or blurred) or ``not_identifiable``
    #: (nobody could recognise it)
    match: str = "not_identifiable"
    person_id: int | None = None
    person_name: str | None = None
    #: ``pupil`` or ``staff`` when matched
    role: str | None = None
    distance: float | None = None
    #: channel -> consent status (granted, refused, withdrawn, expired, missing)
    consent: dict[str, str] = field(default_factory=dict)
    never_publish: bool = False
    #: the tool could encode and match this face (see ``match``)
    recognisable: bool = False
    #: ``looks_like``: the person the face looks like, to be confirmed or rejected by someone
    #: allowed to see names. Never ``person_id``: a suggestion is not a match
    suggested_id: int | None = None
    suggested_name: str | None = None
    #: ``ambiguous``: the people the face is too close to call between, closest first (ids)
    candidate_ids: tuple[int, ...] = ()
    #: a senior's answer to "is this <suggested person>?" applied to this face: ``yes`` (now
    #: ``matched`` to them) or ``no`` (now ``unknown``); None when nobody answered
    answer: str | None = None
    #: videos: when this face (one person's track) is on screen, as (start, end) seconds; in
    #: the JSON only for videos
    times: list[tuple[float, float]] = field(default_factory=list)

    @property
    def is_staff(self) -> bool:
        return self.match == "matched" and self.role == "staff"

    def overall_state(self, channels) -> str:
        """The worst :meth:`state` over ``channels`` (``review`` when none were checked)."""
        states = {self.state(c) for c in channels} or {"review"}
        return next(s for s in ("no_consent", "review", "not_identifiable", "cleared") if s in states)

    def state(self, channel: str) -> str:
        """Colour-coding state for one channel: ``cleared``, ``no_consent``, ``review`` (someone
        must look at who it is) or ``not_identifiable`` (nobody could recognise the face: it only
        counts as a person; a blurred copy still hides it)."""
        if self.match == "matched":
            if self.never_publish or self.consent.get(channel, "missing") != "granted":
                return "no_consent"
            return "cleared"
        if self.match == "not_identifiable":
            return "not_identifiable"
        return "review"

    def to_json(self, names: bool = True, channels=(), detail: bool | None = None) -> dict:
        """The face as JSON. Without ``names`` no name or id. Without ``detail`` (default: as
        ``names``; roles that may not see who is pictured) only its colour state over
        ``channels``: no role, match distance, consent status per channel or never-publish
        flag, as the web page shows those roles."""
        data = {
            "index": self.index,
            "box": box_json(self.box),
            "height_px": self.height_px,
            "identifiable": self.identifiable,
            "recognisable": self.recognisable,
            "why_not": self.why_not,
            "match": self.match,
        }
        if self.times:
            data["times"] = times_json(self.times)
        if not (names if detail is None else detail):
            data["state"] = self.overall_state(channels)
            return data
        data.update({
            "role": self.role,
            "distance": None if self.distance is None else round(self.distance, 4),
            "consent": dict(self.consent),
            "never_publish": self.never_publish,
        })
        if names:
            data["person_id"] = self.person_id
            data["person_name"] = self.person_name
            data["suggested_id"] = self.suggested_id
            data["suggested_name"] = self.suggested_name
            data["answer"] = self.answer
            if self.candidate_ids:
                data["candidate_ids"] = list(self.candidate_ids)
        return data

    @classmethod
    def from_json(cls, f: dict) -> "Face":
        """Rebuild a face from :meth:`to_json` (names and ids only if they were written)."""
        return cls(
            index=f["index"],
            box=box_from_json(f["box"]),
            height_px=f["height_px"],
            identifiable=f["identifiable"],
            recognisable=bool(f.get("recognisable", False)),
            why_not=f["why_not"],
            match=f["match"],
            person_id=f.get("person_id"),
            person_name=f.get("person_name"),
            role=f.get("role"),
            distance=f.get("distance"),
            consent=dict(f.get("consent", {})),
            never_publish=bool(f.get("never_publish", False)),
            suggested_id=f.get("suggested_id"),
            suggested_name=f.get("suggested_name"),
            answer=f.get("answer"),
            candidate_ids=tuple(f.get("candidate_ids", ())),
            times=times_from_json(f.get("times", [])),
        )


def join_words(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + (words[-1] if words else "")


@dataclass
class ChannelVerdict:
    channel: str
    verdict: str
    #: the messages of the reasons that decided the verdict, joined by "; " ("" when ok)
    detail: str = ""

    @property
    def summary(self) -> str:
        """One line, e.g. "do not publish for social media: 1 pupil without consent ..."."""
        return _sentence(self.verdict, [self.channel], self.detail)

    def to_json(self) -> dict:
        return {"channel": self.channel, "verdict": self.verdict, "detail": self.detail,
                "summary": self.summary}


def _sentence(verdict: str, channels: list[str], detail: str) -> str:
    text = f"{VERDICT_WORDS[verdict]} for {join_words([channel_label(c) for c in channels])}"
    return f"{text}: {detail}" if detail else text


@dataclass
class PhotoCheck:
    """The result of checking one photo for one or more channels."""

    path: str
    name: str
    sha256: str | None = None
    format: str | None = None
    width: int = 0
    height: int = 0
    channels: list[str] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    pupil_count: int = 0
    reasons: list[Reason] = field(default_factory=list)
    verdicts: dict[str, ChannelVerdict] = field(default_factory=dict)
    #: metadata groups found in the original (gps, camera, ...), see consent.metadata
    metadata_found: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: set when the photo could not be checked at all
    error: str | None = None
    error_code: str | None = None
    safe_copy: str | None = None
    #: with blurring: the JSON of the re-check of the blurred safe copy (its pixels alone)
    blurred_recheck: dict | None = None
    #: with blurring: what the blurred copy may be published for, by rule
    #: (:func:`consent.blurring.blurred_check`): ``{"faces", "regions", "verdict", "summary",
    #: "channels", "reasons"}``; the re-check can add a reason, never remove one
    blurred: dict | None = None
    #: a blurred copy kept beside the plain ``safe_copy`` (the web batch's zip holds both);
    #: for reports only, not part of the JSON
    blurred_copy: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: True when the result came from the cache of an earlier identical check
    cached: bool = False
    #: who faces were compared with, when the check was restricted to some year groups and
    #: classes: ``{"years": ["7", "8"], "forms": ["7B"]}`` (staff always); None: everybody
    compared_with: dict | None = None
    #: videos only (consent.video): ``{"duration", "fps", "sample_fps", "sampled_frames",
    #: "scene_cuts", "tracks", "faces_at", "audio", "sound_dropped"}``; None for a photo
    video: dict | None = None

    @property
    def verdict(self) -> str:
        """Worst verdict over the channels checked; ``error`` when the photo could not be read."""
        if self.error:
            return "error"
        return worst(v.verdict for v in self.verdicts.values())

    def reasons_for(self, channel: str) -> list[Reason]:
        return [r for r in self.reasons if r.applies_to(channel)]

    def summary(self) -> str:
        """One plain sentence over all channels, channels with the same outcome together:
        "ok for website and newsletter; do not publish for social media: 1 pupil without consent ..."."""
        if self.error:
            return self.error
        groups: dict[tuple[str, str], list[str]] = {}
        for v in sorted(self.verdicts.values(), key=lambda v: VERDICT_ORDER[v.verdict]):
            groups.setdefault((v.verdict, v.detail), []).append(v.channel)
        return "; ".join(_sentence(verdict, chans, detail) for (verdict, detail), chans in groups.items())

    def to_json(self, names: bool = True, admin: bool = False, detail: bool | None = None) -> dict:
        """The check as JSON (docs/json.md); ``names``, ``detail``: see :meth:`Face.to_json`."""
        data = {
            "version": JSON_VERSION,
            "path": self.path,
            "name": self.name,
            "sha256": self.sha256,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "verdict": self.verdict,
            "summary": self.summary(),
            "channels": {c: v.to_json() for c, v in self.verdicts.items()},
            "pupil_count": self.pupil_count,
            "faces": [f.to_json(names=names, channels=self.channels, detail=detail) for f in self.faces],
            "reasons": [r.to_json(admin=admin, names=names) for r in self.reasons],
            "metadata_found": list(self.metadata_found),
            "notes": list(self.notes),
            "error": None if not self.error else {"code": self.error_code, "message": self.error},
            "safe_copy": self.safe_copy,
            "blurred_recheck": self.blurred_recheck,
            "blurred": self.blurred,
            "cached": self.cached,
            "compared_with": self.compared_with,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.video is not None:
            data["video"] = dict(self.video)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "PhotoCheck":
        """Rebuild a check from :meth:`to_json` (the web app stores checks this way)."""
        faces = [Face.from_json(f) for f in data["faces"]]
        reasons = [Reason.from_json(r) for r in data["reasons"]]
        err = data.get("error") or {}
        return cls(
            path=data["path"], name=data["name"], sha256=data["sha256"], format=data["format"],
            width=data["width"], height=data["height"], channels=list(data["channels"]),
            faces=faces, pupil_count=data["pupil_count"], reasons=reasons,
            verdicts={c: ChannelVerdict(c, v["verdict"], v.get("detail", "")) for c, v in data["channels"].items()},
            metadata_found=list(data["metadata_found"]), notes=list(data["notes"]),
            error=err.get("message"), error_code=err.get("code"), safe_copy=data["safe_copy"],
            blurred_recheck=data.get("blurred_recheck"), blurred=data.get("blurred"),
            timings=dict(data.get("timings", {})),
            compared_with=data.get("compared_with"),
            video=data.get("video"),
        )


def channel_verdicts(reasons, channels) -> dict[str, ChannelVerdict]:
    """Each channel's verdict: the worst severity of the reasons applying to it."""
    verdicts = {}
    for channel in channels:
        relevant = [r for r in reasons if r.applies_to(channel)]
        verdict = worst(SEVERITY_VERDICT[r.severity] for r in relevant)
        detail = "; ".join(r.message for r in relevant if SEVERITY_VERDICT[r.severity] == verdict and verdict != OK)
        verdicts[channel] = ChannelVerdict(channel, verdict, detail)
    return verdicts
