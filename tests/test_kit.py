"""The PE kit / sportswear / swimwear detector (consent.vision.kit), its profile, CLI and eval targets.

Synthetic pictures are drawn people: a face disc in a skin tone, a torso in kit colours, arms
and legs, on a plain wall. Their face boxes are given to the detector as the pipeline would.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from consent.vision import kit
from consent.cli import main
from consent.errors import KitProfileError
from consent.settings import DEFAULTS

from .conftest import fixture_dir

LIGHT_SKIN = (236, 200, 178)
DARK_SKIN = (92, 60, 44)
WALL = (205, 205, 200)
PE_TOP, PE_SHORTS = (200, 30, 40), (25, 25, 30)
UNIFORM_JUMPER, UNIFORM_TROUSERS = (30, 45, 110), (115, 115, 120)
BLACK_TROUSERS = (30, 30, 32)


def draw_person(
    skin=LIGHT_SKIN, top=PE_TOP, bottom=PE_SHORTS, bare_arms=True, bare_legs=True,
    bare_torso=False, x=200, size=(400, 520), wall=WALL, noise=4, seed=0,
):
    """A picture of one standing person facing the camera, and its face box.

    Returns ``(array, (top, right, bottom, left))``: the face is 40 px, centred on ``x``.
    """
    img = Image.new("RGB", size, wall)
    d = ImageDraw.Draw(img)
    face = (60, x + 20, 100, x - 20)
    f_top, f_right, f_bottom, f_left = face
    torso = skin if bare_torso else top
    d.rectangle((x - 8, f_bottom - 4, x + 8, f_bottom + 12), fill=skin)  # neck
    d.rectangle((x - 40, f_bottom + 10, x + 40, f_bottom + 130), fill=torso)  # torso
    for side in (-1, 1):  # arms: a short sleeve, then forearm and hand
        x0, x1 = sorted((x + side * 40, x + side * 62))
        d.rectangle((x0, f_bottom + 12, x1, f_bottom + 50), fill=torso)
        d.rectangle((x0, f_bottom + 50, x1, f_bottom + 140), fill=skin if bare_arms else torso)
        d.rectangle((x0, f_bottom + 140, x1, f_bottom + 158), fill=skin)  # hand
    d.rectangle((x - 40, f_bottom + 130, x + 40, f_bottom + 180), fill=bottom)  # shorts / top of trousers
    for lx in (x - 34, x + 6):  # legs
        d.rectangle((lx, f_bottom + 180, lx + 28, f_bottom + 320), fill=skin if bare_legs else bottom)
    d.ellipse((f_left - 2, f_top - 12, f_right + 2, f_bottom + 4), fill=skin)  # face
    arr = np.asarray(img).astype(np.int16)
    rng = np.random.default_rng(seed)
    arr = np.clip(arr + rng.integers(-noise, noise + 1, arr.shape), 0, 255).astype(np.uint8)
    return arr, face


def save(tmp_path, name, arr):
    path = tmp_path / name
    Image.fromarray(arr).save(path)
    return path


def learn_synthetic(tmp_path, kind, top, bottom, bare_legs, n=3):
    paths, boxes = [], {}
    for i in range(n):
        arr, face = draw_person(top=top, bottom=bottom, bare_legs=bare_legs, x=170 + 30 * i, seed=i)
        path = save(tmp_path, f"{kind}{i}.png", arr)
        paths.append(path)
        boxes[path.name] = face
    detect = lambda photo: [boxes[photo.path.name]]  # the boxes drawn: face detection is not under test
    return paths, detect


@pytest.fixture
def profile(tmp_path):
    pe_paths, pe_detect = learn_synthetic(tmp_path, "pe", PE_TOP, PE_SHORTS, bare_legs=True)
    uni_paths, uni_detect = learn_synthetic(tmp_path, "uniform", UNIFORM_JUMPER, UNIFORM_TROUSERS, bare_legs=False)
    learned = kit.learn(pe_paths, "pe", detect=pe_detect)
    return kit.learn(uni_paths, "uniform", detect=uni_detect, profile=learned)


# --- the school kit profile ----------------------------------------------------------------


def test_person_in_learned_pe_kit_is_flagged(profile):
    arr, face = draw_person(top=PE_TOP, bottom=PE_SHORTS, x=230, seed=7)
    result = kit.assess(arr, [face], profile=profile)
    assert result.pe_kit
    assert "colours match the school PE kit" in result.signals
    assert result.people[0].pe_similarity > result.people[0].uniform_similarity


def test_person_in_learned_uniform_is_not_flagged(profile):
    arr, face = draw_person(top=UNIFORM_JUMPER, bottom=UNIFORM_TROUSERS, bare_arms=False, bare_legs=False,
                            x=230, seed=8)
    result = kit.assess(arr, [face], profile=profile)
    assert not result.pe_kit and not result.exposure
    assert result.people[0].uniform_similarity > result.people[0].pe_similarity
    assert result.message == ""


def test_pe_kit_person_is_not_flagged_without_a_profile():
    # the same picture as above with no profile: bare legs alone are not enough (summer clothes)
    arr, face = draw_person(top=PE_TOP, bottom=PE_SHORTS, x=230, seed=7)
    result = kit.assess(arr, [face])
    assert not result.pe_kit
    assert result.people[0].bare_legs


def test_profile_round_trips_through_the_data_folder(profile, tmp_path, monkeypatch):
    monkeypatch.setenv("CONSENT_DATA", str(tmp_path / "data"))
    assert kit.load_profile() is None
    path = kit.save_profile(profile)
    assert path == tmp_path / "data" / "kit_profile.json"
    again = kit.load_profile()
    assert again.signatures == profile.signatures and again.examples == {"pe": 3, "uniform": 3}
    assert not list(path.parent.glob(".kit_profile.*"))  # no temporary file left behind


def test_forgetting_one_kind_keeps_the_other(profile, tmp_path):
    path = tmp_path / "kit_profile.json"
    kit.save_profile(profile, path)
    assert kit.forget_profile("uniform", path)
    left = kit.load_profile(path)
    assert left.has("pe") and not left.has("uniform")
    assert kit.forget_profile(None, path) and kit.load_profile(path) is None
    assert not kit.forget_profile(None, path)


def test_damaged_profile_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "kit_profile.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(KitProfileError, match="kit_profile.json.*consent kit forget"):
        kit.load_profile(path)
    path.write_text(json.dumps({"version": 1, "signatures": {"pe": {"torso": [1.0, 2.0]}}}), encoding="utf-8")
    with pytest.raises(KitProfileError, match="damaged"):
        kit.load_profile(path)


def test_learning_skips_unreadable_photos_and_refuses_when_none_is_usable(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a photo")
    skipped = []
    with pytest.raises(KitProfileError, match="no usable pe kit photos"):
        kit.learn([bad], "pe", detect=lambda p: [], on_skip=lambda path, msg: skipped.append(path))
    assert skipped == [bad]
    with pytest.raises(KitProfileError, match="unknown kit kind"):
        kit.learn([bad], "swimwear")


def test_photo_of_the_kit_laid_out_is_learned_from_its_middle(tmp_path):
    img = Image.new("RGB", (300, 300), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((40, 40, 260, 260), fill=PE_TOP)
    path = save(tmp_path, "kit.png", np.asarray(img))
    profile = kit.learn([path], "pe", detect=lambda p: [])
    assert kit.colour_names(profile.signatures["pe"]["torso"])[0].startswith("red")


# --- context words -------------------------------------------------------------------------


@pytest.mark.parametrize("text, found", [
    ("Sports Day PE", ["pe", "sports day"]),
    ("2024/year5_PE_lesson.jpg", ["pe"]),
    ("swimming-gala", ["swimming", "gala"]),
    ("sports_day_001.jpg", ["sports day"]),
    ("Peter and the pepper plant", []),
    ("Reading corner with Penelope", []),
    ("", []),
])
def test_context_words_match_whole_words_only(text, found):
    assert kit.context_words_found(text, DEFAULTS.kit_context_words) == found


def test_caption_word_alone_never_flags_a_photo_of_people():
    # a pupil in uniform on a plain wall: the words raise the sensitivity, they are not evidence
    arr, face = draw_person(top=UNIFORM_JUMPER, bottom=UNIFORM_TROUSERS, bare_arms=False, bare_legs=False)
    for caption in ("Class 4 reading corner", "Sports Day 2024", "PE lesson"):
        result = kit.assess(arr, [face], context=caption)
        assert not result.pe_kit and not result.exposure, (caption, result.signals)


def scene(sport=0.0, swimwear=0.0, undress=0.0, person=0.0, sport_classes=(), swimwear_classes=()):
    """Scene-model scores as :func:`consent.vision.scene.scene_scores` gives them."""
    return {"sport": sport, "swimwear": swimwear, "undress": undress, "person": person,
            "sport_classes": list(sport_classes), "swimwear_classes": list(swimwear_classes)}


def test_words_lower_the_scene_threshold_but_only_with_a_person():
    weak = scene(sport=0.15, sport_classes=[("football", 0.09), ("rugby ball", 0.04)])
    with_face = kit.KitMeasures(scene=weak, people=1)
    assert not kit.decide(with_face, "IMG_0042.jpg").pe_kit
    flagged = kit.decide(with_face, "PE lesson/IMG_0042.jpg")
    assert flagged.pe_kit
    assert flagged.message == "sports scene: football and rugby ball; the caption or file name mentions pe"
    # the same scene with no face and nothing person-like: never flagged, whatever the words
    nobody = kit.KitMeasures(scene=weak, people=0)
    assert not kit.decide(nobody, "PE lesson").pe_kit
    # no face, but the scene model sees clothes or people: a person
    dressed = kit.KitMeasures(scene={**weak, "person": DEFAULTS.kit_person_threshold}, people=0)
    assert kit.decide(dressed, "PE lesson").pe_kit


def test_swimwear_seen_by_the_scene_model_is_exposure():
    swim = kit.KitMeasures(scene=scene(swimwear=0.6, person=0.6, swimwear_classes=[("swimsuit", 0.5)]), people=1)
    result = kit.decide(swim, "IMG_0001.jpg")
    assert result.exposure and result.message.startswith("swimwear (swimsuit)")
    assert result.suggestion == "a shoulders-up crop would avoid this"


def test_bare_torso_in_a_sports_scene_is_named_in_the_sign_off_message():
    sport = scene(sport=0.9, person=0.2, sport_classes=[("football", 0.8)])
    result = kit.decide(kit.KitMeasures(scene=sport, people=1, measured=1, bare_torso=1), "IMG_0001.jpg")
    assert result.pe_kit and not result.exposure
    assert result.message == "sports scene: football; bare torso on 1 of 1 pupil"


def test_a_scene_that_could_not_be_seen_is_unknown_not_no_kit():
    result = kit.decide(kit.KitMeasures(scene=None, error="the scene model file x is missing"), "")
    assert result.unknown and not result.pe_kit and "x is missing" in result.message


# --- skin, measured against each person's own face -------------------------------------------


@pytest.mark.parametrize("skin", [LIGHT_SKIN, DARK_SKIN], ids=["light", "dark"])
def test_bare_arms_and_legs_are_found_for_every_skin_tone(skin):
    arr, face = draw_person(skin=skin)
    person = kit.assess(arr, [face]).people[0]
    assert person.bare_arms and person.bare_legs and not person.bare_torso


@pytest.mark.parametrize("skin", [LIGHT_SKIN, DARK_SKIN], ids=["light", "dark"])
@pytest.mark.parametrize("trousers", [UNIFORM_TROUSERS, BLACK_TROUSERS], ids=["grey", "black"])
def test_covered_arms_and_legs_are_not_bare_for_any_skin_tone(skin, trousers):
    arr, face = draw_person(skin=skin, top=UNIFORM_JUMPER, bottom=trousers, bare_arms=False, bare_legs=False)
    person = kit.assess(arr, [face]).people[0]
    assert not person.bare_arms and not person.bare_legs
    assert person.leg_skin < DEFAULTS.kit_bare_limb_share


def test_skin_of_one_tone_is_not_skin_for_a_face_of_another():
    # brown trousers match dark skin in colour, not a light-skinned pupil's own face
    arr, face = draw_person(skin=LIGHT_SKIN, bottom=DARK_SKIN, bare_legs=False)
    assert not kit.assess(arr, [face]).people[0].bare_legs


def test_bare_torso_alone_is_not_exposure_but_with_a_swimming_word_it_is():
    # measured on photos it was not tuned on, a "bare torso" alone was a neckline or a vest
    # more often than not; with swimming words (or a swimming or bath scene) it is exposure
    arr, face = draw_person(bare_torso=True, bottom=PE_SHORTS)
    assert kit.assess(arr, [face]).people[0].bare_torso
    assert not kit.assess(arr, [face], context="Year 5 art").exposure
    result = kit.assess(arr, [face], context="Swimming gala heats")
    assert result.exposure
    assert result.signals[0] == "bare torso on 1 of 1 pupil, with a swimming word (swimming and gala)"
    assert result.suggestion == "a shoulders-up crop would avoid this"


def test_swimwear_like_picture_is_blocked_for_senior_signoff():
    from consent.rules.kit import pe_kit

    arr, face = draw_person(bare_torso=True, bottom=PE_SHORTS)
    result = kit.assess(arr, [face], context="Swimming gala heats")
    (reason,) = pe_kit(SimpleNamespace(kit=result))
    assert reason.code == "exposure" and reason.severity == "block" and reason.senior_signoff
    assert "swimming" in reason.message and "senior colleague" in reason.message


def test_bare_arms_and_legs_with_a_swimming_word_are_exposure():
    arr, face = draw_person()
    assert not kit.assess(arr, [face], context="Trip to the park").exposure
    assert kit.assess(arr, [face], context="Swimming gala heats").exposure


def test_faces_of_the_row_in_front_are_not_the_back_row_s_bare_torso():
    arr, back = draw_person(top=UNIFORM_JUMPER, bottom=UNIFORM_TROUSERS, bare_arms=False, bare_legs=False)
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    fronts = [(150, 190, 200, 140), (150, 260, 200, 210)]  # two pupils' faces in front of the jumper
    for top, right, bottom, left in fronts:
        d.ellipse((left - 4, top - 16, right + 4, bottom + 6), fill=LIGHT_SKIN)
    result = kit.assess(np.asarray(img), [back, *fronts])
    assert not result.people[0].bare_torso and not result.exposure


def test_skin_is_not_measured_when_the_background_has_the_face_colour():
    # a flash-lit wall the colour of the pupil's face: nothing can be told apart
    arr, face = draw_person(wall=LIGHT_SKIN, bare_torso=True)
    result = kit.assess(arr, [face], context="swimming")
    assert result.people[0].torso_skin is None and not result.exposure


def test_black_and_white_photo_measures_no_skin():
    arr, face = draw_person()
    grey = np.repeat(arr.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    person = kit.assess(grey, [face]).people[0]
    assert person.arm_skin is None and person.leg_skin is None


# --- the scene model on whole photos, faces found by the pipeline's detector ------------------


def pipeline_faces(tmp_path, arr_or_path):
    """Decode a photo as the check pipeline does and find its faces with its detector:
    ``(analysis array, face boxes in its coordinates)``."""
    from consent.images import load
    from consent.vision import faces

    path = arr_or_path
    if not isinstance(path, Path):
        path = save(tmp_path, "photo.png", arr_or_path)
    photo = load(path, faces.analysis_side(DEFAULTS), DEFAULTS)
    boxes = [tuple(round(v / photo.scale) for v in f.box) for f in faces.detect(photo, DEFAULTS)]
    return photo.array(), boxes


def landscape(size=(480, 720), seed=0):
    """Sky, distant hills and a mown field with white lines: what the old colour rules read as
    a playing field with line markings."""
    rng = np.random.default_rng(seed)
    h, w = size
    y = np.arange(h)[:, None, None]
    sky = np.array([120, 170, 230]) + (y / h) * np.array([80, 60, 20])
    arr = np.broadcast_to(sky, (h, w, 3)).copy()
    hills = (h * 0.45 + 25 * np.sin(np.arange(w) / 60.0)).astype(int)
    for x in range(w):
        arr[hills[x]:, x] = (60, 110, 60)
    arr[int(h * 0.6):] = (80, 150, 55)
    arr += rng.normal(0, 6, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.line((30, h - 20, w - 30, int(h * 0.65)), fill=(240, 240, 240), width=4)
    return np.asarray(img)


def empty_room(size=(480, 640), seed=1):
    """A classroom corner with nobody in it: two walls, a floor, a window and a table."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = Image.new("RGB", (w, h), (215, 210, 195))
    d = ImageDraw.Draw(img)
    d.polygon([(0, 0), (w // 3, h // 6), (w // 3, h * 2 // 3), (0, h)], fill=(190, 185, 170))
    d.polygon([(0, h), (w // 3, h * 2 // 3), (w, h * 2 // 3), (w, h)], fill=(150, 110, 80))
    d.rectangle((w // 2, h // 6, w * 5 // 6, h // 2), fill=(170, 200, 235), outline=(250, 250, 250), width=8)
    d.rectangle((w // 2 - 40, h * 2 // 3 - 10, w // 2 + 160, h * 2 // 3 + 10), fill=(120, 80, 50))
    arr = np.asarray(img).astype(np.int16) + rng.integers(-5, 6, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("picture", ["landscape", "empty room", "animal"])
def test_photo_with_nobody_in_it_captioned_pe_lesson_is_not_flagged(picture, tmp_path):
    if picture == "animal":  # a real photo of a kitten on a lawn (not one the kit check was tuned on)
        source = fixture_dir("faces-wild") / "tfp_cat.jpg"
    else:
        source = {"landscape": landscape, "empty room": empty_room}[picture]()
    arr, boxes = pipeline_faces(tmp_path, source)
    result = kit.assess(arr, boxes, context="PE lesson/IMG_0001.jpg")
    assert not result.pe_kit and not result.exposure and not result.unknown, result.signals
    assert result.message == ""


def test_sports_photo_with_no_caption_is_flagged_and_says_why(tmp_path):
    arr, boxes = pipeline_faces(tmp_path, fixture_dir("kit") / "COCO_val2014_000000000415.jpg")
    result = kit.assess(arr, boxes, context="IMG_0415.jpg")
    assert result.pe_kit and not result.exposure
    assert result.score >= DEFAULTS.kit_scene_threshold
    assert result.message.startswith("sports scene: racket")


@pytest.mark.parametrize("name", [
    "kit/COCO_val2014_000000000328.jpg",  # cadets in formal uniform
    "faces-wild/lz_imgs_3.jpg",  # girls in youth-group uniform, sashes and badges
])
def test_photo_in_uniform_is_not_flagged(name, tmp_path):
    folder, file = name.split("/")
    arr, boxes = pipeline_faces(tmp_path, fixture_dir(folder) / file)
    result = kit.assess(arr, boxes, context="Remembrance parade")
    assert not result.pe_kit and not result.exposure, result.signals


def test_missing_scene_model_fails_closed_with_one_clear_error(tmp_path, monkeypatch):
    from consent.rules.kit import pe_kit
    from consent.vision import scene as scene_mod

    monkeypatch.setattr(scene_mod, "PACKAGE", "no_such_weights_package")
    scene_mod.session.forget()
    try:
        arr, face = draw_person()
        result = kit.assess(arr, [face], context="PE")
    finally:
        scene_mod.session.forget()
    assert result.unknown and not result.pe_kit
    (reason,) = pe_kit(SimpleNamespace(kit=result))
    assert reason.code == "kit_unknown" and reason.severity == "review"
    assert "mobilenet_v2-b0353104.pth" in reason.message and "make install" in reason.message


def test_assess_refuses_an_array_that_is_not_an_rgb_picture():
    with pytest.raises(ValueError, match="RGB uint8"):
        kit.assess(np.zeros((10, 10), np.uint8), [])


# --- command line --------------------------------------------------------------------------


def test_cli_learns_shows_and_forgets_the_kit(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSENT_DATA", str(tmp_path / "data"))
    folder = tmp_path / "pe_examples"
    folder.mkdir()
    img = Image.new("RGB", (300, 300), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((40, 40, 260, 260), fill=PE_TOP)  # the kit laid out: no face
    img.save(folder / "shirt.png")
    (folder / "notes.jpg").write_bytes(b"not a photo")
    runner = CliRunner()
    learned = runner.invoke(main, ["kit", "learn", str(folder), "--as", "pe"])
    assert learned.exit_code == 0, learned.output
    assert "Learned the school PE kit from 1 of 2 photos" in learned.output
    assert "skipped:" in learned.output and "notes.jpg" in learned.output
    shown = runner.invoke(main, ["kit", "show"])
    assert "PE kit (from 1 photo)" in shown.output and "red" in shown.output
    assert "everyday uniform: not learned" in shown.output
    forgot = runner.invoke(main, ["kit", "forget"])
    assert forgot.exit_code == 0 and "Forgot the school kit" in forgot.output
    assert "No school kit learned" in runner.invoke(main, ["kit", "show"]).output


def test_cli_learn_from_an_empty_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSENT_DATA", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["kit", "learn", str(tmp_path), "--as", "uniform"])
    assert result.exit_code != 0 and "no photos found" in result.output


# --- the evaluation targets on the labelled fixtures ------------------------------------------


@pytest.mark.slow
def test_eval_targets_hold_on_the_kit_fixtures_and_when_each_photo_is_left_out():
    from scripts import eval_kit

    folder = fixture_dir("kit")
    samples = eval_kit.load_samples(eval_kit.read_labels(folder / "labels.csv", folder), DEFAULTS)
    result = eval_kit.evaluate(samples, DEFAULTS)
    assert result.tp + result.fn >= 5 and result.fp + result.tn >= 5
    assert result.recall >= 0.85 and result.precision >= 0.75, eval_kit.summary(result)
    loo, _ = eval_kit.leave_one_out(samples, DEFAULTS)
    assert loo.recall >= 0.8 and loo.precision >= 0.75, eval_kit.summary(loo)
