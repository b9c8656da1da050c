"""A per-class detector as a hand-made ONNX graph (no torch), for the per-class score tests (`--keep-classes`): one
logit per class = the image's channel means x WEIGHTS + BIAS (inputs scaled to [0, 1], no normalisation), as raw
`logits` or through a Softmax node (`softmax`). `expected_probabilities` computes the same in numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imgcheck.infer.meta import ModelMeta

# One REAL class and three generators; the names need CSV quoting (comma, quote) and one starts with `=`.
CLASSES = ("REAL", "sd,v1.5", "=midjourney", 'da"lle')
WEIGHTS = np.array([[2.0, -1.0, 0.5, 0.0], [-1.5, 2.5, 0.0, 1.0], [0.5, 0.0, 3.0, -2.0]], np.float32)  # (3, K)
BIAS = np.array([0.25, -0.5, -1.0, 0.0], np.float32)
SIZE = 8


def class_meta(output: str = "logits", **changes) -> ModelMeta:
    """The ModelMeta of `class_model`: every class but REAL is positive, so p_fake = 1 - p(REAL)."""
    fields = dict(arch="class-scorer", input_size=(3, SIZE, SIZE), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                  class_names=CLASSES, positive_class=CLASSES[1], positive_classes=CLASSES[1:], output=output,
                  threshold=0.5)
    fields.update(changes)
    return ModelMeta(**fields)


def class_model(path: Path, meta: ModelMeta | None = None) -> Path:
    """Write the per-class ONNX model (dynamic batch) carrying `meta` (default: `class_meta()`) to `path`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from imgcheck.export.metadata import attach_to_onnx

    meta = meta or class_meta()
    count = len(meta.class_names)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", count])
    last = "scores" if meta.output == "logits" else "logits"
    nodes = [helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["means", "w"], ["product"]),
             helper.make_node("Add", ["product", "b"], [last])]
    if meta.output == "softmax":
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1))
    weights = [numpy_helper.from_array(WEIGHTS[:, :count], "w"), numpy_helper.from_array(BIAS[:count], "b")]
    graph = helper.make_graph(nodes, "classes", [image], [scores], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_to_onnx(model, meta)
    onnx.save(model, str(path))
    return path


def expected_probabilities(tiles: np.ndarray) -> np.ndarray:
    """Each class's probability (float64, (N, K)) for uint8 inputs (N, H, W, 3): the softmax of their channel means
    x WEIGHTS + BIAS."""
    means = tiles.reshape(len(tiles), -1, 3).astype(np.float64).mean(axis=1) / 255
    logits = means @ WEIGHTS.astype(np.float64) + BIAS
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def color_images(folder: Path, colors: list[tuple[int, int, int]], size: int = SIZE) -> list[Path]:
    """One uniform PNG per color, named 00.png, 01.png, ... (the order a scan lists them in)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, color in enumerate(colors):
        path = folder / f"{index:02d}.png"
        Image.new("RGB", (size, size), color).save(path)
        paths.append(path)
    return paths
