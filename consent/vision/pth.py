"""Read the tensors of a PyTorch checkpoint (``.pth``) without PyTorch: pickle and numpy only.

Both formats torch.save has written are read: the legacy stream (torch < 1.6: a magic number,
protocol and system pickles, the object pickle, then each storage's raw bytes) and the zip
archive (torch >= 1.6: ``*/data.pkl`` plus one ``*/data/KEY`` entry per storage). Only the
classes a plain state dict needs are allowed out of the pickle (an ``OrderedDict`` of tensors);
anything else, such as code, is refused, so a file cannot run code when read.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

#: torch.save's legacy magic number
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: storage class name -> numpy dtype (little-endian, as torch writes them)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class CheckpointError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands, or it is damaged."""


class _Storage:
    """A storage named in the pickle; its bytes are filled in afterwards."""

    __slots__ = ("dtype", "key", "numel", "array")

    def __init__(self, dtype: str, key: str, numel: int | None):
        self.dtype, self.key, self.numel, self.array = np.dtype(dtype), key, numel, None


class _StorageType:
    def __init__(self, name: str):
        if name not in STORAGE_DTYPES:
            raise CheckpointError(f"unsupported tensor storage {name}")
        self.dtype = STORAGE_DTYPES[name]


class _Tensor:
    """A tensor as the pickle describes it: a view into a storage, resolved later."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def resolve(self) -> np.ndarray:
        data = self.storage.array
        if data is None:
            raise CheckpointError(f"tensor data for storage {self.storage.key} is missing")
        item = data.itemsize
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1 if all(self.size) else 0
        if needed > len(data):
            raise CheckpointError(f"storage {self.storage.key} is shorter than its tensor (file truncated?)")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[s * item for s in self.stride], writeable=False,
        )
        return np.array(view)  # a compact copy the caller owns


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Unpickles a state dict: tensors become :class:`_Tensor` views, nothing else is allowed."""

    def __init__(self, fh, zip_format: bool):
        super().__init__(fh, encoding="latin1")
        self.zip_format = zip_format
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise CheckpointError(f"refusing to load {module}.{name} (only tensors are read)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        numel = pid[4] if len(pid) > 4 else None
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unexpected storage type {storage_type!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, key, numel)
        return self.storages[key]


def _materialise(obj):
    if isinstance(obj, _Tensor):
        return obj.resolve()
    if isinstance(obj, dict):
        return OrderedDict((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def _read_legacy(fh) -> object:
    def load():
        return pickle.Unpickler(fh, encoding="latin1").load()

    # magic number, protocol version and system info are plain pickles
    if load() != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (wrong magic number)")
    load()
    sys_info = load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")
    unpickler = _Unpickler(fh, zip_format=False)
    result = unpickler.load()
    keys = pickle.Unpickler(fh, encoding="latin1").load()
    for key in keys:
        storage = unpickler.storages.get(str(key))
        header = fh.read(8)
        if len(header) != 8:
            raise CheckpointError("file ends before the tensor data (truncated?)")
        (numel,) = struct.unpack("<q", header)
        if storage is None:
            raise CheckpointError(f"tensor data for an unknown storage {key}")
        raw = fh.read(numel * storage.dtype.itemsize)
        if len(raw) != numel * storage.dtype.itemsize:
            raise CheckpointError("file ends inside the tensor data (truncated?)")
        storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return result


def _read_zip(archive: zipfile.ZipFile) -> object:
    names = archive.namelist()
    pkl = [n for n in names if n.endswith("data.pkl")]
    if not pkl:
        raise CheckpointError("zip file without data.pkl: not a PyTorch checkpoint")
    prefix = pkl[0][: -len("data.pkl")]
    unpickler = _Unpickler(io.BytesIO(archive.read(pkl[0])), zip_format=True)
    result = unpickler.load()
    for key, storage in unpickler.storages.items():
        try:
            raw = archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"tensor data {prefix}data/{key} missing from the archive") from None
        storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return result


def load_state_dict(source: str | Path | bytes) -> "OrderedDict[str, np.ndarray]":
    """The tensors of a ``.pth`` state dict as numpy arrays, by name; ``source`` is the file's
    path, or its bytes when the caller has read them already.

    Raises :class:`CheckpointError` when the file is not a checkpoint, is damaged or holds
    anything but tensors; ``OSError`` when it cannot be read.
    """
    try:
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as fh:
            if zipfile.is_zipfile(fh):
                with zipfile.ZipFile(fh) as archive:
                    result = _read_zip(archive)
            else:
                fh.seek(0)
                result = _read_legacy(fh)
        state = _materialise(result)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, struct.error, ValueError,
            TypeError, AttributeError, IndexError, KeyError) as exc:
        raise CheckpointError(f"damaged checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise CheckpointError("the checkpoint is not a state dict of tensors")
    return state
