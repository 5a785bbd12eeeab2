"""The photo check, as the sequence of its stages; each takes the photo (a
:class:`consent.images.Photo`, read once at intake) and the register, and lives in the room of
its kind:

1. intake (:meth:`Checker.intake`, :mod:`consent.images`): the file read once and accepted as a
   photo; its bytes, hash and format;
2. analysis (:meth:`Checker.analyse`; cached in the register database by the photo's hash,
   :mod:`consent.cache`): the picture decoded (:mod:`consent.images`), the metadata scanned
   (:mod:`consent.metadata`), faces found and encoded (:mod:`consent.vision.faces`) and matched
   (:mod:`consent.register.matching`), kit measured (:mod:`consent.vision.kit`), text read
   (:mod:`consent.vision.text`);
3. judgement (:func:`judge`): the register as it is now (consent states, flags, names) and the
   rules (:mod:`consent.rules`) -> a verdict per channel; cheap, so consent changes take effect
   at once;
4. the copy to publish (:meth:`Checker.publish`): made from the photo's bytes
   (:func:`consent.metadata.make_safe_copy`), or with faces blurred and re-checked
   (:func:`consent.blurring.publish_blurred`).

A :class:`Checker` is built once per process (it loads the face models on first use and reads
the register); ``check(path, ...)`` returns a :class:`~consent.results.PhotoCheck` and never
raises for a bad photo: the error is in the result.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import rules
from .errors import ConsentError, ModelUnavailable, SafeCopyFailed, UnknownChannel
from .filenames import fit
from .images import Photo
from .results import Face, PhotoCheck, channel_verdicts
from .rules import RuleContext
from .register.records import today
from .register.groups import Restriction, restrict, words as compared_words
from .register.view import RegisterView, empty_view, load_view
from .settings import DEFAULTS, Settings


#: the note on a check made with the text check off
TEXT_NOT_READ = "names written in the picture were not looked for (the text check was off)"


@dataclass
class Analysis:
    """The model-dependent part of a check of one photo."""

    sha256: str
    format: str
    width: int
    height: int
    faces: list[Face]
    metadata_found: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: what the kit check measured in the picture (consent.vision.kit.KitMeasures); words are added
    #: when the photo is judged, so a new caption needs no new analysis
    kit: object | None = None
    #: the text read in the picture (consent.vision.text.TextReading): lines and their boxes, so
    #: judging against a changed register needs no new reading; None when text was not read
    text: object | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: the year groups and classes faces were compared with (``Restriction.to_json``), or None:
    #: everybody in the register
    compared_with: dict | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["faces"] = [f.to_json(names=True) for f in self.faces]
        data["kit"] = self.kit.to_json() if self.kit is not None else None
        data["text"] = self.text.to_json() if self.text is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Analysis":
        faces = [Face.from_json(f) for f in data["faces"]]
        kit = None
        if data.get("kit"):
            from .vision.kit import KitMeasures

            kit = KitMeasures.from_json(data["kit"])
        text = None
        if data.get("text"):
            from .vision.text import TextReading

            text = TextReading.from_json(data["text"])
        return cls(
            sha256=data["sha256"], format=data["format"], width=data["width"], height=data["height"],
            faces=faces, metadata_found=list(data["metadata_found"]), notes=list(data["notes"]),
            kit=kit, text=text, timings=dict(data.get("timings", {})),
            compared_with=data.get("compared_with"),
        )


def judge(
    analysis: Analysis,
    view: RegisterView,
    channels: list[str],
    *,
    path: str,
    name: str,
    caption: str = "",
    alt_text: str = "",
    folder: str = "",
    settings: Settings = DEFAULTS,
) -> PhotoCheck:
    """Verdicts for one analysed photo against the register as it is now (no models needed)."""
    faces = []
    for face in analysis.faces:
        face = Face(**{**face.__dict__, "consent": {}})
        if face.match == "looks_like":
            _answered(face, analysis.sha256, view, analysis.faces)
        elif face.match == "ambiguous":  # too close to call, and one of them must never be published
            face.never_publish = any(getattr(view.people.get(p), "never_publish", False) for p in face.candidate_ids)
        person = view.people.get(face.person_id) if face.match == "matched" else None
        if face.match == "matched" and person is None:
            # matched someone since removed from the register: unknown again
            face.match, face.person_id = "unknown", None
        if person:
            face.person_name = person.display_name
            face.role = person.role
            face.never_publish = person.never_publish
            face.consent = {c: view.consent.get((person.id, c), "missing") for c in channels}
        faces.append(face)
    pictured = {f.person_id: view.people[f.person_id].names for f in faces if f.match == "matched"}
    ctx = RuleContext(
        faces=faces,
        channels=channels,
        width=analysis.width,
        height=analysis.height,
        caption=caption,
        alt_text=alt_text,
        file_name=name,
        folder=folder,
        metadata_found=analysis.metadata_found,
        pictured=pictured,
        pupils_on_roll=view.pupils_on_roll,
        roll_index=view.roll_index(),
        never_publish={
            p.id: p.never_publish_reason or "never-publish flag set"
            for p in (view.people[i] for i in pictured) if p.never_publish
        },
        settings=settings,
    )
    ctx.kit = _kit_decision(analysis.kit, ctx.context_text, settings)
    ctx.text = analysis.text
    reasons = rules.evaluate(ctx)
    verdicts = channel_verdicts(reasons, channels)
    return PhotoCheck(
        path=path,
        name=name,
        sha256=analysis.sha256,
        format=analysis.format,
        width=analysis.width,
        height=analysis.height,
        channels=list(channels),
        faces=faces,
        pupil_count=len(ctx.pupil_faces),
        reasons=reasons,
        verdicts=verdicts,
        metadata_found=list(analysis.metadata_found),
        notes=list(analysis.notes) + ([TEXT_NOT_READ] if analysis.text is None else [])
        + ([compared_words(analysis.compared_with)] if analysis.compared_with else []),
        timings=dict(analysis.timings),
        compared_with=analysis.compared_with,
    )


def _answered(face: Face, sha256: str, view: RegisterView, faces: list[Face]) -> None:
    """A ``looks_like`` face as a senior answered it for this photo (consent.register.identities):
    "yes" makes it ``matched`` to the suggested person, "no" makes it ``unknown``. No answer,
    an answer about someone else (the suggestion changed), or a "yes" naming a person another
    face of the photo is already matched to, leaves it a suggestion. The suggested person's
    name is filled in for roles allowed to see names; a suggested person no longer in the
    register leaves the face unknown. A face that still only looks like someone who must never
    be published carries their never-publish flag: only the designated safeguarding lead may
    say who it is or sign the photo off, and no blurred copy is offered for it."""
    person = view.people.get(face.suggested_id)
    if person is None:
        face.match, face.suggested_id = "unknown", None
        return
    answer = view.answers.get(sha256, {}).get(tuple(face.box))
    if answer is not None and answer[0] == face.suggested_id:
        taken = any(f.match == "matched" and f.person_id == face.suggested_id for f in faces)
        if answer[1] == "yes" and not taken:
            face.match, face.person_id, face.answer = "matched", face.suggested_id, "yes"
            return
        if answer[1] == "no":
            face.match, face.answer = "unknown", "no"
            return
    face.suggested_name = person.display_name
    face.never_publish = bool(person.never_publish)


def _kit_decision(measures, context: str, settings: Settings):
    """The kit check's verdict for these words (consent.vision.kit.KitAssessment), or None."""
    if measures is None:
        return None
    from .vision.kit import decide

    return decide(measures, context, settings)


class Checker:
    """Checks photos against one register. Build one per process and reuse it.

    ``db`` is a register path (default: ``CONSENT_DB`` or ``data/consent.db``); ``None`` with
    ``use_register=False`` checks against an empty register (every face unknown).
    ``text_check`` reads the text in the picture (default: ``settings.text_check``; batches
    pass ``settings.text_check_batch``).
    """

    def __init__(
        self,
        db: str | os.PathLike | None = None,
        settings: Settings | None = None,
        *,
        use_register: bool = True,
        use_cache: bool = True,
        kit_check: bool = True,
        text_check: bool | None = None,
    ):
        from . import settings as settings_mod

        self.settings = settings or settings_mod.load()
        self.text_check = self.settings.text_check if text_check is None else text_check
        self.db_path = db
        self.use_register = use_register
        self.use_cache = use_cache
        self.kit_check = kit_check
        self._view: RegisterView | None = None
        self._register = None
        self._cache = None
        self._kit_profile = None
        self._kit_profile_fp = "none"
        if kit_check:
            from .vision import kit

            self._kit_profile = kit.load_profile()
            if self._kit_profile is not None:
                from .cache import fingerprint

                self._kit_profile_fp = fingerprint(self._kit_profile.to_json())

    # --- the register -------------------------------------------------------------------
    def register(self):
        if self._register is None and self.use_register:
            from .register import Register

            # never create an empty register here: every face would read as "not recognised"
            self._register = Register(self.db_path, create=False)
        return self._register

    def view(self) -> RegisterView:
        """The register snapshot, re-read whenever the register's version or the day changes
        (a consent end date that passes overnight changes a verdict)."""
        reg = self.register()
        if reg is None:
            if self._view is None:
                self._view = empty_view()
            return self._view
        version = reg.version()
        if self._view is None or self._view.version != version or self._view.day != today():
            self._view = load_view(reg, self.settings)
        return self._view

    def cache(self):
        if self._cache is None and self.use_cache and self.register() is not None:
            from .cache import AnalysisCache

            self._cache = AnalysisCache(self.register())
        return self._cache

    def channels(self, requested: list[str] | str | None) -> list[str]:
        """Resolve ``None``/``"all"`` to every publication channel; refuse unknown names."""
        known = self.view().channels
        if requested in (None, "all") or requested == ["all"]:
            return list(known)
        if isinstance(requested, str):
            requested = [requested]
        unknown = [c for c in requested if c not in known]
        if unknown:
            raise UnknownChannel(
                f"unknown channel {', '.join(unknown)}; the register's channels are {', '.join(known)}"
            )
        return list(dict.fromkeys(requested))

    def load_models(self) -> list[str]:
        """Load now, not on the first photo, every model this checker's checks use: the face
        detector and encoder, the text reader (with ``text_check``) and the kit check's scene
        model (with ``kit_check``). A server calls it as it starts, so that the first photo
        checked comes back as quickly as the rest. A model that cannot load is not raised
        here: its message is returned, and each check reports it as usual (needs review)."""
        from .vision import faces, kit, text

        loaders = [faces.load_models]
        if self.text_check:
            loaders.append(text.load)
        if self.kit_check:
            loaders.append(kit.load_models)
        errors = []
        for load in loaders:
            try:
                load()
            except ModelUnavailable as exc:
                errors.append(str(exc))
        return errors

    def restriction(self, values) -> "Restriction | None":
        """The year groups or classes ``values`` as a restriction of who faces are compared
        with (None for none); raises :class:`~consent.errors.UnknownGroup` for a value nobody
        on roll has (see :mod:`consent.register.groups`)."""
        if isinstance(values, Restriction) or values is None:
            return values
        return restrict(self.view(), values)

    # --- the stages of a check ----------------------------------------------------------
    def check(
        self,
        source: "Photo | str | os.PathLike",
        channels: list[str] | str | None = None,
        caption: str = "",
        *,
        alt_text: str = "",
        display_name: str | None = None,
        folder: str | None = None,
        safe_dir: str | os.PathLike | None = None,
        safe_name: str | None = None,
        blur_unconsented: bool = False,
        groups=None,
    ) -> PhotoCheck:
        """Check one photo (its path, or a :class:`~consent.images.Photo` already read) for some
        channels (default all). Never raises for a bad photo.

        ``display_name`` is the name the photo is known by (an upload's original file name);
        ``folder`` the event folder it came from (context words such as "sports day" count);
        with ``safe_dir`` a publication-safe copy is written there as ``safe_name`` (default:
        the same file name, ``.jpg`` for re-encoded formats); ``blur_unconsented`` obscures
        every face not cleared for all checked channels in that copy and re-checks it;
        ``groups``: the year groups or classes who can be in the photo (faces are compared with
        them and all staff only; a value nobody on roll has is an ``unknown_group`` error).

        The stages, each a function of the photo and the register: intake (the file read, once),
        :meth:`analyse` (the models, or the analysis cache), :func:`judge` (the register as it
        is now, and the rules), then the copy to publish (:meth:`publish`).
        """
        path = source.path if isinstance(source, Photo) else Path(source)
        name = display_name or (source.name if isinstance(source, Photo) else path.name)
        folder = folder if folder is not None else path.parent.name
        result = None
        try:
            chans = self.channels(channels)
            only = self.restriction(groups)
            photo = self.intake(source, name)
            analysis = self.analyse(photo, only)
            result = judge(
                analysis, self.view(), chans, path=str(path), name=name, caption=caption,
                alt_text=alt_text, folder=folder, settings=self.settings,
            )
            if safe_dir is not None:
                t = time.perf_counter()
                self.publish(photo, result, Path(safe_dir), safe_name, blur_unconsented,
                             caption=caption, alt_text=alt_text, folder=folder, only=only)
                result.timings["safe_copy"] = time.perf_counter() - t
        except ConsentError as exc:  # on the verdicts when it was judged (the safe copy failed)
            result = result if result is not None else PhotoCheck(path=str(path), name=name)
            result.error, result.error_code = str(exc), exc.code
        return result

    def intake(self, source: "Photo | str | os.PathLike", name: str | None = None) -> Photo:
        """The photo ``source``: a path's file read, this once (every later stage takes the
        :class:`~consent.images.Photo`), or a Photo itself."""
        if isinstance(source, Photo):
            return source
        return Photo.read(source, self.settings, name)

    def analysis_key(self, sha: str, view: RegisterView, only: "Restriction | None" = None) -> str:
        """The analysis cache's key for a photo: its bytes, settings, face templates, kit
        profile, and the year groups or classes faces were compared with (``only``)."""
        from .cache import analysis_key

        return analysis_key(sha, self.settings, view.gallery_fingerprint, self._kit_profile_fp,
                            only.fingerprint() if only is not None else None)

    def analyse(self, source: "Photo | str | os.PathLike", groups=None) -> Analysis:
        """The model-bound part of a check of one photo (a :class:`~consent.images.Photo`, or its
        path): :meth:`_analyse`, or the analysis the cache holds for the photo's bytes.
        ``groups``: year groups or classes (or a :class:`~consent.register.groups.Restriction`)
        the faces are compared with, with all staff; default everybody."""
        photo = self.intake(source)
        view, only = self.view(), self.restriction(groups)
        key = self.analysis_key(photo.sha256, view, only)
        cache = self.cache()
        cached = cache.get(key) if cache is not None else None
        if cached is None:
            analysis = self._analyse(photo, view, only)
            # an analysis a model could not finish is not kept: after a reinstall it runs again
            keep = not (analysis.kit is not None and analysis.kit.error)
        else:
            analysis = Analysis.from_json(cached)
            analysis.timings = {"hash": photo.read_s, "cached": 1.0}
            # analysed without reading text (a batch with it off), or the reader failed: read now
            keep = bool(self.text_check and (analysis.text is None or analysis.text.error))
            if keep:
                picture = photo.picture(self._decode_side())
                analysis.text = self._read_text(picture.array(), picture.scale, analysis.timings)
        if cache is not None and keep:
            cache.put(key, photo.sha256, view.gallery_fingerprint, analysis.to_json())
        return analysis

    def _analyse(self, photo: Photo, view: RegisterView, only=None) -> Analysis:
        """The stages that need the models, in order: decode, metadata scan, faces (detect,
        encode, match), kit, text; each timed."""
        from .vision import faces as faces_mod

        timings = {"hash": photo.read_s}
        t = time.perf_counter()
        picture = photo.picture(self._decode_side())
        pixels = picture.array()  # (height, width, 3) uint8: what the kit check and text reader read
        timings["decode"] = time.perf_counter() - t

        t = time.perf_counter()
        found = metadata_found(photo)
        timings["metadata"] = time.perf_counter() - t

        t = time.perf_counter()
        detected = faces_mod.detect(picture, self.settings)
        timings["detect"] = time.perf_counter() - t

        t = time.perf_counter()
        needs_match = view.gallery is not None and any(d.recognisable for d in detected)
        if needs_match:
            faces_mod.encode(picture, detected, self.settings)
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        matches = {}
        if needs_match:
            idx = [i for i, d in enumerate(detected) if d.encoding is not None]
            matches = dict(zip(idx, self._match(idx, [detected[i].encoding for i in idx], view, only)))
        timings["match"] = time.perf_counter() - t

        measures = self._measure_kit(pixels, picture.scale, detected, timings) if self.kit_check else None
        text = self._read_text(pixels, picture.scale, timings) if self.text_check else None
        return Analysis(
            sha256=photo.sha256, format=picture.format, width=picture.width, height=picture.height,
            faces=faces_of(detected, matches), metadata_found=found, notes=list(picture.notes),
            kit=measures, text=text, timings=timings,
            compared_with=only.to_json() if only is not None else None,
        )

    def _match(self, faces: list[int], encodings: list, view: RegisterView, only=None) -> list:
        """Match the encodings of faces ``faces`` (indices) against the register's templates,
        of only the people of ``only`` (a restriction) when given (a remote analysis,
        :mod:`consent.remote`, keeps them for the main machine instead)."""
        from .register.matching import match_faces

        gallery = view.gallery
        if only is not None and gallery is not None:
            gallery = gallery.restricted(only.person_ids)
        return match_faces(encodings, gallery, self.settings)

    def _decode_side(self) -> int:
        from .vision import faces as faces_mod

        return faces_mod.analysis_side(self.settings)

    def _measure_kit(self, pixels, scale: float, detected, timings: dict) -> object:
        """What the kit check measures in the analysis picture (``pixels``; ``scale``: to
        original pixels), around the faces found."""
        from .vision import faces as faces_mod, kit

        t = time.perf_counter()
        boxes = [faces_mod.hog_like_box(d, scale) for d in detected]
        measures = kit.measure(pixels, boxes, profile=self._kit_profile, settings=self.settings)
        timings["kit"] = time.perf_counter() - t
        return measures

    def _read_text(self, pixels, scale: float, timings: dict) -> object:
        """The text in the analysis picture (``pixels``; ``scale``: to original pixels); a model
        that cannot load is recorded, not raised."""
        from .vision import text as text_mod

        t = time.perf_counter()
        try:
            reading = text_mod.read(pixels, scale, self.settings)
        except ModelUnavailable as exc:
            reading = text_mod.TextReading(error=str(exc))
        timings["text"] = time.perf_counter() - t
        return reading

    # --- the copy to publish ------------------------------------------------------------
    def publish(self, photo: Photo, result: PhotoCheck, safe_dir: Path, safe_name=None, blur: bool = False,
                caption: str = "", alt_text: str = "", folder: str = "", only=None) -> None:
        """Write the publication-safe copy of a checked photo into ``safe_dir`` (from its bytes:
        :func:`consent.metadata.make_safe_copy`), or with ``blur`` the copy with unconsented
        faces obscured, re-checked as it will be published: with the same caption, alt text and
        folder words (:func:`consent.blurring.publish_blurred`); ``result.safe_copy`` names it."""
        from . import blurring, metadata

        try:
            safe_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SafeCopyFailed(
                f"{safe_dir}: cannot make the folder for the safe copy ({exc.strerror}); check "
                "there is space and you may write there"
            ) from None
        if blur:
            def recheck(copy: Path) -> PhotoCheck:
                return self.check(copy, result.channels, caption, alt_text=alt_text,
                                  display_name=result.name, folder=folder, groups=only)

            name = safe_name or fit(Path(result.name).stem, "-blurred.jpg")  # at most 255 bytes
            blurring.publish_blurred(photo, result, safe_dir / name, recheck, self.settings)
            return
        name = safe_name or _safe_file_name(result.name, result.format)
        result.safe_copy = str(metadata.make_safe_copy(photo, safe_dir / name, self.settings).dst)


def metadata_found(photo: Photo) -> list[str]:
    """The identifying metadata groups found in the photo's bytes (:func:`consent.metadata.scan`,
    kept on the photo for its safe copy); none when its container cannot be read."""
    from . import metadata

    try:
        return [g for g in metadata.scan(photo).groups() if g]
    except ConsentError:
        return []


def faces_of(detected: list, matches: dict) -> list[Face]:
    """The faces found (:func:`consent.vision.faces.detect`) as the check reports them: not
    identifiable, unchecked (a person could recognise it, the tool cannot), or unknown until
    its match (``matches``: face index -> :class:`~consent.register.matching.Match`) says."""
    faces = []
    for i, d in enumerate(detected):
        if not d.identifiable:
            status = "not_identifiable"
        elif not d.recognisable:
            status = "unchecked"
        else:
            status = "unknown"
        face = Face(
            index=i, box=tuple(int(v) for v in d.box), height_px=int(d.height_px),
            identifiable=bool(d.identifiable), recognisable=bool(d.recognisable), why_not=d.why_not,
            match=status,
        )
        if status == "unknown":
            take_match(face, matches.get(i))
        faces.append(face)
    return faces


def take_match(face: Face, m) -> None:
    """Set a checkable face's ``match`` from its :class:`~consent.register.matching.Match`
    (``m``; None: not matched, it stays unknown): a person id only when matched, the suggested
    person (never ``person_id``) when it only looks like them."""
    if m is None:
        return
    face.match = m.status
    face.person_id = m.person_id if m.status == "matched" else None
    face.suggested_id = m.candidates[0] if m.status == "looks_like" and m.candidates else None
    face.candidate_ids = tuple(m.candidates) if m.status == "ambiguous" else ()
    face.distance = None if m.distance is None else float(m.distance)


def for_viewer(result: PhotoCheck, names: bool) -> PhotoCheck:
    """``result`` as a person who may not see names may see it (``names=False``): a name in the
    caption is reported as found, and where, without telling a pupil in the photo from one on
    roll (both block, so the verdict does not tell either). Faces lose their names, roles and
    consent detail when written with ``to_json(names=False)``."""
    if names or result.error:
        return result
    from .rules.caption import neutral_reasons

    reasons = neutral_reasons(result.reasons)
    if reasons == result.reasons:
        return result
    return replace(result, reasons=reasons, verdicts=channel_verdicts(reasons, result.channels))


#: the ending of a safe copy, by the original's real format (HEIC and TIFF become JPEG)
SAFE_SUFFIXES = {"PNG": ".png", "WebP": ".webp"}


def _safe_file_name(name: str, fmt: str | None) -> str:
    """Same name, ending as the copy's real format: never the ending it was uploaded with
    (a JPEG named ``newsletter.html`` is saved as ``newsletter.jpg``)."""
    return fit(Path(name).stem, SAFE_SUFFIXES.get(fmt, ".jpg"))  # at most 255 bytes, ending kept
