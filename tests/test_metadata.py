"""Identifying metadata: ``scan`` finds it, ``make_safe_copy`` removes it and fails closed.

exiftool is the independent oracle: it reads every safe copy and must find nothing but the
picture, its colour profile and its orientation. Real photos come from the shared fixtures;
the traps they do not cover (MPO frames with GPS, COM segments, PNG text, WebP EXIF, TIFF
Artist, hostile EXIF, truncation) are built here in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational, ImageFileDirectory_v2

from consent import metadata
from consent.errors import ImageTooLarge, SafeCopyFailed, UnreadableImage, UnsupportedFormat
from consent.images import file_hash
from consent.settings import DEFAULTS

from .conftest import fixture_dir

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")

#: what exiftool may still find in a safe copy: file facts, JFIF, colour profile, the Adobe
#: colour-transform flag, the picture's own PNG/WebP header fields, and Orientation
ALLOWED_GROUPS = {"ExifTool", "System", "File", "JFIF", "Adobe"}
ALLOWED_TAGS = {
    "IFD0:Orientation", "Composite:ImageSize", "Composite:Megapixels",
    "PNG:ImageWidth", "PNG:ImageHeight", "PNG:BitDepth", "PNG:ColorType", "PNG:Compression",
    "PNG:Filter", "PNG:Interlace", "PNG:ProfileName", "PNG:SRGBRendering", "PNG:Gamma",
    "PNG:PixelUnits", "PNG:PixelsPerUnitX", "PNG:PixelsPerUnitY",
    "RIFF:VP8Version", "RIFF:ImageWidth", "RIFF:ImageHeight", "RIFF:HorizontalScale",
    "RIFF:VerticalScale", "RIFF:WebP_Flags", "RIFF:AlphaPreprocessing", "RIFF:AlphaFiltering",
    "RIFF:AlphaCompression",
}
FORBIDDEN_WORDS = ("GPS", "Serial", "Owner", "Artist", "Copyright", "Comment", "Thumbnail",
                   "Preview", "Warning")


def exiftool_records(paths) -> dict[str, dict]:
    """``exiftool -a -G1 -j`` for many files in one process, keyed by path."""
    result = subprocess.run([EXIFTOOL, "-a", "-G1", "-j", *map(str, paths)],
                            capture_output=True, text=True, check=False)
    return {rec["SourceFile"]: rec for rec in json.loads(result.stdout or "[]")}


def leaks(record: dict) -> dict:
    """Everything exiftool found that a safe copy must not hold."""
    found = {}
    for key, value in record.items():
        group, _, tag = key.partition(":")
        if not tag:
            continue
        allowed = key in ALLOWED_TAGS or group in ALLOWED_GROUPS or group.startswith("ICC")
        if group == "File" and any(word in tag for word in FORBIDDEN_WORDS):
            allowed = False  # File:Comment is a JPEG COM segment
        if not allowed:
            found[key] = value
    return found


def metadata_files():
    root = fixture_dir("metadata")
    return root, sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """A safe copy of every metadata fixture: {relative path: (src, SafeCopy)}."""
    root, files = metadata_files()
    out = tmp_path_factory.mktemp("safe")
    before = {p: (file_hash(p), p.stat().st_mtime_ns) for p in files}
    made = {}
    for src in files:
        rel = src.relative_to(root)
        dst = out / rel.with_suffix(metadata.safe_suffix(src))
        made[rel.as_posix()] = (src, metadata.make_safe_copy(src, dst))
    after = {p: (file_hash(p), p.stat().st_mtime_ns) for p in files}
    return {"made": made, "before": before, "after": after, "out": out}


@pytest.fixture(scope="module")
def copy_records(copies):
    if EXIFTOOL is None:
        pytest.skip("exiftool is not installed")
    return exiftool_records(c.dst for _, c in copies["made"].values())


# --------------------------------------------------------------------------------------------
# The shared fixtures


def test_every_fixture_photo_gets_a_safe_copy(copies):
    _, files = metadata_files()
    assert len(copies["made"]) == len(files)
    for rel, (_, copy) in copies["made"].items():
        assert copy.dst.is_file(), rel
        assert not list(copy.dst.parent.glob(".*.tmp")), "temporary files left behind"


def test_originals_are_never_modified(copies):
    assert copies["before"] == copies["after"]


@needs_exiftool
def test_exiftool_finds_nothing_identifying_in_any_safe_copy(copies, copy_records):
    assert len(copy_records) == len(copies["made"])
    found = {path: leaks(rec) for path, rec in copy_records.items()}
    assert {path: bad for path, bad in found.items() if bad} == {}


def test_scan_of_every_safe_copy_is_empty(copies):
    for rel, (_, copy) in copies["made"].items():
        again = metadata.scan(copy.dst)
        assert again.items == [] and again.problems == [], rel
        assert not again.identifying


def test_jpeg_safe_copies_decode_to_exactly_the_same_pixels(copies):
    checked = 0
    for rel, (src, copy) in copies["made"].items():
        if copy.reencoded:
            continue
        with Image.open(src) as a, Image.open(copy.dst) as b:
            assert b.format == "JPEG" and not copy.reencoded
            assert np.array_equal(np.asarray(a), np.asarray(b)), rel
        checked += 1
    assert checked == len(copies["made"]) - 2  # all but the two HEIC files


def _grey(img: Image.Image) -> np.ndarray:
    small = img.convert("L").resize((80, 60) if img.width > img.height else (60, 80))
    arr = np.asarray(small, dtype=float)
    return arr - arr.mean()


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_samples_display_upright_and_keep_their_tag(copies, kind, orientation):
    src, copy = copies["made"][f"orientation/{kind}_{orientation}.jpg"]
    reference = _grey(Image.open(src.with_name(f"{kind}_1.jpg")))
    with Image.open(copy.dst) as img:
        assert img.getexif().get(0x0112, 1) == orientation
        shown = ImageOps.exif_transpose(img)
        # the same picture re-saved by another program: upright differs by under 5 grey
        # levels on average, any wrong orientation by over 30
        assert np.abs(_grey(shown) - reference).mean() < 10
    assert copy.removed.orientation == orientation
    if orientation != 1:
        assert f"orientation {orientation}" in copy.kept


def test_icc_profile_is_kept_byte_identical(copies):
    with_icc = 0
    for rel, (src, copy) in copies["made"].items():
        with Image.open(src) as a, Image.open(copy.dst) as b:
            original = a.info.get("icc_profile")
            assert b.info.get("icc_profile") == original, rel
        if original:
            with_icc += 1
            assert "ICC colour profile" in copy.kept
    assert with_icc >= 20  # the orientation set, cameras, xmp and the iPhone HEIC


@needs_exiftool
def test_heic_becomes_an_upright_jpeg_without_gps(copies, copy_records):
    src, copy = copies["made"]["heic/iphone_13_pro_max.HEIC"]
    assert copy.format_in == "HEIC/HEIF" and copy.format_out == "JPEG" and copy.reencoded
    with Image.open(src) as original, Image.open(copy.dst) as made:
        assert made.format == "JPEG"
        assert made.getexif().get(0x0112, 1) == 1
        assert made.size == original.size == (3024, 4032)  # portrait, as the phone showed it
        a = np.asarray(original.convert("RGB").reduce(8), dtype=float)
        b = np.asarray(made.convert("RGB").reduce(8), dtype=float)
        assert np.abs(a - b).mean() < 3
    record = copy_records[str(copy.dst)]
    assert not [k for k in record if "GPS" in k]
    assert leaks(record) == {}


@needs_exiftool
def test_scan_finds_what_exiftool_finds_in_each_fixture():
    root, files = metadata_files()
    result = subprocess.run([EXIFTOOL, "-a", "-G0:1", "-j", *map(str, files)],
                            capture_output=True, text=True, check=False)
    for record in json.loads(result.stdout):
        groups = set(metadata.scan(record["SourceFile"]).groups())
        keys = [k for k in record if ":" in k]
        expect = set()
        if any(k.startswith("EXIF:GPS:") or k.startswith("XMP:") and "GPS" in k for k in keys):
            expect.add("gps")
        if any(k.startswith("MakerNotes:") for k in keys):
            expect.add("maker_notes")
        housekeeping = ("CodedCharacterSet", "ApplicationRecordVersion", "EnvelopeRecordVersion")
        if any(k.startswith("IPTC:") and not k.endswith(housekeeping) for k in keys):
            expect.add("iptc")
        if any(k.startswith("XMP:") for k in keys):
            expect.add("xmp")
        if any(k.endswith(":ThumbnailOffset") or k.endswith(":ThumbnailImage") for k in keys):
            expect.add("thumbnail")
        if any((k.endswith(":Artist") or k.endswith(":Copyright")) and str(record[k]).strip()
               for k in keys):
            expect.add("owner")  # blank (NUL-filled) fields identify no one
        if any((k.endswith(":Make") or "SerialNumber" in k) and not k.startswith("MakerNotes")
               for k in keys):
            expect.add("camera")  # serial numbers inside maker notes count as maker notes
        if "File:Comment" in record:
            expect.add("comment")
        missing = expect - groups
        assert not missing, f"{record['SourceFile']}: scan missed {missing}"


@needs_exiftool
def test_scan_reports_gps_position_in_decimal_degrees_as_exiftool_does():
    root, files = metadata_files()
    result = subprocess.run([EXIFTOOL, "-n", "-j", "-GPSLatitude", "-GPSLongitude",
                             *map(str, files)], capture_output=True, text=True, check=False)
    compared = 0
    for record in json.loads(result.stdout):
        if "GPSLatitude" not in record or "GPSLongitude" not in record:
            continue
        report = metadata.scan(record["SourceFile"])
        assert report.gps is not None, record["SourceFile"]
        assert report.gps[0] == pytest.approx(record["GPSLatitude"], abs=1e-6)
        assert report.gps[1] == pytest.approx(record["GPSLongitude"], abs=1e-6)
        compared += 1
    assert compared >= 10


def test_scan_reports_iptc_caption_keywords_and_by_line():
    report = metadata.scan(fixture_dir("metadata", "xmp") / "no_exif.jpg")
    names = {item.name for item in report.groups()["iptc"]}
    assert {"IPTC caption", "IPTC keywords", "IPTC by-line"} <= names
    assert report.identifying


def test_malformed_gps_pointer_is_still_reported():
    report = metadata.scan(fixture_dir("metadata", "malformed") / "45-gps_ifd.jpg")
    assert "gps" in report.groups()
    assert report.problems and report.unreadable


def test_corrupted_entropy_data_is_copied_as_the_decoder_reads_it(copies):
    # corrupted.jpg has an FF9F byte pair inside its scan and a second image after EOI
    src, copy = copies["made"]["malformed/corrupted.jpg"]
    data = copy.dst.read_bytes()
    assert data.count(b"\xff\xd8") == 1 and data.endswith(b"\xff\xd9")
    assert "thumbnail" in copy.removed.groups()


def test_safe_name_is_neutral_and_follows_the_copy_format(tmp_path):
    src = fixture_dir("metadata", "gps") / "DSCN0010.jpg"
    name = metadata.safe_name(src)
    assert name == f"photo-{file_hash(src)[:12]}.jpg"
    png = tmp_path / "Jane_Smith_Year3.png"
    Image.new("RGB", (8, 8)).save(png)
    assert metadata.safe_name(png).startswith("photo-") and metadata.safe_name(png).endswith(".png")
    assert "Jane" not in metadata.safe_name(png)
    heic = fixture_dir("metadata", "heic") / "samplefilehub.heif"
    assert metadata.safe_name(heic).endswith(".jpg")


# --------------------------------------------------------------------------------------------
# Synthetic photos for the traps the fixtures do not cover

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP_PEOPLE = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about=""
  xmlns:exif="http://ns.adobe.com/exif/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
  xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
  xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
  exif:GPSLatitude="51,30.0N" exif:GPSLongitude="0,7.5W">
 <dc:creator><rdf:Seq><rdf:li>Mr Teacher</rdf:li></rdf:Seq></dc:creator>
 <Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Jane Pupil</rdf:li></rdf:Bag></Iptc4xmpExt:PersonInImage>
 <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
  <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Jane Pupil</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
   <mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.2" stArea:h="0.3" stArea:unit="normalized"/></rdf:li>
 </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def picture(size=(96, 64)) -> Image.Image:
    """A picture whose orientation can be told apart: a red block in the top-left corner."""
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[..., 2] = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :]
    arr[: size[1] // 3, : size[0] // 3] = (220, 20, 20)
    return Image.fromarray(arr)


def noise(size=(320, 240), seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def exif_bytes(gps=True, orientation=None, artist=None, serial=None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    if orientation:
        exif[0x0112] = orientation
    if artist:
        exif[0x013B] = artist
    if serial:
        exif.get_ifd(0x8769)[0xA431] = serial
    if gps:
        exif.get_ifd(0x8825).update({
            1: "N", 2: (IFDRational(51), IFDRational(30), IFDRational(0)),
            3: "W", 4: (IFDRational(0), IFDRational(7), IFDRational(30)),
        })
    return exif.tobytes()


def jpeg_bytes(img=None, **save) -> bytes:
    out = io.BytesIO()
    (img or picture()).save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_same_pixels(a: Path, b: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the hostile originals' EXIF
        with Image.open(a) as x, Image.open(b) as y:
            assert np.array_equal(np.asarray(x), np.asarray(y))


def assert_no_leaks(path: Path) -> None:
    if EXIFTOOL:
        assert leaks(exiftool_records([path])[str(path)]) == {}
    assert metadata.scan(path).items == []


def test_jpeg_comment_segment_is_removed(tmp_path):
    src = write(tmp_path / "trip.jpg", jpeg_bytes(comment=b"Jane Pupil, Year 3, Oak Class"))
    report = metadata.scan(src)
    assert [i.value for i in report.groups()["comment"]] == ["Jane Pupil, Year 3, Oak Class"]
    copy = metadata.make_safe_copy(src, tmp_path / "out" / "trip.jpg")
    assert b"Jane" not in copy.dst.read_bytes()
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_mpo_second_frame_carrying_gps_is_dropped(tmp_path):
    first = jpeg_bytes(exif=exif_bytes(gps=False))
    second = jpeg_bytes(picture((48, 32)), exif=exif_bytes(gps=True))
    src = write(tmp_path / "phone.jpg", first + second)
    report = metadata.scan(src)
    assert report.gps == pytest.approx((51.5, -0.125))
    assert "thumbnail" in report.groups()
    copy = metadata.make_safe_copy(src, tmp_path / "out.jpg")
    data = copy.dst.read_bytes()
    assert data.count(b"\xff\xd8") == 1 and data.endswith(b"\xff\xd9")
    assert len(data) < len(first)
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_real_mpo_keeps_only_the_first_frame(tmp_path):
    src = tmp_path / "stereo.jpg"
    picture().save(src, "MPO", save_all=True, append_images=[noise((96, 64))],
                   exif=exif_bytes(gps=True))
    with Image.open(src) as img:
        assert img.format == "MPO" and img.n_frames == 2
    copy = metadata.make_safe_copy(src, tmp_path / "copy.jpg")
    with Image.open(copy.dst) as img:
        assert img.format == "JPEG" and getattr(img, "n_frames", 1) == 1
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_progressive_jpeg_with_restart_markers_is_copied_exactly(tmp_path):
    src = write(tmp_path / "p.jpg", jpeg_bytes(noise(), progressive=True,
                                               exif=exif_bytes(serial="SN123456")))
    rst = write(tmp_path / "r.jpg", jpeg_bytes(noise(seed=2), restart_marker_blocks=4,
                                               exif=exif_bytes(artist="Mr Teacher")))
    for path in (src, rst):
        copy = metadata.make_safe_copy(path, tmp_path / "out" / path.name)
        assert_same_pixels(path, copy.dst)
        assert_no_leaks(copy.dst)


def test_xmp_people_tags_face_regions_and_gps_are_found_and_removed(tmp_path):
    src = write(tmp_path / "class.jpg", jpeg_bytes(xmp=XMP_PEOPLE))
    report = metadata.scan(src)
    people = {(i.name, i.value) for i in report.groups()["people"]}
    assert ("XMP PersonInImage", "Jane Pupil") in people
    assert ("XMP Name", "Jane Pupil") in people
    assert ("XMP face regions", "1 region(s) marked on the picture") in people
    assert report.gps == pytest.approx((51.5, -0.125))
    assert ("XMP creator", "Mr Teacher") in {(i.name, i.value) for i in report.groups()["owner"]}
    copy = metadata.make_safe_copy(src, tmp_path / "copy.jpg")
    assert b"Jane" not in copy.dst.read_bytes()
    assert_no_leaks(copy.dst)


def test_extended_xmp_photoshop_iptc_jfif_thumbnail_and_app12_are_dropped(tmp_path):
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    ext = b"http://ns.adobe.com/xmp/extension/\0" + guid + struct.pack(">II", 20, 0)
    iim = b"\x1c\x02\x50" + struct.pack(">H", 10) + b"Jane Pupil"
    irb = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iim)) + iim
    jfif_thumb = b"JFIF\0\x01\x01\0\0\x01\0\x01\x02\x02" + bytes(12)  # a 2x2 RGB thumbnail
    base = jpeg_bytes()
    assert base[2:4] == b"\xff\xe0"  # Pillow's own JFIF segment, replaced below
    body = base[4 + struct.unpack(">H", base[4:6])[0]:]
    data = (b"\xff\xd8" + segment(0xE0, jfif_thumb) + segment(0xE1, ext + b"<x>Jane</x>")
            + segment(0xED, b"Photoshop 3.0\0" + irb) + segment(0xEC, b"Ducky\0\x01")
            + segment(0xE2, b"FPXR\0" + bytes(20)) + body)
    src = write(tmp_path / "edited.jpg", data)
    groups = metadata.scan(src).groups()
    assert {"thumbnail", "iptc", "xmp", "other"} <= set(groups)
    assert ("IPTC by-line", "Jane Pupil") in {(i.name, i.value) for i in groups["iptc"]}
    copy = metadata.make_safe_copy(src, tmp_path / "copy.jpg")
    out = copy.dst.read_bytes()
    assert out[6:11] == b"JFIF\0" and out[18:20] == b"\0\0"  # kept, thumbnail size 0x0
    assert b"Jane" not in out and b"Ducky" not in out and b"FPXR" not in out
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_png_text_and_exif_chunks_are_removed_icc_and_orientation_kept(tmp_path):
    info = PngInfo()
    info.add_text("Author", "Mr Teacher")
    info.add_text("Comment", "Jane Pupil on the climbing frame", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP_PEOPLE.decode())
    info.add(b"tIME", b"\x07\xe8\x06\x01\x0c\x00\x00")
    info.add(b"prVt", b"private notes")
    src = tmp_path / "pupil.png"
    picture().save(src, pnginfo=info, exif=exif_bytes(orientation=6), icc_profile=SRGB)
    report = metadata.scan(src)
    assert {"owner", "comment", "people", "gps", "time", "other"} <= set(report.groups())
    assert report.orientation == 6 and report.has_icc
    copy = metadata.make_safe_copy(src, tmp_path / "copy.png")
    assert copy.format_out == "PNG" and not copy.reencoded
    with Image.open(copy.dst) as img:
        assert img.info.get("icc_profile") == SRGB
        assert img.getexif().get(0x0112) == 6
        assert not img.text
    assert b"Jane" not in copy.dst.read_bytes()
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_webp_exif_and_xmp_are_removed_icc_and_orientation_kept(tmp_path):
    src = tmp_path / "pupil.webp"
    picture().save(src, "WEBP", lossless=True, exif=exif_bytes(orientation=3),
                   xmp=XMP_PEOPLE, icc_profile=SRGB)
    report = metadata.scan(src)
    assert {"gps", "people", "xmp", "camera"} <= set(report.groups())
    copy = metadata.make_safe_copy(src, tmp_path / "copy.webp")
    assert copy.format_out == "WebP"
    with Image.open(copy.dst) as img:
        assert img.info.get("icc_profile") == SRGB
        assert img.getexif().get(0x0112) == 3
        assert "xmp" not in img.info
    assert b"Jane" not in copy.dst.read_bytes()
    assert_same_pixels(src, copy.dst)
    assert_no_leaks(copy.dst)


def test_tiff_artist_is_removed_and_orientation_applied(tmp_path):
    tags = ImageFileDirectory_v2()
    tags[315] = "Jane Pupil"
    tags[33432] = "(c) Oak School"
    tags[271] = "Canon"
    tags[274] = 6
    tags[700] = XMP_PEOPLE
    src = tmp_path / "scan.tif"
    original = picture()
    original.save(src, tiffinfo=tags)
    report = metadata.scan(src)
    assert ("TIFF Artist", "Jane Pupil") in {(i.name, i.value) for i in report.groups()["owner"]}
    copy = metadata.make_safe_copy(src, tmp_path / "scan.jpg")
    assert copy.format_out == "JPEG" and copy.reencoded
    with Image.open(copy.dst) as img:
        assert img.format == "JPEG" and img.getexif().get(0x0112, 1) == 1
        upright = original.transpose(Image.Transpose.ROTATE_270)  # orientation 6
        assert img.size == upright.size
        diff = np.abs(np.asarray(img, dtype=float) - np.asarray(upright, dtype=float)).mean()
        assert diff < 4
    assert b"Jane" not in copy.dst.read_bytes()
    assert_no_leaks(copy.dst)


def test_heic_with_gps_becomes_a_jpeg_without_it(tmp_path):
    src = tmp_path / "phone.heic"
    picture().save(src, exif=exif_bytes(gps=True, serial="SN99"), xmp=XMP_PEOPLE, quality=90)
    report = metadata.scan(src)
    assert report.gps == pytest.approx((51.5, -0.125))
    copy = metadata.make_safe_copy(src, tmp_path / "phone.jpg")
    with Image.open(copy.dst) as img:
        assert img.format == "JPEG"
    assert_no_leaks(copy.dst)


def test_hostile_exif_is_dropped_and_reported_not_raised(tmp_path):
    base = jpeg_bytes()
    rng = random.Random(7)
    hostile = {
        "huge_count": b"Exif\0\0MM\0*\0\0\0\x08\xff\xff" + bytes(30),
        "orientation_text": b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x02\0\0\0\x04six\0\0\0\0\0",
        "gps_far_away": b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\xff\xff\xff\0"
                        + bytes(4),
        "random": b"Exif\0\0" + rng.randbytes(300),
        "empty": b"Exif\0\0",
    }
    for name, payload in hostile.items():
        src = write(tmp_path / f"{name}.jpg", insert_after_soi(base, segment(0xE1, payload)))
        report = metadata.scan(src)  # never raises
        copy = metadata.make_safe_copy(src, tmp_path / "out" / f"{name}.jpg")
        assert copy.kept == []
        assert_same_pixels(src, copy.dst)
        assert_no_leaks(copy.dst)
        if name in ("huge_count", "gps_far_away", "random"):
            assert report.problems, name


def test_truncated_jpeg_is_refused_and_nothing_is_written(tmp_path):
    whole = jpeg_bytes(noise(), exif=exif_bytes())
    real = (fixture_dir("metadata", "gps") / "DSCN0010.jpg").read_bytes()
    for name, data in (("synthetic", whole[: len(whole) * 2 // 3]),
                       ("camera", real[: len(real) - 5000])):
        src = write(tmp_path / f"{name}.jpg", data)
        out = tmp_path / "out" / f"{name}.jpg"
        with pytest.raises(UnreadableImage, match="truncated"):
            metadata.make_safe_copy(src, out)
        assert not out.exists()
        assert metadata.scan(src).problems  # scanning still works
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_damaged_marker_structure_is_refused(tmp_path):
    data = jpeg_bytes()
    src = write(tmp_path / "bad.jpg", data[:2] + b"\xff\x02" + data[2:])
    out = tmp_path / "bad-copy.jpg"
    with pytest.raises(UnreadableImage, match="damaged"):
        metadata.make_safe_copy(src, out)
    assert not out.exists()


def test_corrupted_picture_data_is_refused_after_the_decode_check(tmp_path):
    data = bytearray(jpeg_bytes(noise(), exif=exif_bytes()))
    sos = data.index(b"\xff\xda")
    data[sos + 2:sos + 4] = b"\x00\x01"  # scan header length 1: not even the header fits
    src = write(tmp_path / "corrupt.jpg", bytes(data))
    with pytest.raises(UnreadableImage):
        metadata.make_safe_copy(src, tmp_path / "copy.jpg")
    assert not (tmp_path / "copy.jpg").exists()


@pytest.mark.parametrize("case", ["empty", "text", "gif", "oversized", "missing"])
def test_files_that_are_not_usable_photos_get_a_clear_error_and_no_copy(tmp_path, case):
    settings = DEFAULTS
    src = tmp_path / f"{case}.jpg"
    if case == "empty":
        src.write_bytes(b"")
        error, words = UnreadableImage, "empty"
    elif case == "text":
        src.write_text("Dear parents, the trip is on Friday.")
        error, words = UnreadableImage, "not a photo"
    elif case == "gif":
        picture().save(src, "GIF")
        error, words = UnsupportedFormat, "GIF"
    elif case == "oversized":
        picture().save(src, "JPEG")
        settings = dataclasses.replace(DEFAULTS, max_pixels=100)
        error, words = ImageTooLarge, "megapixels"
    else:
        error, words = UnreadableImage, "not found"
    out = tmp_path / "out" / "copy.jpg"
    with pytest.raises(error, match=words) as caught:
        metadata.make_safe_copy(src, out, settings)
    assert str(src) in str(caught.value)
    assert not out.exists()
    with pytest.raises(error):
        metadata.scan(src, settings)


def test_copy_that_still_holds_metadata_is_deleted_and_refused(tmp_path, monkeypatch):
    src = write(tmp_path / "gps.jpg", jpeg_bytes(exif=exif_bytes()))
    # fault injection: a writer that forgets to drop anything
    monkeypatch.setattr(metadata.jpeg, "clean", lambda data, parsed, orientation: data)
    out = tmp_path / "out" / "gps.jpg"
    with pytest.raises(SafeCopyFailed, match="GPS") as caught:
        metadata.make_safe_copy(src, out)
    assert str(out) in str(caught.value)
    assert not out.exists()
    assert os.listdir(tmp_path / "out") == []


def test_safe_copy_refuses_to_overwrite_its_original(tmp_path):
    src = write(tmp_path / "gps.jpg", jpeg_bytes(exif=exif_bytes()))
    before = src.read_bytes()
    with pytest.raises(SafeCopyFailed, match="original"):
        metadata.make_safe_copy(src, src)
    os.link(src, tmp_path / "hardlink.jpg")
    with pytest.raises(SafeCopyFailed, match="original"):
        metadata.make_safe_copy(src, tmp_path / "hardlink.jpg")
    assert src.read_bytes() == before


def test_report_groups_are_stable_codes_in_order():
    report = metadata.scan(fixture_dir("metadata", "gps") / "DSCN0010.jpg")
    groups = list(report.groups())
    assert groups == [g for g in metadata.GROUPS if g in groups]
    assert {"gps", "time", "camera", "maker_notes", "thumbnail"} <= set(groups)
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["gps"] == pytest.approx([43.4674483, 11.8851267])
    assert report.identifying
