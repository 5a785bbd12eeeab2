"""Photo analysis on machines that hold no register: the pixels travel, the register stays.

A trust can run ``consent worker --remote redis://...`` on machines that share nothing with
the school's main machine but the queue. Such a machine receives a photo's bytes and the
settings to analyse it with, runs the model-bound part of a check (decode, metadata scan, faces
and their encodings, kit measures, text in the picture) and sends the result back. The main
machine matches the encodings against its register's face templates, judges the photo against
consent as it stands, and stores the check. Names, consent and face templates never leave it.

- :func:`config` (main machine): what a remote analysis must be made with to stand for the main
  checker's own (settings, text and kit checks, the school's kit profile, versions);
- :func:`analyse_bytes` (remote machine): photo bytes + config -> a JSON-able result: the
  :class:`~consent.check.Analysis` with every checkable face "unknown", and the encodings of
  the faces the register is to be asked about;
- :func:`sign_result` (remote machine): the result signed with the worker key
  (:mod:`consent.jobs.signing`): an HMAC over the photo's hash, the settings and versions it
  was analysed with, the code version and the result itself;
- :func:`remember` (main machine): check that signature first, then match those encodings
  against the gallery and put the completed analysis in the analysis cache (marked as a
  verified remote analysis), where the main checker's next ``analyse`` of the photo finds it,
  so the check goes on exactly as a local one. A result that is unsigned or wrongly signed, or
  does not fit (other settings or versions, other bytes), is refused before anything of it is
  used, and the photo is analysed on the main machine. Nothing unverified reaches the cache.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

from . import __version__
from .cache import ANALYSIS_FORMAT, fingerprint
from .check import Analysis, Checker, take_match
from .errors import ConsentError
from .images import Photo
from .jobs import signing

#: bumped when what travels between the machines changes meaning
WIRE_FORMAT = 1


class RemoteResultRefused(ConsentError):
    """A remote analysis that cannot stand for the main machine's own."""


def config(checker: Checker) -> dict:
    """What a remote machine needs to analyse a photo as ``checker`` would (JSON-able; no
    register data: no names, no consent, no face templates)."""
    profile = checker._kit_profile
    return {
        "wire": WIRE_FORMAT, "version": __version__, "analysis_format": ANALYSIS_FORMAT,
        "settings": checker.settings.as_dict(), "text_check": bool(checker.text_check),
        "kit_check": bool(checker.kit_check), "kit_profile": profile.to_json() if profile is not None else None,
    }


class PixelChecker(Checker):
    """A :class:`Checker` without a register: analyses photos for the main machine.

    Every face it can check is encoded (the main machine decides who it is) and left "unknown";
    the encodings are kept in :attr:`encodings` (face index -> 128 numbers) for one photo.
    """

    def __init__(self, cfg: dict):
        from .settings import from_mapping

        if cfg.get("wire") != WIRE_FORMAT:
            raise RemoteResultRefused(f"the main machine sent work in format {cfg.get('wire')!r}; this "
                                      f"worker reads format {WIRE_FORMAT}: install the same consent version on both")
        settings = from_mapping(cfg["settings"], source="settings sent by the main machine")
        # kit_check off here: the school's kit profile comes with the work, not from this machine's disk
        super().__init__(None, settings, use_register=False, use_cache=False, kit_check=False,
                         text_check=cfg["text_check"])
        self.kit_check = cfg["kit_check"]
        if cfg.get("kit_profile") is not None:
            from .vision.kit import KitProfile

            self._kit_profile = KitProfile.from_json(cfg["kit_profile"], source="kit profile sent by the main machine")
            self._kit_profile_fp = fingerprint(self._kit_profile.to_json())
        self.encodings: dict[int, list[float]] = {}

    def view(self):
        if self._view is None:
            from .register.matching import Gallery
            from .register.view import empty_view

            # an empty gallery (not none): faces are encoded, and nobody is matched here
            self._view = dataclasses.replace(empty_view(), gallery=Gallery.from_arrays([], []))
        return self._view

    def _match(self, faces, encodings, view, only=None):
        self.encodings = {i: [float(v) for v in e] for i, e in zip(faces, encodings)}
        return super()._match(faces, encodings, view, only)


#: the start of the name of the temporary file a photo's bytes are analysed from: then the pid
TEMP_PREFIX = "consent-remote-"
#: seconds after which a temporary file whose name gives no process is a leftover (older versions)
TEMP_MAX_AGE_S = 3600


def remove_temp_leftovers(folder: str | os.PathLike | None = None) -> int:
    """Delete the ``consent-remote-*`` files that analyses killed mid-photo left in the
    temporary folder (``folder``, default this machine's): those of processes that no longer
    run, and any over :data:`TEMP_MAX_AGE_S` old whose name gives no process. Files of running
    analyses are kept. Returns how many were deleted. Run when a worker starts and each minute."""
    folder = Path(folder or tempfile.gettempdir())
    removed = 0
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX):].partition("-")[0]
        try:
            if pid.isdigit() and path.name.count("-") >= 3:
                if _running(int(pid)):
                    continue
            elif time.time() - path.stat().st_mtime < TEMP_MAX_AGE_S:
                continue
            path.unlink()
            removed += 1
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: its file is not ours
    return True


def analyse_bytes(data: bytes, suffix: str, cfg: dict, checker: PixelChecker | None = None) -> dict:
    """Analyse one photo's bytes (remote machine); returns what goes back to the main machine.

    The bytes are analysed as they are (a :class:`~consent.images.Photo` made of them, known as
    ``photo`` + ``suffix`` in messages); nothing is written to disk. Raises :class:`~consent.errors.ConsentError` for a photo that cannot be analysed (the main
    machine then checks it itself, and says what is wrong with it in its own words).
    """
    checker = checker or PixelChecker(cfg)
    photo = Photo.of_bytes(data, "photo" + (suffix if suffix.startswith(".") else ""), checker.settings)
    checker.encodings = {}
    analysis = checker.analyse(photo)
    return {"wire": WIRE_FORMAT, "version": __version__, "config": fingerprint(cfg), "analysis": analysis.to_json(),
            "encodings": {str(i): e for i, e in checker.encodings.items()}}


def _signed_fields(result: dict, photo: str | None) -> dict:
    body = {k: v for k, v in result.items() if k != "signature"}
    return {"photo": photo, "config": body.get("config"), "version": body.get("version"), "result": body}


def sign_result(key: bytes, photo_sha256: str | None, result: dict) -> dict:
    """``result`` (:func:`analyse_bytes`'s, or ``{"local": why}``) with its signature (remote
    machine): an HMAC-SHA256 over ``photo_sha256`` (the bytes analysed), the fingerprint of the
    settings and versions used, the code version, and the result's canonical JSON."""
    result = {**result, "version": result.get("version", __version__)}
    return {**result, "signature": signing.sign(key, "result", **_signed_fields(result, photo_sha256))}


def verify_result(key: bytes, sha256: str, result) -> dict:
    """``result`` without its signature, if it is signed with ``key`` for the photo whose bytes
    hash to ``sha256``; else :class:`RemoteResultRefused` (nothing of it is used)."""
    if not isinstance(result, dict) or not signing.verify(key, result.get("signature"), "result",
                                                          **_signed_fields(result, sha256)):
        raise RemoteResultRefused("the analysis that came back is not signed with this machine's worker key (a "
                                  "worker with another key, or something else writing to the queue); it is "
                                  "analysed again here")
    return {k: v for k, v in result.items() if k != "signature"}


def remember(checker: Checker, photo: Photo | str | os.PathLike, result: dict, groups=None, *,
             key: bytes) -> Analysis:
    """Complete a remote analysis of ``photo`` (a :class:`~consent.images.Photo`, or its path)
    on the main machine and cache it.

    First the result's signature is checked with the worker ``key`` against this photo's bytes
    (:func:`verify_result`): an unsigned or wrongly signed result raises
    :class:`RemoteResultRefused` before anything of it is read. The encodings are matched against ``checker``'s register now (as a local analysis would
    have matched them) and dropped; the completed analysis goes in the analysis cache under the
    key ``checker.analyse(photo)`` looks up. Raises :class:`RemoteResultRefused` when the result
    was made with other settings or versions, or of other bytes, than ``checker`` would use.
    ``groups``: the year groups or classes the check is restricted to, as ``Checker.check``'s.
    """
    sha = checker.intake(photo).sha256
    result = verify_result(key, sha, result)
    if result.get("wire") != WIRE_FORMAT or result.get("config") != fingerprint(config(checker)):
        raise RemoteResultRefused("the remote worker analysed this photo with other settings or another "
                                  "version of consent; it is analysed again here")
    analysis = Analysis.from_json(result["analysis"])
    if analysis.sha256 != sha:
        raise RemoteResultRefused("the remote worker analysed other bytes than this photo's; it is analysed again here")
    encodings = {int(i): e for i, e in result["encodings"].items()}
    view = checker.view()
    only = checker.restriction(groups)
    idx = sorted(encodings)
    matches = (dict(zip(idx, checker._match(idx, [encodings[i] for i in idx], view, only)))
               if view.gallery is not None else {})
    for face in analysis.faces:
        m = matches.get(face.index)
        face.distance = None if m is None or m.distance is None else float(m.distance)
        if face.match == "unknown":  # a face left for the register to answer
            take_match(face, m)
    analysis.compared_with = only.to_json() if only is not None else None
    cache = checker.cache()
    if cache is not None and not (analysis.kit is not None and analysis.kit.error):
        cache.put(checker.analysis_key(sha, view, only), sha, view.gallery_fingerprint, analysis.to_json(),
                  origin=f"remote, signed with worker key {signing.key_id(key)}")
    return analysis
