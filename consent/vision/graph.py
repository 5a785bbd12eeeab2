"""Exact simplifications of an ONNX graph, made once when a model is loaded.

The text models (PaddleOCR's PP-OCRv4 detector and recogniser, exported from PaddlePaddle)
spend much of their time outside convolutions: after most convolutions the backbone
(PP-LCNetV3) scales and shifts by two learned numbers (``Mul`` then ``Add``), it computes
hard-swish as four passes over memory (``x * clip(x + 3, 0, 6) / 6``), and after the
activation it scales and shifts again. onnxruntime fuses none of these, and each such op also
moves the data out of and back into the blocked layout its convolutions use. The rewrites
below compute the same function with fewer passes:

- :func:`fold_conv_affine`: ``Conv -> Mul(s) -> Add(b)`` becomes one ``Conv`` with weights
  ``s * W`` and bias ``s * B + b``;
- :func:`hardswish`: ``x * clip(x + 3, 0, 6) / 6`` becomes ``x * HardSigmoid(x)`` with
  alpha 1/6 and beta 1/2 (the same numbers: ``clip(x + 3, 0, 6) / 6 = clip(x / 6 + 1/2, 0, 1)``);
- :func:`affine_to_batchnorm`: a remaining ``Mul(s) -> Add(b)`` on a convolution's channels
  becomes one ``BatchNormalization`` (scale s, shift b, mean 0, variance 1, epsilon 0), which
  onnxruntime runs inside its blocked layout.

Only exact matches are rewritten (scalar constants, single consumers); anything else is left as
it is, so a model without these patterns comes back unchanged. Measured on this project's text
models (``tests/test_text.py`` checks the outputs): the same outputs within 2e-5; the detector
0.65x and the recogniser 0.55x the time on one thread; the text stage of a check about 0.7x.

Works on onnx's protobuf classes alone (:func:`consent.vision.models.onnx_proto`).
"""

from __future__ import annotations

import numpy as np

from .models import onnx_float_tensor, onnx_node, onnx_proto


def simplify(model) -> dict[str, int]:
    """Apply every rewrite to ``model`` (a ``ModelProto``) in place; how many of each were made."""
    counts = {"conv_affine": fold_conv_affine(model.graph), "hardswish": hardswish(model.graph)}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    # BatchNormalization with these inputs and no training outputs: opset 9 on
    counts["affine_batchnorm"] = affine_to_batchnorm(model.graph) if opset >= 9 else 0
    return counts


class _Graph:
    """The graph's nodes as a list, with who makes and who reads each value."""

    def __init__(self, graph):
        self.graph = graph
        self.nodes = list(graph.node)
        #: constant tensors by name (initializers and Constant nodes), read when first asked for
        self.tensors = {t.name: t for t in graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
                self.tensors[node.output[0]] = node.attribute[0].t
        self._arrays: dict[str, np.ndarray] = {}
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.readers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
        self.outputs = {v.name for v in graph.output}
        self.dropped: set[int] = set()
        self.inserted: dict[int, list] = {}
        self.new_tensors: list = []

    def value(self, name: str) -> np.ndarray | None:
        """A constant's numbers (None: not a constant)."""
        if name not in self.tensors:
            return None
        if name not in self._arrays:
            self._arrays[name] = _array(self.tensors[name])
        return self._arrays[name]

    def scalar(self, name: str) -> float | None:
        tensor = self.tensors.get(name)
        if tensor is None or int(np.prod(tensor.dims)) != 1:
            return None
        value = self.value(name)
        return None if value.size != 1 else float(value.reshape(-1)[0])

    def add_tensor(self, name: str, array) -> None:
        self.new_tensors.append(onnx_float_tensor(name, array))

    def only_reader(self, name: str, op: str):
        """The one node reading ``name`` if it is an ``op`` (and ``name`` is no graph output)."""
        readers = self.readers.get(name, [])
        if name in self.outputs or len(readers) != 1 or readers[0].op_type != op:
            return None
        return readers[0]

    def drop(self, *nodes) -> None:
        self.dropped.update(id(n) for n in nodes)

    def put_before(self, node, new: list) -> None:
        self.inserted.setdefault(id(node), []).extend(new)

    def commit(self) -> None:
        """Make the drops and insertions in the graph itself (from the end, so that the
        positions still to visit do not move)."""
        for i in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[i]
            if id(node) in self.dropped:
                del self.graph.node[i]
            for new in reversed(self.inserted.get(id(node), [])):
                self.graph.node.insert(i, new)
        self.graph.initializer.extend(self.new_tensors)


def _array(tensor) -> np.ndarray:
    """A float tensor's numbers (other types come back empty: no rewrite uses them)."""
    pb = onnx_proto()
    if tensor.data_type != pb.TensorProto.FLOAT:
        return np.zeros(0, np.float32)
    if tensor.raw_data:
        data = np.frombuffer(tensor.raw_data, dtype="<f4")
    else:
        data = np.asarray(tensor.float_data, dtype=np.float32)
    return data.reshape(tuple(tensor.dims)).astype(np.float32)


def _other(node, name: str) -> str:
    a, b = node.input
    return b if a == name else a


def fold_conv_affine(graph) -> int:
    """``Conv -> Mul(scalar) [-> Add(scalar)]`` into the convolution's weights and bias."""
    g, made = _Graph(graph), 0
    for conv in g.nodes:
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in g.tensors:
            continue
        mul = g.only_reader(conv.output[0], "Mul")
        if mul is None or len(mul.input) != 2 or (s := g.scalar(_other(mul, conv.output[0]))) is None:
            continue
        last, b = mul, 0.0
        add = g.only_reader(mul.output[0], "Add")
        if add is not None and len(add.input) == 2 and (shift := g.scalar(_other(add, mul.output[0]))) is not None:
            last, b = add, shift
        weights = g.value(conv.input[1])
        if weights.size == 0:
            continue
        bias = g.value(conv.input[2]) if len(conv.input) > 2 else np.zeros(weights.shape[0], np.float32)
        if bias is None or bias.shape != (weights.shape[0],):
            continue
        names = (last.output[0] + "/folded_w", last.output[0] + "/folded_b")
        g.add_tensor(names[0], weights * np.float32(s))
        g.add_tensor(names[1], bias * np.float32(s) + np.float32(b))
        source = conv.input[0]
        del conv.input[:]
        conv.input.extend([source, *names])
        conv.output[0] = last.output[0]
        g.drop(mul, *([last] if last is not mul else []))
        made += 1
    g.commit()
    return made


def hardswish(graph) -> int:
    """``x * clip(x + 3, 0, 6) / 6`` (Add, Clip, Mul, Div) into ``x * HardSigmoid(x)``."""
    g, made = _Graph(graph), 0
    for div in g.nodes:
        if div.op_type != "Div" or len(div.input) != 2 or g.scalar(div.input[1]) != 6.0:
            continue
        mul = g.producer.get(div.input[0])
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        clip = next((g.producer[i] for i in mul.input if i in g.producer and g.producer[i].op_type == "Clip"), None)
        if clip is None or len(clip.input) != 3 or g.scalar(clip.input[1]) != 0.0 or g.scalar(clip.input[2]) != 6.0:
            continue
        x = _other(mul, clip.output[0])
        add = g.producer.get(clip.input[0])
        if add is None or add.op_type != "Add" or len(add.input) != 2 or x not in add.input:
            continue
        if g.scalar(_other(add, x)) != 3.0:
            continue
        if not all(g.only_reader(n.output[0], op) for n, op in ((add, "Clip"), (clip, "Mul"), (mul, "Div"))):
            continue
        gate = div.output[0] + "/hardsigmoid"
        g.put_before(div, [onnx_node("HardSigmoid", [x], [gate], alpha=1 / 6, beta=0.5),
                           onnx_node("Mul", [x, gate], [div.output[0]])])
        g.drop(add, clip, mul, div)
        made += 1
    g.commit()
    return made


def affine_to_batchnorm(graph) -> int:
    """``Mul(scalar) -> Add(scalar)`` on a tensor whose channels a convolution set, into one
    ``BatchNormalization``."""
    g, made = _Graph(graph), 0
    for mul in g.nodes:
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        tensors = [i for i in mul.input if g.scalar(i) is None]
        if len(tensors) != 1:
            continue
        x = tensors[0]
        s = g.scalar(_other(mul, x))
        add = g.only_reader(mul.output[0], "Add")
        if add is None or len(add.input) != 2 or (b := g.scalar(_other(add, mul.output[0]))) is None:
            continue
        channels = _channels(g, x)
        if not channels:
            continue
        stem = add.output[0] + "/affine_"
        for key, numbers in (("scale", s), ("shift", b), ("mean", 0.0), ("var", 1.0)):
            g.add_tensor(stem + key, np.full(channels, numbers, np.float32))
        g.put_before(mul, [onnx_node("BatchNormalization", [x] + [stem + k for k in ("scale", "shift", "mean", "var")],
                                     [add.output[0]], epsilon=0.0)])
        g.drop(mul, add)
        made += 1
    g.commit()
    return made


#: ops that keep their input's channels, walked through to find the convolution that set them
_SAME_CHANNELS = {"Mul", "Add", "HardSigmoid", "Clip", "Relu", "BatchNormalization", "Div", "Sigmoid"}


def _channels(g: _Graph, name: str) -> int:
    """How many channels the convolution upstream of ``name`` makes (0: not known)."""
    node = g.producer.get(name)
    for _ in range(8):
        if node is None:
            return 0
        if node.op_type == "Conv":
            weights = g.value(node.input[1]) if len(node.input) > 1 else None
            return int(weights.shape[0]) if weights is not None and weights.ndim == 4 else 0
        if node.op_type not in _SAME_CHANNELS:
            return 0
        upstream = [i for i in node.input if i in g.producer and g.scalar(i) is None]
        node = g.producer[upstream[0]] if upstream else None
    return 0
