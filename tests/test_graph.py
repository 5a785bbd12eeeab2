"""consent.vision.graph: the rewrites keep a graph's outputs, and leave alone what they must not
touch. A small graph is built here with the patterns PaddlePaddle exports (the packaged text
models are compared in tests/test_text.py)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from consent.vision import graph
from consent.vision.models import onnx_float_tensor, onnx_float_value, onnx_node, onnx_proto

RNG = np.random.default_rng(7)


def scalar(name, value):
    return onnx_float_tensor(name, np.array([value], np.float32))


def build(shared_conv_output: bool = False):
    """x -> Conv -> Mul(s) -> Add(b) -> hardswish (Add 3, Clip 0..6, Mul, Div 6) -> Mul(s2) ->
    Add(b2) -> 1x1 Conv -> y. With ``shared_conv_output`` the first Conv's output is also a
    graph output, so it must not be folded."""
    pb = onnx_proto()
    nodes = [
        onnx_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        onnx_node("Mul", ["s", "c1"], ["m1"]),
        onnx_node("Add", ["m1", "b"], ["a1"]),
        onnx_node("Add", ["a1", "three"], ["a2"]),
        onnx_node("Clip", ["a2", "zero", "six"], ["k"]),
        onnx_node("Mul", ["a1", "k"], ["m2"]),
        onnx_node("Div", ["m2", "six"], ["hs"]),
        onnx_node("Mul", ["s2", "hs"], ["m3"]),
        onnx_node("Add", ["m3", "b2"], ["a3"]),
        onnx_node("Conv", ["a3", "w2", "b3"], ["y"], kernel_shape=[1, 1]),
    ]
    inits = [
        onnx_float_tensor("w1", RNG.normal(size=(6, 4, 3, 3))), onnx_float_tensor("b1", RNG.normal(size=6)),
        onnx_float_tensor("w2", RNG.normal(size=(5, 6, 1, 1))), onnx_float_tensor("b3", RNG.normal(size=5)),
        scalar("s", 0.8), scalar("b", 0.3), scalar("s2", 1.7), scalar("b2", -0.4),
        onnx_float_tensor("three", np.float32(3.0)), onnx_float_tensor("zero", np.float32(0.0)),
        onnx_float_tensor("six", np.float32(6.0)),
    ]
    outputs = [onnx_float_value("y", [1, 5, 16, 16])]
    if shared_conv_output:
        outputs.append(onnx_float_value("c1", [1, 6, 16, 16]))
    g = pb.GraphProto(name="g", node=nodes, initializer=inits, input=[onnx_float_value("x", [1, 4, 16, 16])],
                      output=outputs)
    model = pb.ModelProto(ir_version=8, graph=g)
    model.opset_import.add(domain="", version=12)
    return model


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


def ops(model):
    return [n.op_type for n in model.graph.node]


def test_the_rewrites_keep_the_outputs_and_leave_fewer_passes():
    x = RNG.normal(scale=3, size=(1, 4, 16, 16)).astype(np.float32)
    model = build()
    before = run(model, x)
    counts = graph.simplify(model)
    assert counts == {"conv_affine": 1, "hardswish": 1, "affine_batchnorm": 1}
    assert ops(model) == ["Conv", "HardSigmoid", "Mul", "BatchNormalization", "Conv"]
    after = run(model, x)
    assert np.abs(after[0] - before[0]).max() < 1e-4
    # both sides of the hardswish's bend are exercised
    assert (x.min() < -3) and (x.max() > 3)


def test_a_convolution_whose_output_is_read_elsewhere_is_not_folded():
    x = RNG.normal(scale=3, size=(1, 4, 16, 16)).astype(np.float32)
    model = build(shared_conv_output=True)
    before = run(model, x)
    counts = graph.simplify(model)
    assert counts["conv_affine"] == 0
    # the scale and shift after it are still one step (a batch norm on the Conv's channels)
    assert ops(model)[:2] == ["Conv", "BatchNormalization"]
    after = run(model, x)
    for a, b in zip(after, before):
        assert np.abs(a - b).max() < 1e-4


def test_a_graph_without_the_patterns_comes_back_unchanged():
    model = build()
    model.graph.node[6].input[1] = "three"  # divide by 3: no longer a hardswish
    # and a shift that is a tensor, not one number: no longer a scalar affine
    model.graph.initializer.append(onnx_float_tensor("b_per_channel", RNG.normal(size=(1, 6, 1, 1))))
    model.graph.node[2].input[1] = "b_per_channel"
    model.graph.node[8].input[1] = "b_per_channel"
    saved = model.SerializeToString()
    counts = graph.simplify(model)
    # only the Conv -> Mul(s) fold applies (its Add is per channel now and stays)
    assert counts == {"conv_affine": 1, "hardswish": 0, "affine_batchnorm": 0}
    x = RNG.normal(scale=3, size=(1, 4, 16, 16)).astype(np.float32)
    original = onnx_proto().ModelProto()
    original.ParseFromString(saved)
    assert np.abs(run(model, x)[0] - run(original, x)[0]).max() < 1e-4
    assert "Div" in ops(model) and "Clip" in ops(model)
