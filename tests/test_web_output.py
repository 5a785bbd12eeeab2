"""What leaves the server: safe copies typed by their content, never cached, CSV cells that never
run as formulas, one decision on damaged pictures, and messages without server paths."""

from __future__ import annotations

import csv
import io
import struct

import pytest
from click.testing import CliRunner
from PIL import Image

from consent import images, metadata, reports
from consent.errors import UnreadableImage
from consent.results import PhotoCheck

from tests.test_web_check import landscape_jpeg, only_check, upload
from tests.web_helpers import client_as, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def _jpeg_with_html_profile() -> bytes:
    img = Image.open(io.BytesIO(landscape_jpeg()))
    buf = io.BytesIO()
    img.save(buf, "JPEG", icc_profile=b"<html><script>alert('hi')</script></html>" * 4)
    return buf.getvalue()


def test_a_safe_copy_gets_the_ending_and_type_of_its_real_format(app):
    office = client_as(app, "office")
    assert upload(office, _jpeg_with_html_profile(), name="newsletter.html").status_code == 200
    check_id = only_check(app)["id"]
    response = office.get(f"/check/{check_id}/download/safe")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "newsletter-safe.jpg" in disposition
    assert ".html" not in disposition


def test_the_command_line_safe_copy_also_ends_as_its_real_format(tmp_path):
    from consent.check import Checker

    src = tmp_path / "newsletter.html"
    src.write_bytes(_jpeg_with_html_profile())
    result = Checker(None, use_register=False, use_cache=False).check(src, safe_dir=tmp_path / "safe")
    assert result.safe_copy.endswith("newsletter.jpg")


def test_pages_previews_and_downloads_showing_pupils_are_never_stored(app):
    office = client_as(app, "office")
    upload(office, landscape_jpeg(), name="field.jpg")
    check_id = only_check(app)["id"]
    for url in (f"/check/{check_id}", f"/check/{check_id}/preview.jpg", f"/check/{check_id}/download/safe", "/check/"):
        response = office.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers, url


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_csv_cells_that_look_like_formulas_are_escaped(name):
    rows = list(csv.reader(io.StringIO(reports.render_csv([PhotoCheck(path=name, name=name, error="x")]))))
    cell = rows[1][0]
    assert cell == "'" + name and not cell.startswith(("=", "+", "-", "@", "\t"))


def test_the_command_line_csv_report_escapes_formula_file_names(tmp_path, monkeypatch):
    from consent.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "=HYPERLINK(1).jpg").write_bytes(landscape_jpeg())
    out = tmp_path / "report.csv"
    result = CliRunner().invoke(main, ["check", "--no-register", "--csv", str(out), "=HYPERLINK(1).jpg"],
                                env={"CONSENT_DATA": str(tmp_path / "data")})
    assert out.exists(), result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text
    assert not any(line.startswith("=") for line in text.splitlines())


# --- one decision on damaged pictures ----------------------------------------------------------


def _png_cut_in_its_last_chunk(path):
    """A PNG whose picture is whole but whose chunk after the image data is cut short (as
    Pillow's ``truncated_end_chunk.png``)."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (9, 90, 9)).save(buf, "PNG")
    data = buf.getvalue()
    iend = data.rfind(b"IEND") - 4
    path.write_bytes(data[:iend] + struct.pack(">I", 10) + b"tEXt")
    return path


def test_a_png_cut_in_its_end_chunk_is_refused_by_both_the_check_and_the_safe_copy(tmp_path):
    src = _png_cut_in_its_last_chunk(tmp_path / "truncated_end_chunk.png")
    with pytest.raises(UnreadableImage, match="truncated"):
        images.load(src)
    with pytest.raises(UnreadableImage, match="truncated"):
        metadata.make_safe_copy(src, tmp_path / "out" / "copy.png")
    assert not (tmp_path / "out" / "copy.png").exists()


def test_an_animated_png_gets_a_safe_copy_and_a_note(tmp_path):
    from consent.check import Checker

    frames = [Image.new("RGB", (64, 48), (i * 60, 0, 0)) for i in range(3)]
    src = tmp_path / "anim.png"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    result = Checker(None, use_register=False, use_cache=False).check(src, safe_dir=tmp_path / "safe")
    assert result.error is None, result.error
    assert any("animated" in n for n in result.notes)
    assert result.safe_copy and result.safe_copy.endswith(".png")


# --- server paths -----------------------------------------------------------------------------


def test_a_refusal_never_shows_the_servers_folders(app, tmp_path):
    office = client_as(app, "office")
    broken = bytearray(landscape_jpeg())
    del broken[len(broken) // 2:]
    response = upload(office, bytes(broken), name="cut.jpg", Accept="application/json")
    assert response.status_code in (415, 422)
    text = response.get_data(as_text=True)
    assert "cut.jpg" in text
    assert str(tmp_path) not in text and "/web/checks/" not in text


def test_a_failed_safe_copy_is_reported_without_the_servers_folders(app, tmp_path):
    from web.check import checked_photos
    from web.core.db import connect

    place = checked_photos.Place.from_app(app)
    original = tmp_path / "upload" / "field.jpg"
    original.parent.mkdir()
    original.write_bytes(landscape_jpeg())
    place.check_dir("fixed").mkdir(parents=True)
    (place.check_dir("fixed") / "safe").write_text("a file where the safe folder should be")
    with app.app_context(), pytest.raises(checked_photos.UploadRefused) as refused:
        checked_photos.check_file(connect(app.config["CONSENT_DB"]), place, "fixed", 1, original, "field.jpg", None)
    message = str(refused.value)
    assert "safe copy" in message
    assert str(place.data) not in message and "/web/checks/" not in message


def test_a_tiff_too_tall_for_a_jpeg_copy_is_refused_plainly(tmp_path):
    """A TIFF claiming 65535 rows (more than a JPEG may have) gave 'unexpected error' in strip."""
    from consent.errors import ConsentError

    src = tmp_path / "tall.tif"
    Image.new("RGB", (16, 12), (10, 200, 10)).save(src)
    data = bytearray(src.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry:entry + 2])[0] == 257:  # ImageLength
            data[entry + 8:entry + 12] = struct.pack("<I", 65535)
    src.write_bytes(bytes(data))
    with pytest.raises(ConsentError) as refused:
        metadata.make_safe_copy(src, tmp_path / "out" / "tall.jpg")
    assert "tall.tif" in str(refused.value)
