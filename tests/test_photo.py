"""A photo is read once: the file is opened at intake and every later stage takes the Photo."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from consent.check import Checker
from consent.images import Photo

from .conftest import fixture_dir

#: the files being watched (real paths) -> how many times each was opened; an audit hook cannot
#: be removed, so the one hook added for this module counts only while a test names a file here
_watched: dict[str, int] = {}
_hooked = False


def _count_opens(event: str, args: tuple) -> None:
    if event != "open" or not _watched or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.path.realpath(os.fsdecode(args[0]))
    if path in _watched:
        _watched[path] += 1


@pytest.fixture
def opens():
    """``opens(path)``: start counting every open of the file ``path`` (Python's ``open``
    audit event: builtins.open, io.open and os.open, whoever calls them); returns a function
    that says how many so far."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_count_opens)
        _hooked = True

    def watch(path):
        real = os.path.realpath(path)
        _watched[real] = 0
        return lambda: _watched[real]

    yield watch
    _watched.clear()


@pytest.fixture
def gps_photo(tmp_path):
    """A camera JPEG carrying GPS, camera and time metadata, in a folder of its own."""
    photo = tmp_path / "in" / "IMG_0001.jpg"
    photo.parent.mkdir()
    shutil.copy(fixture_dir("metadata", "gps") / "DSCN0010.jpg", photo)
    return photo


def test_one_check_with_a_safe_copy_opens_the_photo_file_once(gps_photo, tmp_path, opens):
    count = opens(gps_photo)
    result = Checker(None, use_register=False, use_cache=False).check(gps_photo, safe_dir=tmp_path / "safe")
    assert result.error is None and result.safe_copy
    assert "gps" in result.metadata_found  # the metadata was scanned (from the bytes)
    assert count() == 1


def test_a_blurred_copy_and_its_re_check_open_the_original_once(tmp_path, opens):
    photo = tmp_path / "in" / "IMG_0002.jpg"
    photo.parent.mkdir()
    shutil.copy(fixture_dir("people", "test") / "obama_and_biden.jpg", photo)
    count = opens(photo)
    result = Checker(None, use_register=False, use_cache=False, kit_check=False, text_check=False).check(
        photo, "website", safe_dir=tmp_path / "safe", blur_unconsented=True)
    assert result.error is None and result.blurred and result.blurred["faces"]
    assert count() == 1


def test_a_photo_is_decoded_once_for_its_analysis_and_its_safe_copy(gps_photo, tmp_path, monkeypatch):
    from consent import images

    decodes = []
    real = images.decode

    def counted(img, name, max_side=None):
        decodes.append(max_side)
        return real(img, name, max_side)

    monkeypatch.setattr(images, "decode", counted)
    result = Checker(None, use_register=False, use_cache=False, kit_check=False, text_check=False).check(
        gps_photo, safe_dir=tmp_path / "safe")
    assert result.error is None and result.safe_copy
    assert len(decodes) == 1  # the analysis decode; the safe copy knows the data is whole from it


def test_a_photo_made_of_bytes_is_checked_without_a_file(gps_photo):
    data = gps_photo.read_bytes()
    photo = Photo.of_bytes(data, "nowhere/IMG_0003.jpg")
    gps_photo.unlink()
    result = Checker(None, use_register=False, use_cache=False, kit_check=False, text_check=False).check(photo)
    assert result.error is None and result.name == "IMG_0003.jpg"
    assert result.sha256 == photo.sha256 and "gps" in result.metadata_found


def test_a_missing_photo_is_refused_at_intake_with_its_name(tmp_path):
    result = Checker(None, use_register=False, use_cache=False).check(tmp_path / "gone.jpg")
    assert result.error == f"{tmp_path / 'gone.jpg'}: file not found; check the path"


def photo_way(photo_path, run) -> list[str]:
    """The rooms (modules of consent) the photo passes through while ``run()`` checks it, in
    order, one entry per stay: a call into consent that takes the photo (its path, its
    :class:`Photo` or its decoded picture; a copy's own are not it) starts a stay in the
    callee's module unless the photo's last stay was there already."""
    path = {str(photo_path), os.path.realpath(photo_path)}

    def is_the_photo(value) -> bool:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value) in path
        if type(value).__module__ == "consent.images" and type(value).__name__ in ("Photo", "Picture"):
            return os.fspath(getattr(value, "path", "") or "") in path
        return False

    stays: list[str] = []

    def profile(frame, event, arg):
        if event != "call":
            return
        room = frame.f_globals.get("__name__", "")
        if not room.startswith("consent") or (stays and stays[-1] == room):
            return
        code = frame.f_code
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if any(is_the_photo(frame.f_locals.get(n)) for n in names):
            stays.append(room)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return stays


def climbs_back_up(stays: list[str]) -> int:
    """How many times the photo comes back into a room it had left (the first room, which hands
    it from stage to stage, aside): a stage's work that its room did not finish at once."""
    seen: set[str] = set()
    climbs = 0
    for room in stays:
        climbs += room in seen and room != stays[0]
        seen.add(room)
    return climbs


def test_the_photo_s_way_through_one_check_climbs_back_up_at_most_5_times(gps_photo, tmp_path):
    checker = Checker(None, use_register=False, use_cache=False)
    stays = photo_way(gps_photo, lambda: checker.check(gps_photo, safe_dir=tmp_path / "safe"))
    assert stays[:3] == ["consent.check", "consent.images", "consent.check"]  # intake first
    assert {"consent.metadata", "consent.vision.faces"} <= set(stays)
    assert climbs_back_up(stays) <= 5, stays


def test_a_web_check_and_what_it_keeps_open_the_photo_once(gps_photo, tmp_path, opens, monkeypatch):
    # the web app's single check: the check on the process's check thread, then its analysis
    # fetched again for the stored check (a cache hit): one read of the upload between them
    from consent.jobs import check_thread
    from consent.register import Register
    from consent.settings import DEFAULTS

    monkeypatch.setattr(check_thread, "_checkers", {})
    db = tmp_path / "consent.db"
    Register(db, user="test").close()
    count = opens(gps_photo)
    result, stored = check_thread.run_stored_check(str(db), DEFAULTS, gps_photo, channels="all",
                                                   safe_dir=tmp_path / "safe")
    assert result.error is None and result.safe_copy and stored is not None
    assert stored.analysis.sha256 == result.sha256
    assert count() == 1
