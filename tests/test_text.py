"""Names written in the picture: names drawn with Pillow onto real fixture photos (several fonts,
sizes, angles, paper-like and shirt-like backgrounds), read by the real text models and checked
against a real register."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from consent.check import Checker
from consent.errors import ModelUnavailable
from consent.register import Register
from consent.settings import DEFAULTS
from consent.vision import text

from .conftest import copy_register, fixture_dir
from .drawn_text import draw, missing_fonts

if missing_fonts():
    pytest.skip(f"fonts missing: {', '.join(missing_fonts())}; run 'make install'", allow_module_level=True)

PUBLICATION = ("website", "social_media", "newsletter", "press")
NEUTRAL = "IMG_0001.jpg"


@pytest.fixture(scope="module")
def roll(tmp_path_factory):
    """A register: Harry Patel (enrolled from the people/train/obama photos, every consent
    granted), and pupils on roll without templates: Oliver Nowak, Will Green, Summer Hughes;
    a staff member, Mrs Ruth Evans."""
    from consent.images import file_hash
    from consent.vision import faces

    train = fixture_dir("people", "train")
    db = tmp_path_factory.mktemp("register") / "consent.db"
    with Register(db, user="test") as reg:
        harry = reg.add_person("T001", "Harry", "Patel", year_group="6", form="6A")
        reg.record_consent(harry, "biometric", "granted")
        for channel in PUBLICATION:
            reg.record_consent(harry, channel, "granted")
        for photo in sorted((train / "obama").iterdir()):
            encoding, quality = faces.enrolment_encoding(photo)
            reg.add_template(harry, encoding, file_hash(photo), quality)
        for mis, first, last in (("T002", "Oliver", "Nowak"), ("T003", "Will", "Green"),
                                 ("T004", "Summer", "Hughes")):
            reg.add_person(mis, first, last, year_group="6", form="6A")
        reg.add_person("S001", "Ruth", "Evans", role="staff")
    return db


@pytest.fixture
def db(roll, tmp_path):
    """A private copy of the register, so tests can change it."""
    return copy_register(roll, tmp_path)


@pytest.fixture
def harry_photo():
    return fixture_dir("people", "test") / "obama1.jpg"


def name_reasons(result):
    return [r for r in result.reasons if r.code == "name_in_picture"]


def check_drawn(db, src, tmp_path, words, **how):
    """Check (website) a copy of ``src`` with ``words`` drawn on it (tests.drawn_text.draw)."""
    photo = tmp_path / "photo.jpg"
    draw(src, photo, words, **how)
    return Checker(db, kit_check=False).check(photo, "website", display_name=NEUTRAL)


@pytest.mark.parametrize("card, font, size, angle, where", [
    ("badge", "sans-bold", 0.025, 0, (0.03, 0.04)),
    ("exercise book", "serif", 0.02, -8, (0.05, 0.9)),
    ("shirt", "sans", 0.03, 12, (0.95, 0.9)),
    ("whiteboard", "serif-italic", 0.022, 5, (0.97, 0.05)),
])
def test_a_pictured_pupils_name_readable_in_the_photo_blocks_every_channel(
        db, harry_photo, tmp_path, card, font, size, angle, where):
    photo = tmp_path / "photo.jpg"
    drawn = draw(harry_photo, photo, "Harry Patel", card=card, font=font, size=size, angle=angle, where=where)
    result = Checker(db, kit_check=False).check(photo, "all", display_name=NEUTRAL)
    assert any(f.person_name == "Harry Patel" for f in result.faces)
    (reason,) = [r for r in name_reasons(result) if r.severity == "block"]
    assert reason.channels == [] and all(v.verdict == "block" for v in result.verdicts.values())
    # where: in words and as a box over the drawn card; whose: only for roles that see names
    top, right, bottom, left = reason.regions[0]
    assert left < drawn[1] and right > drawn[3] and top < drawn[2] and bottom > drawn[0]
    row = "top" if where[1] < 0.5 else "bottom"
    col = "left" if where[0] < 0.5 else "right"
    assert f"({row} {col})" in reason.message
    assert "Harry" not in reason.message and "Patel" not in reason.message
    assert reason.name_detail.endswith("names face 1, Harry Patel")
    hidden = result.to_json(names=False)["reasons"]
    assert not any("name_detail" in r for r in hidden)
    assert not any("Patel" in str(r) for r in hidden)
    assert [r["regions"] for r in hidden if r["code"] == "name_in_picture"] == [[
        {"top": top, "right": right, "bottom": bottom, "left": left}]]


def test_a_first_name_alone_of_the_pictured_pupil_blocks(db, harry_photo, tmp_path):
    result = check_drawn(db, harry_photo, tmp_path, "Well done Harry!", card="whiteboard", font="sans", size=0.03)
    assert [r.severity for r in name_reasons(result)] == ["block"]


def test_another_pupils_full_name_needs_review_not_a_block(db, harry_photo, tmp_path):
    result = check_drawn(db, harry_photo, tmp_path, "Oliver Nowak", card="exercise book", font="serif",
                         size=0.025, angle=-5, where=(0.04, 0.92))
    (reason,) = name_reasons(result)
    assert reason.severity == "review" and "full name of 1 pupil on roll" in reason.message
    assert "(bottom left)" in reason.message and "Oliver" not in reason.message
    assert reason.name_detail == "'Oliver Nowak' (bottom left) names Oliver Nowak, on roll"
    assert result.verdicts["website"].verdict != "ok"


def test_a_name_on_two_lines_of_a_badge_is_one_full_name(db, harry_photo, tmp_path):
    result = check_drawn(db, harry_photo, tmp_path, "Oliver\nNowak", card="badge", font="sans-bold", size=0.03)
    assert [r.severity for r in name_reasons(result)] == ["review"]


def test_ordinary_words_and_staff_names_do_not_flag(db, harry_photo, tmp_path):
    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Will you join us this Summer?", card="whiteboard", font="sans", size=0.025)
    draw(photo, photo, "Mrs Ruth Evans", card="badge", font="serif", size=0.025, where=(0.95, 0.95))
    checker = Checker(db, kit_check=False)
    lines = " ".join(line.text for line in checker.analyse(photo).text.lines)
    assert "Summer" in lines and "Evans" in lines  # the words were read ...
    result = checker.check(photo, "website", display_name=NEUTRAL)
    assert name_reasons(result) == []  # ... and are not a pupil's name


def test_a_photo_without_text_adds_no_reason(db, harry_photo):
    result = Checker(db, kit_check=False).check(harry_photo, "website", display_name=NEUTRAL)
    assert result.timings.get("text", 0) > 0  # the text check ran
    assert not [r for r in result.reasons if r.code.startswith(("name_in_picture", "text_"))]


def test_the_blurred_copy_hides_the_name_and_is_checked_again(db, harry_photo, tmp_path):
    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Harry Patel", card="badge", size=0.025)
    result = Checker(db, kit_check=False).check(photo, "website", safe_dir=tmp_path / "safe",
                                               blur_unconsented=True, display_name=NEUTRAL)
    assert result.verdict == "block"
    recheck = result.blurred_recheck
    assert recheck is not None and Path(result.safe_copy).is_file()
    assert not [r for r in recheck["reasons"] if r["code"] == "name_in_picture"]
    assert recheck["timings"].get("text", 0) > 0  # read again, not taken from a cache
    assert "1 name(s) in the picture blurred" in result.notes[-1]


def test_a_crop_that_removes_the_name_and_keeps_every_face_is_suggested(db, harry_photo, tmp_path):
    result = check_drawn(db, harry_photo, tmp_path, "Harry Patel", card="badge", size=0.02, where=(0.02, 0.02))
    (reason,) = name_reasons(result)
    assert reason.suggestion.startswith("cropping off the ")
    assert "keeps every face" in reason.suggestion


def test_a_register_change_is_judged_without_reading_the_picture_again(db, harry_photo, tmp_path):
    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Amelia Clarke", card="exercise book", font="serif", size=0.025)
    checker = Checker(db, kit_check=False)
    assert name_reasons(checker.check(photo, "website", display_name=NEUTRAL)) == []
    with Register(db) as reg:
        reg.add_person("T005", "Amelia", "Clarke", year_group="5", form="5B")
    again = checker.check(photo, "website", display_name=NEUTRAL)
    assert again.timings.get("cached") == 1.0 and "text" not in again.timings
    assert [r.severity for r in name_reasons(again)] == ["review"]


def test_a_batch_without_the_text_check_says_so_and_a_later_check_reads_the_text(db, harry_photo, tmp_path):
    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Harry Patel", card="badge", size=0.025)
    off = Checker(db, kit_check=False, text_check=False).check(photo, "website", display_name=NEUTRAL)
    assert "names written in the picture were not looked for (the text check was off)" in off.notes
    assert name_reasons(off) == [] and "text" not in off.timings
    on = Checker(db, kit_check=False).check(photo, "website", display_name=NEUTRAL)
    assert on.timings.get("cached") == 1.0 and on.timings.get("text", 0) > 0  # faces from the cache
    assert [r.severity for r in name_reasons(on)] == ["block"]


# --- a missing or broken model fails closed ---------------------------------------------------


@pytest.fixture
def no_people_photo():
    """A photo with no people and no text: ok for every channel when its text is read."""
    return fixture_dir("faces-wild") / "tfp_cat.jpg"


@pytest.fixture
def fresh_engine():
    text._engine.forget()
    yield
    text._engine.forget()


def test_the_photo_without_people_is_ok_when_the_text_was_read(no_people_photo):
    result = Checker(None, use_register=False, use_cache=False, kit_check=False).check(no_people_photo, "website")
    assert result.verdict == "ok", result.summary()


def test_a_missing_text_model_is_one_clear_error_and_the_photo_needs_review(
        no_people_photo, monkeypatch, fresh_engine):
    monkeypatch.setitem(text.MODEL_FILES, "det", ("models/missing_det.onnx", "text detection"))
    with pytest.raises(ModelUnavailable, match=r"text detection model file .*missing_det\.onnx is missing"):
        text.load()
    result = Checker(None, use_register=False, use_cache=False, kit_check=False).check(no_people_photo, "website")
    (reason,) = [r for r in result.reasons if r.code == "text_unreadable"]
    assert reason.severity == "review" and "could not be read" in reason.message
    assert "missing_det.onnx" in reason.message and "make install" in reason.message
    assert result.verdict == "review" and result.error is None


def test_a_broken_text_model_is_one_clear_error_and_the_photo_needs_review(
        no_people_photo, tmp_path, monkeypatch, fresh_engine):
    package = tmp_path / "broken_ocr_models" / "models"
    package.mkdir(parents=True)
    for rel, _ in text.MODEL_FILES.values():
        (package.parent / rel).write_bytes(b"this is not an ONNX model")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(text, "MODEL_PACKAGE", "broken_ocr_models")
    with pytest.raises(ModelUnavailable) as err:
        text.read(np.zeros((64, 64, 3), np.uint8), settings=DEFAULTS)
    assert "could not be loaded" in str(err.value) and "broken_ocr_models" in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    result = Checker(None, use_register=False, use_cache=False, kit_check=False).check(no_people_photo, "website")
    assert [r.code for r in result.reasons if r.severity != "info"] == ["text_unreadable"]
    assert result.verdict == "review"


# --- the rule over text lines as the reader returns them (no models) ---------------------------


def lines_ctx(*lines, pictured=(), faces=()):
    from consent.rules import PersonNames, RuleContext

    roll = [PersonNames(1, "Zoë", "O'Brien"), PersonNames(2, "Siân", "Hughes"), PersonNames(3, "Jack", "Smith")]
    return RuleContext(
        faces=list(faces), channels=["website"], width=3000, height=2000,
        pictured={p.person_id: p for p in roll if p.person_id in pictured}, pupils_on_roll=roll,
        text=text.TextReading([text.TextLine(t, 0.95, box) for t, box in lines]),
    )


def rule_reasons(context):
    from consent.rules.picture_text import name_in_picture

    return list(name_in_picture(context))


def test_names_read_without_accents_or_with_curly_apostrophes_still_match():
    (reason,) = rule_reasons(lines_ctx(("SIAN HUGHES", (100, 900, 160, 500)), ("Zoe O’Brien", (1800, 2900, 1880, 2400))))
    assert reason.severity == "review" and "2 pupils on roll (top left, bottom right)" in reason.message
    assert reason.regions == [(100, 900, 160, 500), (1800, 2900, 1880, 2400)]


def test_a_name_line_with_another_line_below_is_reported_once_with_its_own_box():
    from consent.results import Face

    harry = Face(index=0, box=(900, 1700, 1300, 1300), height_px=400, identifiable=True, match="matched",
                 person_id=3)
    (reason,) = rule_reasons(lines_ctx(("Jack Smith", (100, 900, 160, 500)), ("Year 6", (170, 800, 230, 500)),
                                       pictured=(3,), faces=[harry]))
    assert reason.severity == "block" and reason.regions == [(100, 900, 160, 500)]
    assert reason.name_detail == "'Jack Smith' (top left) names face 1, Jack Smith"
    assert reason.suggestion == "cropping off the top 8% of the photo removes the name and keeps every face"


def test_a_word_that_only_contains_a_name_is_not_a_name():
    assert rule_reasons(lines_ctx(("Jacksmith Hughesville", (100, 900, 160, 500)), pictured=(3,))) == []


# --- the simplified model graphs (consent.vision.graph) -----------------------------------------


def test_the_simplified_text_models_read_the_same_as_the_packaged_files(harry_photo, tmp_path, monkeypatch):
    """The engine runs the detector, orientation and recogniser graphs simplified at load time.
    On a real photo with a drawn name, each gives the packaged file's outputs within 1e-4, and
    the whole reading is the same."""
    import onnxruntime as ort

    from consent import images
    from consent.vision import graph
    from consent.vision.faces import analysis_side
    from consent.vision.models import onnx_proto

    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Harry Patel", card="badge", font="sans-bold", size=0.03, where=(0.05, 0.05))
    picture = images.load(photo, max_side=analysis_side())
    engine = text._engine()
    simplified = {"det": engine.text_det.infer.session, "cls": engine.text_cls.infer.session,
                  "rec": engine.text_rec.session.session}
    packaged = {key: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for key, path in text.model_paths().items()}
    pixels = (picture.array()[:, :, ::-1].astype(np.float32) / 255 - 0.5) / 0.5
    h, w = (min(side, most) // 32 * 32 for side, most in zip(pixels.shape[:2], (640, 960)))
    inputs = {"det": pixels[None, :h, :w].transpose(0, 3, 1, 2),
              "cls": pixels[None, 100:148, 100:292].transpose(0, 3, 1, 2),
              "rec": np.concatenate([pixels[None, y:y + 48, 50:370] for y in (0, 60, 200)]).transpose(0, 3, 1, 2)}
    for key, x in inputs.items():
        x = np.ascontiguousarray(x)
        name = packaged[key].get_inputs()[0].name
        (want,), (got,) = packaged[key].run(None, {name: x}), simplified[key].run(None, {name: x})
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4, key
    # the rewrites did apply to the packaged detector and recogniser
    for key in ("det", "rec"):
        model = onnx_proto().ModelProto()
        model.ParseFromString(text.model_paths()[key].read_bytes())
        assert all(graph.simplify(model).values()), key

    read_simplified = text.read(picture.array(), picture.scale)
    monkeypatch.setattr(engine.text_det.infer, "session", packaged["det"])
    monkeypatch.setattr(engine.text_cls.infer, "session", packaged["cls"])
    monkeypatch.setattr(engine.text_rec.session, "session", packaged["rec"])
    read_packaged = text.read(picture.array(), picture.scale)
    assert "Harry Patel" in [line.text for line in read_packaged.lines]
    assert [(l.text, l.box) for l in read_simplified.lines] == [(l.text, l.box) for l in read_packaged.lines]
    for a, b in zip(read_simplified.lines, read_packaged.lines):
        assert abs(a.confidence - b.confidence) < 1e-3


def test_a_graph_the_rewrites_fail_on_runs_as_shipped(harry_photo, tmp_path, monkeypatch, caplog, fresh_engine):
    from consent import images
    from consent.vision import graph

    def fails(model):
        raise ValueError("an unexpected graph")

    monkeypatch.setattr(graph, "simplify", fails)
    photo = tmp_path / "photo.jpg"
    draw(harry_photo, photo, "Harry Patel", card="badge", font="sans-bold", size=0.03, where=(0.05, 0.05))
    picture = images.load(photo)
    with caplog.at_level("WARNING", logger="consent.vision.text"):
        reading = text.read(picture.array(), picture.scale)
    assert "Harry Patel" in [line.text for line in reading.lines]
    assert sum("runs as shipped" in r.getMessage() and "an unexpected graph" in r.getMessage()
               for r in caplog.records) == 3


def test_the_detector_input_is_rapidocrs_own_to_float_rounding(harry_photo, tmp_path):
    """The engine makes the detector's input in one OpenCV call; rapidocr's own preprocessing
    (float64 numpy) gives the same array within float32 rounding, for a picture whose sides are
    not multiples of 32 and one whose are."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    from consent import images

    engine = text._engine()
    picture = images.load(harry_photo).array()[:, :, ::-1]
    for bgr in (np.ascontiguousarray(picture[:301, :517]), np.ascontiguousarray(picture[:320, :480])):
        fast = engine.text_det.get_preprocess(max(bgr.shape[:2]))(bgr)
        own = DetPreProcess(1 << 20, "max", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])(bgr)
        assert fast.dtype == own.dtype == np.float32 and fast.shape == own.shape
        assert fast.shape[2] % 32 == 0 and fast.shape[3] % 32 == 0
        assert np.abs(fast - own).max() < 1e-6


def test_channels_with_different_spreads_keep_rapidocrs_own_detector_input():
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    class Detector:
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

        def get_preprocess(self, max_wh):
            return DetPreProcess(1 << 20, "max", self.mean, self.std)

    detector = Detector()
    text._fast_detector_input(detector)
    assert isinstance(detector.get_preprocess(640), DetPreProcess)


def test_the_engine_builds_each_model_session_once_and_a_rapidocr_that_wants_others_is_one_clear_error(
        monkeypatch, fresh_engine):
    """rapidocr is handed the simplified sessions as it builds its engine, so it loads no model
    file itself; a rapidocr that asked for a file the reader did not prepare would be one clear
    error, and the patch is undone either way."""
    import onnxruntime
    from rapidocr_onnxruntime.utils import infer_engine

    loads = []
    real = onnxruntime.InferenceSession

    def counted(*args, **kwargs):
        loads.append(args[0] if args else kwargs.get("path_or_bytes"))
        return real(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counted)
    monkeypatch.setattr(infer_engine, "InferenceSession", counted)
    engine = text._engine()
    assert len(loads) == 3 and all(isinstance(model, bytes) for model in loads)
    assert engine.text_det.infer.session is not engine.text_rec.session.session
    assert infer_engine.InferenceSession is counted

    text._engine.forget()
    given = text._sessions_given  # as if rapidocr asked for files other than those prepared
    monkeypatch.setattr(text, "_sessions_given", lambda module, sessions: given(module, {}))
    with pytest.raises(ModelUnavailable, match="the text reader cannot be loaded .*run 'make install' again"):
        text._engine()
    assert infer_engine.InferenceSession is counted
