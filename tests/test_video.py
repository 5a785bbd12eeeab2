"""The video check over clips made here from the fixture photos (PyAV encodes H.264): faces by
time, a consented pupil across frames, the sound, the safe copy's metadata (read with exiftool
-ee), and clear refusals for clips that cannot be checked."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

av = pytest.importorskip("av")

from consent.check import Checker  # noqa: E402
from consent.cli import main  # noqa: E402
from consent.register import Register  # noqa: E402
from consent.video.check import check_video  # noqa: E402

from .conftest import copy_register, fixture_dir  # noqa: E402
from .test_check import enrolled_db  # noqa: E402,F401  (the module-scoped register fixture)

W, H, FPS = 640, 360, 25


def picture(path: Path, width: int = W, height: int = H) -> np.ndarray:
    """A fixture photo fitted into a ``width`` x ``height`` frame (grey bars), RGB."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((width, height))
        canvas = Image.new("RGB", (width, height), (90, 90, 90))
        canvas.paste(im, ((width - im.width) // 2, (height - im.height) // 2))
        return np.asarray(canvas)


def blank(width: int = W, height: int = H) -> np.ndarray:
    """A frame with nobody in it: a soft gradient (a wall)."""
    ramp = np.linspace(60, 160, width, dtype=np.uint8)
    return np.repeat(np.repeat(ramp[None, :, None], height, 0), 3, 2).copy()


def make_clip(path: Path, shots: list[tuple[np.ndarray, float]], *, audio: bool = False,
              metadata: dict | None = None, options: dict | None = None, fps: int = FPS,
              codec: str = "libx264", codec_options: dict | None = None, codec_tag: str | None = None) -> Path:
    """Encode ``shots`` ((frame, seconds) in order) with ``codec`` (H.264 by default) into
    ``path`` (the container by its ending), with a silent AAC track when ``audio``, and container
    ``metadata`` tags."""
    out = av.open(str(path), "w", options=options or {})
    for key, value in (metadata or {}).items():
        out.metadata[key] = value
    height, width = shots[0][0].shape[:2]
    video = out.add_stream(codec, rate=fps, options=codec_options or {})
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    if codec_tag:
        video.codec_tag = codec_tag
    sound = out.add_stream("aac", rate=44100) if audio else None
    n = 0
    for image, seconds in shots:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")  # once a shot: a 4K frame is 25 MB
        for _ in range(round(seconds * fps)):
            frame.pts, frame.time_base = n, Fraction(1, fps)
            n += 1
            for packet in video.encode(frame):
                out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if sound is not None:
        for start in range(0, round(n / fps * 44100), 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, start
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    out.close()
    return path


@pytest.fixture
def db(enrolled_db, tmp_path):  # noqa: F811
    return copy_register(enrolled_db, tmp_path)


def checker(db) -> Checker:
    return Checker(db, use_cache=False, kit_check=False, text_check=False)


def check(db_or_checker, clip: Path, channel: str = "website", **options):
    """The video check of ``clip``, as every batch runs it (consent.batch.check_photo)."""
    c = db_or_checker if isinstance(db_or_checker, Checker) else checker(db_or_checker)
    return check_video(c, clip, channel, **options)


def test_a_pupil_without_consent_on_screen_for_half_a_second_is_found_and_named_by_time(db, tmp_path):
    with Register(db) as reg:
        reg.record_consent("P002", "website", "refused")
    biden = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "assembly.mp4", [(blank(), 2.0), (biden, 0.5), (blank(), 1.5)])

    result = check(db, clip)

    assert result.error is None, result.error
    assert result.verdicts["website"].verdict == "block"
    (face,) = [f for f in result.faces if f.match == "matched"]
    with Register(db) as reg:
        assert reg.get_person(face.person_id).mis_id == "P002"
    (start, end), = face.times
    assert 2.0 <= start <= 2.3 and 2.0 <= end < 2.5  # on screen from 2.0 s to 2.5 s
    (reason,) = [r for r in result.reasons if r.code == "no_consent"]
    assert reason.message.startswith("0:02: ") and reason.times == face.times
    assert result.video["sampled_frames"] >= 4 * 4 - 1


def test_a_consented_pupil_is_matched_across_frames_as_one_person(db, tmp_path):
    obama = fixture_dir("people", "test") / "obama1.jpg"
    # the camera zooms in slowly: a different frame every sample, one person throughout
    shots = [(picture(obama, W + 16 * k, H + 9 * k)[:H, :W], 0.2) for k in range(15)]
    clip = make_clip(tmp_path / "speech.mov", shots)

    result = check(db, clip)

    assert result.error is None, result.error
    assert result.format == "MOV"
    matched = [f for f in result.faces if f.match == "matched"]
    assert len(matched) == 1 and len(result.faces) == 1, [(f.match, f.times) for f in result.faces]
    with Register(db) as reg:
        assert reg.get_person(matched[0].person_id).mis_id == "P001"
    (start, end), = matched[0].times
    assert start < 0.3 and end > 2.5
    # no sound track: no sound reason; the picture's words are never silently ok
    codes = [r.code for r in result.reasons]
    assert "sound_not_checked" not in codes and "picture_text_not_checked" in codes
    assert result.verdicts["website"].verdict == "review"


def test_a_clip_with_sound_needs_listening_to_unless_the_copy_drops_it(db, tmp_path):
    clip = make_clip(tmp_path / "nativity.mp4", [(blank(), 1.0)], audio=True)
    result = check(db, clip)
    (sound,) = [r for r in result.reasons if r.code == "sound_not_checked"]
    assert sound.message == "the sound was not checked: listen for pupils' names" and sound.severity == "review"

    dropped = check(db, clip, safe_dir=tmp_path / "safe", drop_sound=True)
    assert "sound_not_checked" not in [r.code for r in dropped.reasons]
    with av.open(dropped.safe_copy) as copy:
        assert not copy.streams.audio and len(copy.streams.video) == 1


def exiftool(path: Path) -> str:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (make system-tools)")
    return subprocess.run(["exiftool", "-ee", "-G", "-a", str(path)], capture_output=True, text=True,
                          check=True).stdout


PHONE_TAGS = {"location": "+51.5074-000.1278/", "make": "Apple", "model": "iPhone 13",
              "creation_time": "2026-07-10T10:15:00.000000Z"}


@pytest.mark.parametrize("name,options,extra", [
    ("sports_day.mov", {}, {}),
    ("sports_day.mp4", {"movflags": "use_metadata_tags"},
     {"com.apple.quicktime.location.ISO6709": "+51.5074-000.1278+010.000/",
      "com.apple.quicktime.make": "Apple"}),
])
def test_gps_written_the_way_phones_write_it_is_gone_from_the_safe_copy(db, tmp_path, name, options, extra):
    clip = make_clip(tmp_path / name, [(blank(), 1.0)], audio=True, metadata={**PHONE_TAGS, **extra},
                     options=options)
    before = exiftool(clip)
    assert "GPS Coordinates" in before and "iPhone 13" in before  # the oracle sees what phones write

    result = check(db, clip, safe_dir=tmp_path / "safe")

    assert result.error is None, result.error
    assert {"gps", "camera", "time"} <= set(result.metadata_found)
    assert "location_metadata" in [r.code for r in result.reasons]
    copy = Path(result.safe_copy)
    assert copy.parent == tmp_path / "safe" and copy.suffix == Path(name).suffix
    # the format's own words name Apple (QuickTime's file type and brand, FFmpeg's handler vendor
    # "appl" in every MP4 it writes): not the phone's
    format_words = ("File Type", "Major Brand", "Handler Vendor ID")
    after = "\n".join(line for line in exiftool(copy).splitlines() if not any(w in line for w in format_words))
    for word in ("GPS", "Location", "ISO6709", "Apple", "iPhone", "Make", "Model", "2026:07:10"):
        assert word not in after, (word, after)
    # picture and sound copied, not re-encoded: the same packets
    with av.open(str(clip)) as a, av.open(str(copy)) as b:
        assert [s.type for s in b.streams] == ["video", "audio"]
        assert [bytes(p) for p in a.demux(video=0) if p.size] == [bytes(p) for p in b.demux(video=0) if p.size]


def test_clips_that_cannot_be_checked_are_refused_clearly(db, tmp_path):
    rng = np.random.default_rng(31)  # noise: every frame about as large, so half the file is half the clip
    noisy = [(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), 0.2) for _ in range(10)]
    whole = make_clip(tmp_path / "whole.mp4", noisy, options={"movflags": "faststart"})
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    damaged = tmp_path / "damaged.mov"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 64)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    broken = bytearray(whole.read_bytes())  # 2000 bytes in the middle of the picture overwritten
    broken[len(broken) // 2: len(broken) // 2 + 2000] = rng.integers(0, 255, 2000, dtype=np.uint8).tobytes()
    damaged_inside = tmp_path / "damaged_inside.mp4"
    damaged_inside.write_bytes(bytes(broken))
    sound_only = tmp_path / "voice_memo.m4v"
    out = av.open(str(sound_only), "w", format="mp4")
    sound = out.add_stream("aac", rate=44100)
    for start in range(0, 44100, 1024):
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 44100, start
        for packet in sound.encode(chunk):
            out.mux(packet)
    out.close()
    huge = make_clip(tmp_path / "huge.mp4", [(blank(4800, 2880), 0.08)])

    expected = {
        empty: ("unreadable_video", "the file is empty"),
        damaged: ("unreadable_video", "not a video this tool can read, or damaged"),
        truncated: ("unreadable_video", "stops at"),
        damaged_inside: ("unreadable_video", "damaged at"),
        sound_only: ("unreadable_video", "sound only, no picture to check for faces"),
        huge: ("video_too_large", "4800x2880 pixels"),
    }
    c = checker(db)
    for clip, (code, words) in expected.items():
        result = check(c, clip)
        assert result.verdict == "error" and result.error_code == code, (clip.name, result.error)
        assert result.error.startswith(f"{clip}: ") and words in result.error, result.error
    assert check(c, whole).error is None


def test_a_clip_longer_than_the_setting_is_refused(db, tmp_path):
    from dataclasses import replace

    from consent.settings import load

    clip = make_clip(tmp_path / "long.mp4", [(blank(160, 90), 12.0)], fps=5)
    c = Checker(db, replace(load(), video_max_seconds=10), use_cache=False, kit_check=False, text_check=False)
    result = check(c, clip)
    assert result.error_code == "video_too_large" and "12 seconds long" in result.error, result.error


def test_consent_check_takes_videos_in_folders_and_writes_them_in_json(db, tmp_path):
    event = tmp_path / "Sports day"
    event.mkdir()
    make_clip(event / "relay.mp4", [(blank(), 1.0)], audio=True)
    (event / "old.avi").write_bytes(b"RIFF")
    report = tmp_path / "report.json"
    outcome = CliRunner().invoke(main, ["check", "--db", str(db), "-w", "1", "-c", "website", "--no-text",
                                        "--json", str(report), str(event)])
    assert outcome.exit_code == 1, outcome.output  # the .avi could not be checked
    (line,) = [x for x in outcome.output.splitlines() if "relay.mp4" in x]
    assert line.startswith("[needs sign-off] relay.mp4: ") and "listen for pupils' names" in line, line
    (avi,) = [x for x in outcome.output.splitlines() if "old.avi" in x]
    assert "a video; this tool checks photos only" in avi
    data = json.loads(report.read_text())
    (relay,) = [r for r in data["photos"] if r["name"] == "relay.mp4"]
    assert relay["video"]["audio"] is True and relay["video"]["sample_fps"] == 4.0


def test_consent_check_drops_the_sound_from_safe_copies_when_asked(db, tmp_path):
    clip = make_clip(tmp_path / "choir.mp4", [(blank(), 1.0)], audio=True)
    outcome = CliRunner().invoke(main, ["check", "--db", str(db), "-w", "1", "-c", "website", "--no-text",
                                        "--safe-dir", str(tmp_path / "safe"), "--drop-sound", str(clip)])
    assert "listen for pupils' names" not in outcome.output, outcome.output
    with av.open(str(tmp_path / "safe" / "choir.mp4")) as copy:
        assert not copy.streams.audio


def test_a_phone_clip_recorded_sideways_is_checked_upright_and_its_copy_keeps_the_turn(db, tmp_path):
    # a phone held upright records landscape frames and a display rotation (90 degrees)
    obama = np.ascontiguousarray(np.rot90(picture(fixture_dir("people", "test") / "obama1.jpg", 360, 640), k=-1))
    clip = tmp_path / "portrait.mp4"
    out = av.open(str(clip), "w")
    video = out.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    video.set_display_rotation(90)
    for n in range(FPS):
        frame = av.VideoFrame.from_ndarray(obama, format="rgb24")
        frame.pts, frame.time_base = n, Fraction(1, FPS)
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    out.close()

    result = check(db, clip, safe_dir=tmp_path / "safe")

    assert (result.width, result.height) == (360, 640)
    assert [f.match for f in result.faces] == ["matched"]  # found upright: sideways it is not matched
    with av.open(result.safe_copy) as copy:
        assert next(copy.decode(video=0)).rotation == 90


@pytest.mark.parametrize("frames_before", [50, 53, 56])  # every phase against the 0.25 s clock
def test_half_a_second_on_screen_is_on_at_least_two_sampled_frames_whatever_the_phase(db, tmp_path, frames_before):
    from consent.video.check import analyse
    from consent.video.frames import probe

    biden = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "walk_past.mp4", [(blank(), frames_before / FPS), (biden, 0.5), (blank(), 1.0)])
    c = checker(db)
    analysis, tracks, info = analyse(c, probe(clip, c.settings))
    (track,) = tracks
    assert len(track.sightings) >= 2 and analysis.faces[0].match == "matched"
    assert frames_before / FPS - 0.01 <= track.start and track.end < frames_before / FPS + 0.5


def test_a_name_badge_on_screen_for_a_few_frames_is_read_and_named_by_time(db, tmp_path):
    from .drawn_text import draw, missing_fonts

    if missing_fonts():
        pytest.skip(f"fonts missing: {', '.join(missing_fonts())}")
    with Register(db) as reg:  # Joe Biden's name on a badge held up beside Obama
        reg.record_consent("P002", "website", "granted")
    badge = tmp_path / "badge.jpg"
    draw(fixture_dir("people", "test") / "obama1.jpg", badge, "Joe Biden", size=0.05, where=(0.05, 0.05))
    obama = picture(fixture_dir("people", "test") / "obama1.jpg")
    clip = make_clip(tmp_path / "class.mp4", [(obama, 1.0), (picture(badge), 0.6), (obama, 1.4)])

    c = Checker(db, use_cache=False, kit_check=False, text_check=True)
    result = check(c, clip)

    assert result.error is None, result.error
    (reason,) = [r for r in result.reasons if r.code == "name_in_picture"]
    assert reason.message.startswith("0:01: ") and 1.0 <= reason.times[0][0] < 1.6, reason.message
    assert "Biden" not in reason.message and "Joe Biden" in reason.name_detail
    codes = [r.code for r in result.reasons]
    assert "kit_not_checked" in codes and "picture_text_not_checked" not in codes


def test_a_data_stream_such_as_a_gps_track_is_reported_and_left_out_of_the_safe_copy(db, tmp_path):
    clip = tmp_path / "gopro.mp4"
    out = av.open(str(clip), "w")
    video = out.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = 160, 90, "yuv420p"
    track = out.add_data_stream(codec_name="bin_data")  # as a GoPro's GPMD or a drone's telemetry
    for n in range(FPS):
        frame = av.VideoFrame.from_ndarray(blank(160, 90), format="rgb24")
        frame.pts, frame.time_base = n, Fraction(1, FPS)
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    for i in range(2):
        packet = av.Packet(b"GPS5 +51.5074-000.1278")
        packet.stream, packet.pts, packet.dts, packet.time_base = track, i * 500, i * 500, Fraction(1, 1000)
        out.mux(packet)
    out.close()
    assert b"GPS5 +51.5074" in clip.read_bytes()

    result = check(db, clip, safe_dir=tmp_path / "safe")

    assert result.error is None, result.error
    assert {"gps", "other"} <= set(result.metadata_found)
    copy = Path(result.safe_copy)
    assert b"GPS5" not in copy.read_bytes()
    with av.open(str(copy)) as back:
        assert [s.type for s in back.streams] == ["video"]


def test_the_blurred_copy_hides_the_faces_without_consent_on_every_frame_and_keeps_the_others(db, tmp_path):
    with Register(db) as reg:
        reg.record_consent("P004", "website", "refused")  # Rose; Kit's consent stands
    both = fixture_dir("people", "test") / "kit_with_rose.jpg"
    # the camera zooms in slowly, so the faces move between the frames looked at
    shots = [(picture(both, W + 8 * k, H + 4 * k)[:H, :W], 0.1) for k in range(20)]
    clip = make_clip(tmp_path / "drama.mp4", shots, audio=True)

    result = check(db, clip, safe_dir=tmp_path / "safe", blur_unconsented=True)

    assert result.error is None, result.error
    assert result.verdicts["website"].verdict == "block"
    with Register(db) as reg:
        people = {reg.get_person(f.person_id).mis_id: f.index for f in result.faces if f.match == "matched"}
    assert set(people) == {"P003", "P004"}
    assert result.blurred["faces"] == [people["P004"]]
    copy = Path(result.safe_copy)
    assert copy.name == "drama-blurred.mp4"
    # checked again from its own pixels: Kit is still there and matched, Rose is found nowhere
    again = check(db, copy)
    with Register(db) as reg:
        found = [(f.match, f.person_id and reg.get_person(f.person_id).mis_id) for f in again.faces]
    assert found == [("matched", "P003")], found
    # by rule: no pupil without consent any more; what a blur cannot cure (the sound) still counts
    assert result.blurred["channels"]["website"]["verdict"] == "review"
    # Kit's face stays: a close-up of one pupil (a small group) still needs sign-off
    assert [r["code"] for r in result.blurred["reasons"]] == ["close_up", "small_group", "sound_not_checked",
                                                              "picture_text_not_checked"]
    with av.open(str(copy)) as back, av.open(str(clip)) as original:
        assert [s.type for s in back.streams] == ["video", "audio"]
        assert back.streams.video[0].frames == original.streams.video[0].frames


def test_a_webm_clip_is_checked_and_its_safe_copy_is_webm_without_tags(db, tmp_path):
    if "libvpx-vp9" not in av.codecs_available:
        pytest.skip("this PyAV build has no VP9 encoder")
    clip = tmp_path / "assembly.webm"
    make_clip(clip, [(blank(160, 90), 1.0)], codec="libvpx-vp9",
              metadata={"title": "Hillside Primary assembly", "artist": "Mrs Evans"})

    result = check(db, clip, safe_dir=tmp_path / "safe")

    assert result.error is None and result.format == "WebM", result.error
    assert {"owner", "comment"} <= set(result.metadata_found)
    with av.open(result.safe_copy) as copy:
        assert copy.format.name.startswith("matroska") and set(copy.metadata) <= {"encoder"}
    assert b"Hillside" not in Path(result.safe_copy).read_bytes() and b"Evans" not in Path(result.safe_copy).read_bytes()


def test_a_pupil_who_leaves_and_comes_back_is_one_person_on_screen_twice(db, tmp_path):
    obama = picture(fixture_dir("people", "test") / "obama1.jpg")
    clip = make_clip(tmp_path / "in_and_out.mp4", [(obama, 1.0), (blank(), 4.0), (obama, 1.0)])

    result = check(db, clip)

    assert [f.match for f in result.faces] == ["matched"], [(f.match, f.times) for f in result.faces]
    (first, second) = result.faces[0].times
    assert first[0] < 0.3 and 0.5 < first[1] < 1.0 and 5.0 <= second[0] < 5.3 and second[1] > 5.5
    assert result.pupil_count == 1


def test_the_html_report_shows_the_frames_behind_the_reasons_with_the_faces_boxed(db, tmp_path):
    import base64
    import io

    from PIL import Image

    from consent import reports

    with Register(db) as reg:
        reg.record_consent("P002", "website", "refused")
    biden = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "assembly.mp4", [(blank(), 2.0), (biden, 0.5), (blank(), 1.5)])
    result = check(db, clip)
    (face,) = result.faces
    assert result.video["faces_at"][0] == pytest.approx(face.times[0][0], abs=0.5)

    url = reports.thumbnail(result)

    strip = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert strip.height == reports.THUMB_SIDE
    # the frame with Biden on it, his box drawn in the "no consent" red
    k = reports.THUMB_SIDE / H
    top, right, bottom, left = (round(v * k) for v in face.box)
    r, g, b = strip.getpixel((left + 1, (top + bottom) // 2))
    assert r > 180 and g < 90 and b < 90, (r, g, b)


def test_a_consent_change_is_judged_on_the_cached_analysis_without_decoding_the_clip_again(db, tmp_path):
    biden = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "assembly.mp4", [(blank(), 1.0), (biden, 1.0)], audio=True)
    c = Checker(db, use_cache=True, kit_check=False, text_check=False)
    first = check(c, clip)
    assert not first.cached and first.verdicts["website"].verdict == "review"  # the sound, the kit
    with Register(db) as reg:
        reg.record_consent("P002", "website", "withdrawn")

    again = check(c, clip)

    assert again.cached and "decode" not in again.timings
    assert again.verdicts["website"].verdict == "block"
    assert [f.times for f in again.faces] == [f.times for f in first.faces]
    (reason,) = [r for r in again.reasons if r.code == "no_consent"]
    assert reason.message.startswith("0:01: ") and again.video["faces_at"] == first.video["faces_at"]
    # analysed without reading text: a check that reads text analyses it again, never "text checked"
    reading = check(Checker(db, use_cache=True, kit_check=False, text_check=True), clip)
    assert not reading.cached and "kit_not_checked" in [r.code for r in reading.reasons]


def test_an_iphone_hevc_clip_keeps_its_hvc1_tag_in_the_safe_copy_so_apple_devices_play_it(db, tmp_path):
    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV build has no HEVC encoder")
    clip = tmp_path / "IMG_0042.MOV"
    make_clip(clip, [(blank(320, 180), 1.0)], codec="libx265", codec_tag="hvc1",
              codec_options={"x265-params": "log-level=error"})

    result = check(db, clip, safe_dir=tmp_path / "safe")

    assert result.error is None, result.error
    with av.open(result.safe_copy) as copy:
        assert copy.streams.video[0].codec_context.name == "hevc"
        assert copy.streams.video[0].codec_tag == "hvc1"  # the muxer alone writes 'hev1'


def test_another_person_in_the_same_place_is_another_track_never_cleared_by_the_first_ones_consent():
    """One pupil stepping in where another stood (or a cut between two close-ups in the same
    place): linked by position alone, the second's sightings joined the first's track and, being
    fewer or worse, were judged by the first one's match."""
    from types import SimpleNamespace

    from consent.vision import faces
    from consent.video.tracks import Tracker

    train = fixture_dir("people", "train")
    consented, _ = faces.enrolment_encoding(train / "obama" / sorted(p.name for p in (train / "obama").iterdir())[0])
    other, _ = faces.enrolment_encoding(train / "biden" / sorted(p.name for p in (train / "biden").iterdir())[0])

    def face(encoding):
        return SimpleNamespace(box=(100, 300, 300, 100), height_px=200, sharpness=50.0, turn=0.0, identifiable=True,
                               recognisable=True, why_not=None, encoding=encoding)

    tracker = Tracker()
    for k in range(8):  # two seconds of the consented pupil
        tracker.add(k * 0.25, [face(consented)])
    later = [tracker.add(2.0 + k * 0.25, [face(other)])[0] for k in range(3)]  # then someone else, same box
    assert len(tracker.tracks) == 2 and set(later) == {1}
    assert all(s.encoding is other for s in tracker.tracks[1].sightings)
    tracker.add(2.75, [face(consented)])  # the first pupil back in the same place: their own track again
    assert len(tracker.tracks) == 2 and len(tracker.tracks[0].sightings) == 9


def test_a_track_is_encoded_every_other_sample_and_someone_else_in_its_place_for_two_samples_is_split_off():
    """Encoding every face on every sampled frame was a quarter of a clip's check: a track's
    first two sightings are encoded, then every other one, so another person standing where the
    first stood for two sampled frames in a row is encoded once at least, and split off."""
    from types import SimpleNamespace

    import numpy as np

    from consent.video.tracks import MIN_ENCODED, Tracker

    rng = np.random.default_rng(7)
    first, second = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)))

    def face(box=(100, 300, 300, 100), recognisable=True):
        return SimpleNamespace(box=box, height_px=200, sharpness=50.0, turn=0.0, identifiable=True,
                               recognisable=recognisable, why_not=None, encoding=None)

    def step(tracker, t, people):
        faces = [face(box) for box, _ in people]
        for f, want, (_, who) in zip(faces, tracker.to_encode(t, faces), people):
            if want:
                f.encoding = who
        return tracker.add(t, faces), [f.encoding is not None for f in faces]

    tracker = Tracker()
    encoded = [step(tracker, k * 0.25, [((100, 300, 300, 100), first)])[1][0] for k in range(8)]
    assert encoded[:MIN_ENCODED] == [True] * MIN_ENCODED and encoded == [True, True, False, True, False, True, False, True]
    assert len(tracker.tracks) == 1
    # a face somewhere else, and one not recognisable, are judged on their own
    faces = [face((100, 300, 300, 100)), face((400, 700, 600, 500)), face((400, 1000, 600, 800), recognisable=False)]
    assert tracker.to_encode(2.0, faces) == [False, True, False]
    # for every phase of the alternation, someone else in the same place for two samples is split off
    for skip in (0, 1):
        tracker = Tracker()
        for k in range(4 + skip):
            step(tracker, k * 0.25, [((100, 300, 300, 100), first)])
        t0 = (4 + skip) * 0.25
        tracks = [step(tracker, t0 + k * 0.25, [((100, 300, 300, 100), second)])[0][0] for k in range(2)]
        assert len(tracker.tracks) == 2 and tracks[-1] == 1, skip
        assert any(s.encoding is second for s in tracker.tracks[1].sightings)
        assert all(s.encoding is not second for s in tracker.tracks[0].sightings)


def test_the_coarse_pass_runs_on_every_other_sampled_frame_and_at_every_scene_cut(db, tmp_path, monkeypatch):
    """The detector's coarse pass (close-ups) runs on every other sampled frame and at cuts, so
    any two sampled frames in a row (half a second on screen) meet it; the fine pass runs on
    every sampled frame."""
    from consent.video.frames import probe, sample
    from consent.vision import faces

    real, calls = faces.detect, []

    def detect(picture, settings, **options):  # the real detector, its calls written down
        calls.append(options.get("coarse", True))
        return real(picture, settings, **options)

    monkeypatch.setattr(faces, "detect", detect)
    clip = make_clip(tmp_path / "hall.mp4", [(blank(1280, 720), 1.1), (255 - blank(1280, 720), 1.0)])
    result = check(db, clip)
    assert result.error is None, result.error
    shots = list(sample(probe(clip)))
    assert len(calls) == len(shots) == result.video["sampled_frames"] == 10
    assert [s.t for s, c in zip(shots, calls) if c] == [0.0, 0.52, 1.0, 1.12, 1.52, 2.0]  # 1.12: the cut
    assert all(a or b for a, b in zip(calls, calls[1:]))
    assert all(c for s, c in zip(shots, calls) if s.cut)


def test_frames_decoded_ahead_come_in_order_with_the_decoders_error_where_it_happened_and_stop_cleanly():
    import threading

    from consent.errors import UnreadableVideo
    from consent.video.frames import ahead

    closed = []

    def frames(n, fail=False):
        try:
            for i in range(n):
                yield i
            if fail:
                raise UnreadableVideo("clip.mp4: damaged at 3.0 s")
        finally:
            closed.append(threading.current_thread().name)

    assert list(ahead(frames(5))) == [0, 1, 2, 3, 4]
    seen = []
    with pytest.raises(UnreadableVideo, match="damaged at 3.0 s"):
        for i in ahead(frames(3, fail=True)):
            seen.append(i)
    assert seen == [0, 1, 2]
    early = ahead(frames(1000))
    assert next(early) == 0
    early.close()  # the caller stops (an error of its own): the decoding thread stops and closes the clip
    assert len(closed) == 3 and not any(t.name == "clip-decoder" for t in threading.enumerate())


def test_box_ious_are_the_detectors_own_box_iou():
    import numpy as np

    from consent.video.tracks import box_ious
    from consent.vision.faces import box_iou

    rng = np.random.default_rng(3)
    tops, lefts = rng.integers(0, 500, size=(2, 40))
    sizes = rng.integers(0, 200, size=(2, 40))
    boxes = [(int(t), int(l + w), int(t + h), int(l)) for t, l, h, w in zip(tops, lefts, *sizes)]
    got = box_ious(boxes[:25], boxes[25:] + [(5, 5, 5, 5)])
    want = [[box_iou(a, b) for b in boxes[25:] + [(5, 5, 5, 5)]] for a in boxes[:25]]
    assert np.array_equal(got, np.array(want))


def test_the_summary_line_counts_clips_as_videos(db, tmp_path):
    from consent.results import counts_words

    assert counts_words({"ok": 2, "review": 1}) == "3 photos: ok 2, needs sign-off 1, do not publish 0, could not check 0"
    assert counts_words({"ok": 2, "review": 1}, videos=1).startswith("2 photos and 1 video: ")
    assert counts_words({"block": 2}, videos=2).startswith("2 videos: ")
    clip = make_clip(tmp_path / "assembly.mp4", [(blank(), 1.0)])
    out = CliRunner().invoke(main, ["check", str(clip), "--db", str(db), "--no-text"])
    assert out.output.splitlines()[-1].startswith("1 video: "), out.output


def test_a_frames_faces_are_obscured_in_place_as_a_photos_are_and_nothing_else_changes():
    """The video copy's OpenCV obscuring covers the same grown regions as the photos' Pillow
    one, leaves every other pixel as it was, and leaves no detail inside (cells, blurred)."""
    from PIL import Image

    from consent.settings import DEFAULTS
    from consent.vision.blur import obscure, obscure_pixels, regions

    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, size=(360, 640, 3), dtype=np.uint8)
    boxes = [(100, 300, 200, 220), (0, 60, 40, 0), (300, 640, 360, 600)]  # one inside, two at edges
    photo = np.asarray(obscure(Image.fromarray(frame), boxes, DEFAULTS))
    video = obscure_pixels(frame.copy(), boxes, DEFAULTS)
    changed_photo, changed_video = np.any(photo != frame, axis=2), np.any(video != frame, axis=2)
    mask = np.zeros(frame.shape[:2], bool)
    for left, top, right, bottom in regions(boxes, 640, 360, DEFAULTS):
        mask[top:bottom, left:right] = True
        inside = video[top:bottom, left:right].astype(float)
        assert inside.std() < frame[top:bottom, left:right].std() / 4  # the noise is gone
    assert not changed_video[~mask].any() and not changed_photo[~mask].any()
    assert changed_video[mask].mean() > 0.9 and changed_photo[mask].mean() > 0.9


def test_a_clips_safe_copy_is_checked_from_the_clips_analysis_with_its_own_metadata(db, tmp_path, monkeypatch):
    """The safe copy is the same frames remuxed: checking it (the check page's blurred copy is
    made from it) takes the clip's analysis from the cache, not a second look at every frame;
    its metadata is its own (none)."""
    from consent.vision import faces

    with Register(db) as reg:
        reg.record_consent("P002", "website", "refused")
    biden = picture(fixture_dir("people", "train", "biden") / "biden.jpg")
    clip = make_clip(tmp_path / "assembly.mp4", [(blank(), 1.0), (biden, 1.0)], audio=True, metadata=PHONE_TAGS)
    caching = Checker(db, use_cache=True, kit_check=False, text_check=False)
    first = check_video(caching, clip, "website", safe_dir=tmp_path / "safe")
    assert first.error is None and not first.cached and "gps" in first.metadata_found

    looked = []
    real = faces.detect
    monkeypatch.setattr(faces, "detect", lambda *a, **k: looked.append(1) or real(*a, **k))
    again = check_video(caching, first.safe_copy, "website")

    assert again.error is None and again.cached and not looked
    assert again.metadata_found == [] and again.verdicts["website"].verdict == "block"
    assert [(f.match, f.person_id, f.times) for f in again.faces] == [(f.match, f.person_id, f.times) for f in first.faces]
    assert "location_metadata" in [r.code for r in first.reasons]
    assert [r.code for r in again.reasons] == [r.code for r in first.reasons if r.code != "location_metadata"]
