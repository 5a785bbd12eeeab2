"""Photo intake: formats by content, orientation, reduced decoding, clear refusals."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from consent import images
from consent.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat
from consent.settings import Settings

from .conftest import fixture_dir


def _jpeg(path, size=(64, 48), color=(200, 30, 30), **save):
    Image.new("RGB", size, color).save(path, "JPEG", **save)
    return path


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_every_orientation_sample_decodes_upright(kind):
    folder = fixture_dir("metadata", "orientation")
    reference = np.asarray(images.load(folder / f"{kind}_1.jpg").image, dtype=np.float64)
    reference -= reference.mean()  # the samples differ in brightness, not in content
    for n in range(2, 9):
        photo = images.load(folder / f"{kind}_{n}.jpg")
        assert photo.orientation == n
        got = np.asarray(photo.image, dtype=np.float64)
        got -= got.mean()
        assert got.shape == reference.shape, f"{kind}_{n}"
        # upright must be closer to the reference than any mirrored or rotated version of it
        candidates = [got[::-1], got[:, ::-1], got[::-1, ::-1]]
        upright = np.abs(got - reference).mean()
        assert all(upright < 0.5 * np.abs(c - reference).mean() for c in candidates), f"{kind}_{n}"


def test_reported_size_is_the_displayed_size():
    folder = fixture_dir("metadata", "orientation")
    photo = images.load(folder / "landscape_6.jpg")
    assert (photo.width, photo.height) == photo.image.size == (600, 450)


def test_heic_from_an_iphone_opens_by_content():
    folder = fixture_dir("metadata", "heic")
    photo = images.load(folder / "iphone_13_pro_max.HEIC", max_side=800)
    assert photo.format == "HEIC/HEIF"
    assert max(photo.image.size) == 800
    assert (photo.width, photo.height) == (3024, 4032)


def test_format_is_decided_by_content_not_extension(tmp_path):
    png_named_jpg = tmp_path / "really_a_png.jpg"
    Image.new("RGB", (20, 10), "blue").save(png_named_jpg, "PNG")
    assert images.load(png_named_jpg).format == "PNG"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_open(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (30, 20), "green").save(path, fmt)
    photo = images.load(path)
    assert photo.image.size == (30, 20) and photo.image.mode == "RGB"


def test_large_jpeg_is_decoded_at_reduced_size_with_scale(tmp_path):
    path = _jpeg(tmp_path / "big.jpg", size=(4000, 3000))
    photo = images.load(path, max_side=1600)
    assert max(photo.image.size) <= 1600
    assert (photo.width, photo.height) == (4000, 3000)
    assert photo.scale == pytest.approx(4000 / photo.image.width)


def test_reduced_jpeg_decode_uses_dct_scaling(tmp_path):
    path = _jpeg(tmp_path / "big.jpg", size=(4000, 3000))
    img = Image.open(path)
    # the same request images.load makes: draft must pick a DCT scale, not a full decode
    mode, box = img.draft("RGB", (1600, 1200))
    assert img.size == (2000, 1500)


def test_transparent_png_is_flattened_on_white(tmp_path):
    path = tmp_path / "t.png"
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(path)
    assert images.load(path).image.getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(np.full((8, 8), 30000, dtype=np.uint16)).save(path)
    assert images.load(path).image.getpixel((1, 1))[0] == 255


def test_empty_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(UnreadableImage, match=r"empty\.jpg: the file is empty"):
        images.load(path)


def test_non_image_is_refused(tmp_path):
    path = tmp_path / "letter.jpg"
    path.write_text("Dear parents, ...")
    with pytest.raises(UnreadableImage, match="letter.jpg: not a photo"):
        images.load(path)


def test_truncated_jpeg_is_refused(tmp_path):
    whole = _jpeg(tmp_path / "whole.jpg", size=(800, 600), quality=90)
    data = whole.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match="cut.jpg: the picture data is truncated or corrupted"):
        images.load(cut)


def test_gif_is_an_unsupported_format(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("P", (10, 10)).save(path, "GIF")
    with pytest.raises(UnsupportedFormat, match="GIF images are not supported"):
        images.load(path)


def test_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    path = _jpeg(tmp_path / "big.jpg", size=(1000, 1000))
    with pytest.raises(ImageTooLarge, match="big.jpg: 1000x1000 is 1 megapixels, over the limit"):
        images.load(path, settings=Settings(max_pixels=500_000))


def test_decompression_bomb_header_is_refused(tmp_path):
    # a PNG header claiming 30000x30000 pixels, with almost no data behind it
    path = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(path)
    with pytest.raises(ImageTooLarge):
        images.load(path)


def test_animated_webp_checks_first_frame_with_a_note(tmp_path):
    path = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue")]
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    photo = images.load(path)
    assert photo.notes == ["animated image: only the first frame was checked"]
    assert photo.image.getpixel((5, 5)) == (255, 0, 0)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(UnreadableImage, match="file not found"):
        images.load(tmp_path / "nope.jpg")
    with pytest.raises(UnreadableImage, match="is a folder"):
        images.load(tmp_path)


def test_every_metadata_fixture_either_loads_or_is_refused_clearly():
    folder = fixture_dir("metadata")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            photo = images.load(path, max_side=400)
        except (UnreadableImage, UnsupportedFormat, ImageTooLarge) as exc:
            assert str(exc).startswith(str(path))
        else:
            assert photo.image.mode == "RGB" and max(photo.image.size) <= 400


def test_find_images_walks_folders_and_keeps_relative_paths(tmp_path):
    (tmp_path / "event" / "day1").mkdir(parents=True)
    _jpeg(tmp_path / "event" / "day1" / "a.jpg")
    (tmp_path / "event" / "notes.txt").write_text("x")
    (tmp_path / "event" / ".hidden").mkdir()
    _jpeg(tmp_path / "event" / ".hidden" / "b.jpg")
    found = [rel.as_posix() for _, rel in images.find_images([tmp_path / "event"])]
    assert found == ["event/day1/a.jpg"]


def test_file_hash_identifies_content(tmp_path):
    a = _jpeg(tmp_path / "a.jpg")
    b = tmp_path / "renamed.jpg"
    b.write_bytes(a.read_bytes())
    assert images.file_hash(a) == images.file_hash(b)
    assert len(images.file_hash(a)) == 64


def test_tiff_orientation_is_applied_once(tmp_path):
    path = tmp_path / "rotated.tif"
    img = Image.new("RGB", (96, 64), "red")
    img.paste((0, 0, 255), (0, 0, 20, 20))  # a blue corner, top left as stored
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    img.save(path, exif=exif.tobytes())
    photo = images.load(path)
    assert photo.image.size == (photo.width, photo.height) == (64, 96)
    assert photo.image.getpixel((60, 3)) == (0, 0, 255)  # orientation 6: top left -> top right


def _sixteen_bit_bomb(path, side=10000):
    """A ~200 KB PNG that decodes to ``side`` x ``side`` 16-bit grey pixels."""
    Image.new("I;16", (side, side)).save(path, optimize=True)
    return path


def _peak_rss_mb(code: str) -> float:
    """Peak memory (MB) of a fresh Python running ``code``."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + "\nprint(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.split()[-1]
    return int(out) / 1024  # kB


def test_a_sixteen_bit_memory_bomb_is_refused_from_its_header_saying_what_to_do(tmp_path):
    bomb = _sixteen_bit_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 400_000
    with pytest.raises(ImageTooLarge) as refused:
        images.load(bomb, max_side=1600)
    message = str(refused.value)
    assert "10000x10000 16-bit greyscale" in message and "too large to check" in message
    assert "save a smaller copy" in message and "settings" not in message  # never "change a setting"
    peak = _peak_rss_mb(
        "from consent import images\n"
        f"try:\n    images.load({str(bomb)!r}, max_side=1600)\nexcept Exception as e:\n    print(type(e).__name__)"
    )
    assert peak < 200, f"refusing the bomb took {peak:.0f} MB"


def test_decode_cost_counts_bit_depth_and_mode(tmp_path):
    grey16 = _sixteen_bit_bomb(tmp_path / "g16.png", side=100)
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (100, 100)).save(rgb)
    with Image.open(grey16) as a, Image.open(rgb) as b:
        assert images.check_cost(a) > images.check_cost(b) >= 100 * 100 * 4


def test_a_photo_within_the_memory_limit_still_loads(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(np.linspace(0, 4000, 600 * 800, dtype=np.uint16).reshape(600, 800)).save(path)
    photo = images.load(path, max_side=400, settings=Settings(max_decode_mb=400))
    assert photo.image.size == (400, 300) and np.asarray(photo.image).max() >= 250


@pytest.mark.parametrize("damage", ["tiff_no_dimensions", "png_bad_ihdr_length"])
def test_any_decoder_failure_is_a_clear_refusal(tmp_path, damage):
    path = tmp_path / "broken.tif"
    if damage == "tiff_no_dimensions":
        # a TIFF whose first directory has no ImageWidth / ImageLength tags
        import struct

        entries = [(262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (279, 4, 1, 1)]
        ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
        path.write_bytes(b"II*\0" + struct.pack("<I", 8 + 0) + ifd)
    else:
        path = tmp_path / "broken.png"
        Image.new("RGB", (8, 8)).save(path)
        data = bytearray(path.read_bytes())
        data[8:12] = (0xFFFFFF00).to_bytes(4, "big")
        path.write_bytes(bytes(data))
    with pytest.raises((UnreadableImage, UnsupportedFormat)) as refused:
        images.load(path)
    assert path.name in str(refused.value)


def test_a_file_larger_than_a_checks_memory_is_refused_before_it_is_read(tmp_path):
    """Its bytes alone would not fit: refused from its size (a sparse file: no disk used), with
    what to do, and nothing of it held."""
    import tracemalloc

    from consent.errors import ImageTooLarge
    from consent.images import Photo
    from consent.settings import DEFAULTS

    big = tmp_path / "assembly.jpg"
    with open(big, "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0")
        fh.truncate(DEFAULTS.max_decode_mb * 2**20 + 1)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge) as refused:
            Photo.read(big, DEFAULTS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "assembly.jpg: the file is 400 MB" in str(refused.value) and "save a smaller copy" in str(refused.value)
    assert peak < 2**20
