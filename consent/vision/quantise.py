"""int8 for part of an ONNX network, built at load time from a table of activation ranges.

The result is a QDQ graph, the form onnxruntime turns into its int8 kernels when it optimises a
session (``QLinearConv``, ``QLinearAdd``): every activation tensor named in the range table gets a
``QuantizeLinear`` → ``DequantizeLinear`` pair after the node that makes it, and every
convolution whose input is one of those tensors reads its weights through ``DequantizeLinear``
from int8 (one scale per output channel, symmetric) and its bias from int32 (scale: input scale
times weight scale). Everything else stays float32: only the tensors in the table are touched.

It needs only onnx's protobuf messages (:func:`consent.vision.models.onnx_proto`) and numpy, and
no calibration photos at run time: ``onnxruntime.quantization`` would calibrate again or import
the whole ``onnx`` package (0.74 s of imports measured, in every worker process), where this
takes the ranges from a small committed table (``scripts/calibrate_centerface.py`` makes it).

Activations are uint8 with a zero point (a ReLU's output gets zero point 0, which lets
onnxruntime drop the ReLU into the convolution before it); weights are int8. That is the
U8S8 form that x86 CPUs with VNNI multiply fastest.
"""

from __future__ import annotations

import numpy as np

from .models import onnx_proto

#: the opset the QDQ graph declares: per-channel DequantizeLinear (``axis``) needs 13
OPSET = 13
#: the IR version opset 13 needs
IR_VERSION = 7


def activation_params(lo: float, hi: float) -> tuple[float, int]:
    """uint8 scale and zero point for an activation seen between ``lo`` and ``hi`` (0 is always
    representable exactly, so zero padding and a ReLU's floor stay exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        return 1.0, 0
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


def weight_params(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 weights: (int8 weights, float32 scales (C,))."""
    w = weight.reshape(weight.shape[0], -1).astype(np.float64)
    scale = np.maximum(np.abs(w).max(axis=1) / 127.0, 1e-12)
    q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(weight.shape), scale.astype(np.float32)


def _tensor(name: str, array: np.ndarray):
    pb = onnx_proto()
    kinds = {np.dtype(np.float32): pb.TensorProto.FLOAT, np.dtype(np.int8): pb.TensorProto.INT8,
             np.dtype(np.uint8): pb.TensorProto.UINT8, np.dtype(np.int32): pb.TensorProto.INT32}
    array = np.ascontiguousarray(array)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return pb.TensorProto(name=name, dims=array.shape, data_type=kinds[array.dtype], raw_data=little.tobytes())


def _array(tensor) -> np.ndarray:
    """A float32 initializer's values (raw_data or float_data)."""
    if tensor.raw_data:
        return np.frombuffer(tensor.raw_data, dtype="<f4").reshape(tuple(tensor.dims)).astype(np.float32)
    return np.asarray(tensor.float_data, dtype=np.float32).reshape(tuple(tensor.dims))


def quantise(model, ranges: dict[str, tuple[float, float]]):
    """A copy of ``model`` (a float32 ``ModelProto``) with the tensors named in ``ranges``
    (name -> (low, high) seen in calibration) quantised as the module docstring says.

    Raises ``ValueError`` naming a tensor of the table the graph does not make, so a table made
    for another model is never applied silently.
    """
    pb = onnx_proto()
    out = pb.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    made = {o for n in graph.node for o in n.output} | {v.name for v in graph.input}
    missing = sorted(set(ranges) - made)
    if missing:
        raise ValueError(f"the range table names tensors this model does not make: {', '.join(missing[:5])}")
    weights = {t.name: t for t in graph.initializer}
    params = {name: activation_params(*ranges[name]) for name in ranges}

    def dq(name: str) -> str:
        return name + "_dq" if name in params else name

    nodes, inits = [], []
    for name in (v.name for v in graph.input):
        if name in params:
            nodes += _qdq(name, params[name], inits)
    for node in graph.node:
        new = pb.NodeProto()
        new.CopyFrom(node)
        del new.input[:]
        new.input.extend(dq(i) for i in node.input)
        if node.op_type == "Conv" and node.input[0] in params:
            nodes += _conv_weights(new, node, weights, params[node.input[0]][0], inits)
        nodes.append(new)
        for name in node.output:
            if name in params:
                nodes += _qdq(name, params[name], inits)
    for value in graph.output:
        if value.name in params:  # a graph output keeps its name: read it after DequantizeLinear
            raise ValueError(f"the range table quantises a graph output ({value.name})")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    del out.opset_import[:]
    out.opset_import.add(domain="", version=OPSET)
    out.ir_version = IR_VERSION
    return out


def _qdq(name: str, param: tuple[float, int], inits: list) -> list:
    """QuantizeLinear → DequantizeLinear on ``name``, read by its consumers as ``name_dq``."""
    pb = onnx_proto()
    scale, zero = param
    inits += [_tensor(name + "_s", np.array(scale, np.float32)), _tensor(name + "_z", np.array(zero, np.uint8))]
    return [pb.NodeProto(op_type="QuantizeLinear", input=[name, name + "_s", name + "_z"], output=[name + "_q"]),
            pb.NodeProto(op_type="DequantizeLinear", input=[name + "_q", name + "_s", name + "_z"],
                         output=[name + "_dq"])]


def _conv_weights(new, node, weights: dict, in_scale: float, inits: list) -> list:
    """Point ``new`` (a copy of Conv ``node``) at int8 weights and an int32 bias through
    DequantizeLinear; returns those DequantizeLinear nodes."""
    w_name = node.input[1]
    q, scale = weight_params(_array(weights[w_name]))
    base = node.output[0]
    inits += [_tensor(base + "_wq", q), _tensor(base + "_ws", scale),
              _tensor(base + "_wz", np.zeros(len(scale), np.int8))]
    made = [_dq_node(base + "_wq", base + "_ws", base + "_wz", base + "_w")]
    new.input[1] = base + "_w"
    if len(node.input) > 2 and node.input[2]:
        bias = _array(weights[node.input[2]]).astype(np.float64)
        b_scale = (in_scale * scale.astype(np.float64))
        qb = np.clip(np.round(bias / b_scale), -2**31, 2**31 - 1).astype(np.int32)
        inits += [_tensor(base + "_bq", qb), _tensor(base + "_bs", b_scale.astype(np.float32)),
                  _tensor(base + "_bz", np.zeros(len(scale), np.int32))]
        made.append(_dq_node(base + "_bq", base + "_bs", base + "_bz", base + "_b"))
        new.input[2] = base + "_b"
    return made


def _dq_node(q: str, s: str, z: str, out: str):
    pb = onnx_proto()
    node = pb.NodeProto(op_type="DequantizeLinear", input=[q, s, z], output=[out])
    attr = node.attribute.add(name="axis")
    attr.type, attr.i = pb.AttributeProto.INT, 0
    return node
