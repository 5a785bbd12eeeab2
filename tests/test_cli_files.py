"""``consent scan`` and ``consent strip`` through the real command line (click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from consent.cli import main
from consent.images import file_hash

from .conftest import fixture_dir


def run(tmp_path: Path, *args, workers: int | None = None):
    """Invoke ``consent`` with a private data folder (optionally fixing strip_workers)."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if workers is not None:
        (data / "settings.toml").write_text(f"strip_workers = {workers}\n")
    return CliRunner().invoke(main, [str(a) for a in args], env={"CONSENT_DATA": str(data)})


def bad_photos(folder: Path) -> Path:
    """Four files that cannot give a safe copy, named like photos."""
    folder.mkdir()
    whole = (fixture_dir("metadata", "gps") / "DSCN0012.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "letter.jpg").write_text("Dear parents, the trip is on Friday.")
    Image.new("RGB", (20, 20), "red").save(folder / "animation.jpg", "GIF")
    return folder


def one_photo(folder: Path, name: str = "pupil.jpg") -> Path:
    """A camera JPEG with GPS, copied into a new ``folder`` under ``name``."""
    folder.mkdir()
    photo = folder / name
    photo.write_bytes((fixture_dir("metadata", "gps") / "DSCN0010.jpg").read_bytes())
    return photo


def lines(result, prefix: str) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("workers", [1, 2])
def test_strip_reports_bad_files_and_still_writes_all_the_others(tmp_path, workers):
    invalid, malformed = fixture_dir("metadata", "invalid"), fixture_dir("metadata", "malformed")
    bad = bad_photos(tmp_path / "bad")
    out = tmp_path / "out"
    result = run(tmp_path, "strip", invalid, malformed, bad, "--out", out, workers=workers)
    good = sorted(invalid.glob("*.jpg")) + sorted(malformed.glob("*.jp*g"))
    assert result.exit_code == 1
    assert len(lines(result, "ok   ")) == len(good) == 20
    failures = lines(result, "FAIL ")
    assert sorted(f.split(":")[0] for f in failures) == [
        "FAIL bad/animation.jpg", "FAIL bad/empty.jpg", "FAIL bad/letter.jpg",
        "FAIL bad/truncated.jpg",
    ]
    assert any("truncated" in f for f in failures) and any("GIF" in f for f in failures)
    assert result.output.splitlines()[-1] == f"20 safe copies written to {out}, 4 failed"
    for src in good:
        assert (out / src.parent.name / src.name).is_file()
    assert not (out / "bad").exists() or list((out / "bad").iterdir()) == []
    assert "Traceback" not in result.output


def test_strip_keeps_relative_paths_and_turns_heic_into_jpg(tmp_path):
    out = tmp_path / "out"
    result = run(tmp_path, "strip", fixture_dir("metadata", "orientation"),
                 fixture_dir("metadata", "heic"), "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "orientation" / "landscape_6.jpg").is_file()
    heic_copy = out / "heic" / "iphone_13_pro_max.jpg"
    with Image.open(heic_copy) as img:
        assert img.format == "JPEG"
    assert "ok   heic/iphone_13_pro_max.HEIC -> " in result.output
    assert result.output.splitlines()[-1] == f"18 safe copies written to {out}, 0 failed"
    gps_line = run(tmp_path, "strip", fixture_dir("metadata", "gps") / "DSCN0010.jpg",
                   "--out", out).output.splitlines()[0]
    assert gps_line.startswith("ok   DSCN0010.jpg -> ")
    assert ": camera, location and name details removed (GPS, capture time, camera, software, maker notes, XMP, thumbnail" in gps_line


def test_strip_neutral_names_leave_no_original_file_name(tmp_path):
    src = one_photo(tmp_path / "Year 3", "Jane_Smith_sports_day.jpg")
    out = tmp_path / "out"
    result = run(tmp_path, "strip", src.parent, "--out", out, "--neutral-names")
    assert result.exit_code == 0, result.output
    written = [p for p in out.rglob("*") if p.is_file()]
    assert [p.name for p in written] == [f"photo-{file_hash(src)[:12]}.jpg"]
    assert "Jane" not in str(written[0].relative_to(out))


def test_strip_refuses_an_out_that_is_a_photo(tmp_path):
    photo = one_photo(tmp_path / "photos")
    before = file_hash(photo)
    result = run(tmp_path, "strip", photo, "--out", photo)
    assert result.exit_code == 2
    assert "is a file, not a folder" in result.output
    assert file_hash(photo) == before


def test_strip_never_writes_over_an_original(tmp_path):
    photo = one_photo(tmp_path / "photos")
    before = file_hash(photo)
    result = run(tmp_path, "strip", photo.parent, "--out", tmp_path)  # would land on photos/pupil.jpg
    assert result.exit_code == 1
    assert "would overwrite the original" in result.output
    assert file_hash(photo) == before


def test_strip_into_a_folder_inside_the_source_skips_earlier_copies(tmp_path):
    photos = one_photo(tmp_path / "photos").parent
    for _ in range(2):
        result = run(tmp_path, "strip", photos, "--out", photos / "safe")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1].startswith("1 safe copy written")
    assert [p.relative_to(photos).as_posix() for p in sorted(photos.rglob("*.jpg"))] == [
        "pupil.jpg", "safe/photos/pupil.jpg"]


def test_strip_two_photos_wanting_the_same_copy_name_are_not_mixed_up(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (32, 24), "blue").save(photos / "trip.heic", quality=80)
    Image.new("RGB", (32, 24), "green").save(photos / "trip.jpg")
    result = run(tmp_path, "strip", photos, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "would also be the safe copy of" in result.output
    assert result.output.splitlines()[-1].endswith("1 failed")


def test_scan_prints_groups_and_goes_on_past_a_bad_file(tmp_path):
    gps = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    missing = tmp_path / "missing.jpg"
    result = run(tmp_path, "scan", gps, missing)
    assert result.exit_code == 1
    assert "  GPS           GPS position: 43.467448, 11.885127" in result.output
    assert "  maker notes   MakerNote:" in result.output
    assert f"FAIL {missing}: file not found; check the path" in result.output


def test_scan_json_is_machine_readable_with_errors_inline(tmp_path):
    bad = bad_photos(tmp_path / "bad")
    result = run(tmp_path, "scan", "--json", fixture_dir("metadata", "xmp") / "no_exif.jpg",
                 bad / "letter.jpg")
    assert result.exit_code == 1
    records = json.loads(result.output)
    assert records[0]["identifying"] is True
    assert {"owner", "xmp", "iptc", "comment"} <= set(records[0]["groups"])
    assert records[1]["error"] == "unreadable_image"
    assert "not a photo" in records[1]["message"]
