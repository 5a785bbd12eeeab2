"""People judged one by one (consent.vision.people, scene.regions, kit.decide's per-person signal).

Real photos come from the shared fixtures (the tests skip without them); the development-set
photos are made from them by scripts/kit_devset.py, as ``make eval-kit`` makes them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from consent.rules.kit import pe_kit
from consent.settings import DEFAULTS
from consent.vision import kit, people, scene

from .conftest import fixture_dir, model_file_error


def pipeline_faces(path: Path):
    """A photo decoded as the check pipeline does, with its detector's face boxes."""
    from consent.images import load
    from consent.vision import faces

    photo = load(path, faces.analysis_side(DEFAULTS), DEFAULTS)
    boxes = [faces.hog_like_box(f, photo.scale) for f in faces.detect(photo, DEFAULTS)]
    return photo.array(), boxes


def dev_photo(tmp_path: Path, name: str) -> Path:
    """One development-set photo, made from the fixtures as eval-kit makes it."""
    from scripts.kit_devset import CASES, make

    base = fixture_dir("kit").parent
    (recipe,) = [r for n, _, _, r in CASES if n == name]
    path = tmp_path / "IMG_0001.jpg"
    make(base, recipe).save(path, quality=92)
    return path


def weak_scene(**over):
    base = dict(sport=0.01, swimwear=0.0, undress=0.0, person=0.2, sport_classes=[], swimwear_classes=[])
    return {**base, **over}


def record(where, sport, classes=(("racket", 0.4),), signals=()):
    return {"where": where, "sport": sport, "swimwear": 0.0, "classes": [list(c) for c in classes],
            "signals": list(signals)}


# --- where people are, in words --------------------------------------------------------------


def test_people_are_placed_left_middle_right_and_counted_in_a_bigger_group():
    assert people.places([(0, 0, 50, 100)], 600) == ["the person"]
    assert people.places([(400, 0, 500, 100), (0, 0, 100, 100), (250, 0, 350, 100)], 600) == [
        "the person on the right", "the person on the left", "the person in the middle"]
    # two on the same side are told apart by counting from the left
    assert people.places([(120, 0, 160, 100), (0, 0, 60, 100)], 600) == [
        "the 2nd person from the left", "the 1st person from the left"]
    five = people.places([(i * 100, 0, i * 100 + 50, 100) for i in (4, 0, 1, 3, 2)], 600)
    assert five[0] == "the 5th person from the left" and five[2] == "the 2nd person from the left"


# --- the scene model read over one region -------------------------------------------------------


def test_a_region_covering_the_whole_photo_reads_what_the_network_says_of_the_whole_photo():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)
    (whole,) = scene.regions(image, [(0, 0, 420, 300)])
    x, _ = scene.prepare_whole(image)
    want = scene.session().run(["probabilities"], {"input": x})[0][0]
    np.testing.assert_allclose(whole, want, atol=1e-4)


# --- deciding person by person -----------------------------------------------------------------


def test_a_per_person_flag_names_where_the_person_is_and_what_they_wear():
    measures = kit.KitMeasures(scene=weak_scene(), people=3, persons=[
        record("the person on the left", 0.9, (("baseball player", 0.8),), ["bare arms"]),
        record("the person on the right", 0.1, ()),
    ])
    result = kit.decide(measures, "IMG_0001.jpg")
    assert result.pe_kit and not result.exposure
    assert "sportswear on 1 of 3 people (the person on the left: baseball player; bare arms)" in result.message
    assert "on the right" not in result.message


def test_a_sport_word_lowers_the_per_person_threshold_and_says_so():
    measures = kit.KitMeasures(scene=weak_scene(), people=1, persons=[
        record("the person", 0.75 * DEFAULTS.kit_person_sport_threshold)])
    assert not kit.decide(measures, "IMG_0001.jpg").pe_kit
    flagged = kit.decide(measures, "Year 4 PE/IMG_0001.jpg")
    assert flagged.pe_kit and "the caption or file name mentions pe" in flagged.message


def test_a_cached_measure_from_before_the_per_person_judgement_still_decides():
    old = {"scene": weak_scene(sport=0.9, sport_classes=[["racket", 0.9]]), "people": 1}
    result = kit.decide(kit.KitMeasures.from_json(old), "IMG_0001.jpg")
    assert result.pe_kit and result.message.startswith("sports scene: racket")


# --- real photos -------------------------------------------------------------------------------


def test_a_small_player_in_a_wide_dark_field_is_flagged_on_their_own_body(tmp_path):
    # the whole scene scores under the threshold; the player's own body does not
    arr, boxes = pipeline_faces(dev_photo(tmp_path, "small_thrower_night.jpg"))
    result = kit.assess(arr, boxes, context="IMG_0001.jpg")
    assert result.score < DEFAULTS.kit_scene_threshold
    assert result.pe_kit and "sportswear on 1 person (the person:" in result.message
    (person,) = [p for p in result.people if (p.sport or 0) >= DEFAULTS.kit_person_sport_threshold]
    top, right, bottom, left = person.body
    assert top <= person.box[0] and bottom > person.box[2] and left <= person.box[3] and right >= person.box[1]


def test_the_flagged_person_is_the_one_playing_not_the_one_beside_the_court():
    arr, boxes = pipeline_faces(fixture_dir("kit") / "COCO_val2014_000000000564.jpg")
    result = kit.assess(arr, boxes, context="IMG_0564.jpg")
    assert result.pe_kit
    flagged = [p.where for p in result.people if (p.sport or 0) >= DEFAULTS.kit_person_sport_threshold]
    assert flagged == ["the person in the middle"]
    assert "sportswear on 1 of 2 people (the person in the middle:" in result.message


@pytest.mark.parametrize("name", ["empty_field.jpg", "empty_court.jpg"])
def test_an_empty_sports_field_captioned_pe_lesson_is_not_flagged(name, tmp_path):
    # the grass and court of real sports photos, with nobody on them
    arr, boxes = pipeline_faces(dev_photo(tmp_path, name))
    result = kit.assess(arr, boxes, context="PE lesson/IMG_0001.jpg")
    assert not result.pe_kit and not result.exposure and not result.unknown, result.signals


@pytest.mark.parametrize("name", ["tshirt_orange_wall.jpg", "portrait_rose1.jpg", "seated_cadets.jpg"])
def test_everyday_clothes_close_up_are_not_flagged(name, tmp_path):
    arr, boxes = pipeline_faces(dev_photo(tmp_path, name))
    assert boxes
    result = kit.assess(arr, boxes, context="IMG_0001.jpg")
    assert not result.pe_kit and not result.exposure, result.signals


def test_a_damaged_scene_model_gives_kit_unknown_with_one_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / scene.WEIGHTS
    message = model_file_error(monkeypatch, scene, scene.session, bad, b"PK\x03\x04 not a checkpoint")
    assert str(bad) in message
    scene.session.forget()
    try:
        image = np.full((200, 160, 3), 180, np.uint8)
        result = kit.assess(image, [(40, 100, 80, 60)], context="PE lesson")
    finally:
        scene.session.forget()
    assert result.unknown and not result.pe_kit and not result.exposure
    (reason,) = pe_kit(SimpleNamespace(kit=result))
    assert reason.code == "kit_unknown" and str(bad) in reason.message


def test_one_reduction_serves_the_scene_crop_and_the_people():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    centre, (body,) = scene.analyse(image, [(100, 50, 300, 400)])
    np.testing.assert_allclose(centre, scene.classify(image), atol=1e-5)
    np.testing.assert_allclose(body, scene.regions(image, [(100, 50, 300, 400)])[0], atol=1e-6)
