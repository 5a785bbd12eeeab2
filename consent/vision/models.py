"""Find model files inside installed packages and load each model once per process.

Every model the checks run ships inside a package installed by name (``make install``); nothing
is downloaded at run time. A module that wraps a model asks for its file with
:func:`package_file` and builds it inside a function decorated with :func:`load_once`, so that
``import consent.cli`` stays light, the first check pays the load, and every later call in the
same process reuses it. A missing or unreadable file raises :class:`ModelUnavailable` with one
sentence naming the file and how to reinstall; the check turns that into "needs review".
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import Callable, TypeVar

from ..errors import ModelUnavailable

T = TypeVar("T")

REINSTALL = ("reinstall it with '.venv/bin/pip install --force-reinstall --no-deps {dist}' "
             "(or delete .venv and run 'make install')")


def _reinstall(package: str) -> str:
    """How to put back the files of the package that provides import name ``package``."""
    try:
        import importlib.metadata as md

        dists = md.packages_distributions().get(package) or [package]
    except Exception:  # metadata can be damaged too; the import name is the best guess then
        dists = [package]
    return REINSTALL.format(dist=dists[0])


def package_file(package: str, relpath: str, what: str) -> Path:
    """The path of ``relpath`` inside installed ``package``, without importing the package.

    ``what`` names the model for people ("face detector"). Raises :class:`ModelUnavailable`
    when the package is not installed or the file is not in it.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / relpath
        if path.is_file():
            return path
    where = f"{folders[0]}/{relpath}" if folders else f"{package}/{relpath}"
    state = "is missing" if folders else f"cannot be found: the package '{package}' is not installed"
    raise ModelUnavailable(
        f"the {what} model file {where} {state}; " + _reinstall(package)
    )


def broken(path: Path, what: str, package: str, reason: object) -> ModelUnavailable:
    """The error for a model file that exists but could not be loaded."""
    return ModelUnavailable(
        f"the {what} model file {path} could not be loaded ({reason}); "
        + _reinstall(package)
    )


#: set in a worker of a pool that runs one check per core (:func:`one_thread_per_process`)
_one_thread = False


def one_thread_per_process() -> None:
    """Run every model of this process on one thread: call it first in each worker of a pool
    that already keeps every core busy with one check per process.

    Left to its defaults, onnxruntime (every model) starts a thread per core and spins while it
    waits, so two workers on two cores fight over four busy threads (measured by ``python -m
    bench check``); OpenCV (resizing) and numpy's OpenBLAS start a thread per core too. A single
    check (the web upload page) keeps the defaults: there the extra threads make one photo come
    back sooner. OpenBLAS and OpenCV read their settings when first loaded, so call this before
    any check (the worker processes it is meant for load them lazily, on their first photo).
    """
    global _one_thread
    _one_thread = True
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        os.environ[name] = "1"


def model_threads() -> int:
    """Threads a model session may use: 1 in a pool worker, 0 (the runtime's default) otherwise."""
    return 1 if _one_thread else 0


def load_once(loader: Callable[[], T]) -> Callable[[], T]:
    """Decorate a zero-argument loader so it runs once per process (thread-safe).

    A loader that raises is tried again on the next call (a reinstall can mend it without a
    restart); a loaded model is kept for the life of the process.
    """
    lock = threading.Lock()
    loaded: list = []

    @functools.wraps(loader)
    def get() -> T:
        if loaded:
            return loaded[0]
        with lock:
            if not loaded:
                loaded.append(loader())
        return loaded[0]

    def forget() -> None:
        """Drop the loaded model (tests that break a model file on purpose)."""
        loaded.clear()

    def is_loaded() -> bool:
        """Whether the model is loaded in this process."""
        return bool(loaded)

    get.forget = forget  # type: ignore[attr-defined]
    get.is_loaded = is_loaded  # type: ignore[attr-defined]
    return get


def onnx_session(path: Path, what: str, package: str, data: bytes | None = None, threads: int = 0):
    """An onnxruntime CPU session for the model at ``path`` (call inside a :func:`load_once` loader).

    ``data`` is the model's bytes when the caller has adapted the file (e.g. made its input size
    free); ``path`` then only names it in errors. ``threads`` caps onnxruntime's threads
    (0: its default, one per core).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
        raise ModelUnavailable(
            f"the {what} model cannot run: onnxruntime is not installed ({exc}); run 'make install' again"
        ) from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no start-up chatter on stdout/stderr
    # no memory pattern: on a shape's second run onnxruntime would allocate one block for all
    # its tensors at once, and keep it (measured: +470 MB on checking a 9400 px photo a second
    # time, none without; the same speed; tests/test_memory_budget.py)
    options.enable_mem_pattern = False
    if threads:
        options.intra_op_num_threads = threads
    # its threads sleep between runs instead of spinning: spinning burnt the cores the video
    # decoder, the other stages and other workers needed (measured, 3 pairs each while another
    # process ran: a 12-second clip's check 0.64x the CPU and 0.72x the wall time; 14 photos
    # 0.72x the CPU, 0.75x the wall; on a quiet machine the 14 photos 0.87x the CPU, 0.99x the wall)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(data if data is not None else str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise broken(path, what, package, exc) from exc


def verified_bytes(path: Path, sha256: str, what: str, package: str, whose: str) -> bytes:
    """The bytes of the model file at ``path`` once their sha256 is ``sha256``; else raises
    :class:`ModelUnavailable` naming the file, ``what`` it is and the ``package`` to reinstall
    (``whose``: who made the file this reader expects, for the message)."""
    import hashlib

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise broken(path, what, package, exc.strerror or exc) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise broken(path, what, package,
                     f"checksum {digest[:12]}..., expected {sha256[:12]}...: the file is damaged or not {whose}")
    return data


def onnx_proto():
    """onnx's generated protobuf module (``ModelProto``, ``NodeProto``, ``TensorProto`` ...).

    Only that module is loaded, under its own name, so that a later ``import onnx`` reuses it:
    the whole ``onnx`` package takes 1.6 s to import (most of it ml_dtypes), in every worker
    process, where the checks only edit or build a model; this takes 0.06 s.
    """
    import importlib.util
    import sys

    name = "onnx.onnx_ml_pb2"
    if name not in sys.modules:
        spec = importlib.util.find_spec("onnx")  # finds the package without running it
        folders = list(spec.submodule_search_locations or []) if spec else []
        if not folders:
            raise ImportError("the onnx package is not installed")
        source = importlib.util.spec_from_file_location(name, Path(folders[0]) / "onnx_ml_pb2.py")
        module = importlib.util.module_from_spec(source)
        source.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def onnx_node(op: str, inputs: list[str], outputs: list[str], **attributes):
    """A ``NodeProto`` (as ``onnx.helper.make_node``) with int, float or int-list attributes."""
    pb = onnx_proto()
    node = pb.NodeProto(op_type=op, input=inputs, output=outputs)
    for key, value in sorted(attributes.items()):
        attr = node.attribute.add(name=key)
        if isinstance(value, (list, tuple)):
            attr.type, attr.ints[:] = pb.AttributeProto.INTS, [int(v) for v in value]
        elif isinstance(value, float):
            attr.type, attr.f = pb.AttributeProto.FLOAT, value
        else:
            attr.type, attr.i = pb.AttributeProto.INT, int(value)
    return node


def onnx_float_tensor(name: str, array):
    """A float32 ``TensorProto`` holding ``array`` (as ``onnx.numpy_helper.from_array``)."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.float32)
    pb = onnx_proto()
    return pb.TensorProto(name=name, dims=array.shape, data_type=pb.TensorProto.FLOAT,
                          raw_data=array.astype("<f4").tobytes())


def onnx_float_value(name: str, dims: list):
    """A float tensor's ``ValueInfoProto`` (a graph input or output); a str dim is a free one."""
    pb = onnx_proto()
    value = pb.ValueInfoProto(name=name)
    value.type.tensor_type.elem_type = pb.TensorProto.FLOAT
    for d in dims:
        dim = value.type.tensor_type.shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d
    return value
