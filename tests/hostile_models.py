"""Hostile model files, built by the tests themselves: a checkpoint whose unpickling would run code, and an ONNX
model whose external data points outside its folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tiny_models import tiny_meta


class RunsCodeWhenUnpickled:
    """Unpickling this touches `marker`: proof that a loader ran code from a model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204 - pickle's protocol
        return (os.system, (f"touch {self.marker}",))


def pickled_code_checkpoint(path: Path, marker: Path, arch: str = "cnn") -> Path:
    """A checkpoint with valid-looking meta and state whose loading with full unpickling would touch `marker`."""
    import torch

    meta = tiny_meta(arch=arch, output="logit").to_dict()
    torch.save({"state_dict": {}, "meta": meta, "payload": RunsCodeWhenUnpickled(marker)}, path)
    return path


def scorer_model(input_size: tuple[int, int, int] = (3, 32, 32), weights: np.ndarray | None = None, meta=None):
    """An ONNX ModelProto: image [N, C, H, W] -> p_fake [N] = mean pixel x mean(weights), carrying `meta`."""
    from onnx import TensorProto, helper, numpy_helper

    from imgcheck.export.metadata import attach_to_onnx

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *input_size])
    p_fake = helper.make_tensor_value_info("p_fake", TensorProto.FLOAT, ["N"])
    weight = numpy_helper.from_array(np.full((1024,), 0.5, np.float32) if weights is None else weights, "w")
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("ReduceMean", ["w"], ["wm"], keepdims=0),
             helper.make_node("Mul", ["m", "wm"], ["p_fake"])]
    graph = helper.make_graph(nodes, "g", [image], [p_fake], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_to_onnx(model, meta or tiny_meta(input_size=input_size))
    return model


def external_data_model(folder: Path, location: str = "weights.bin") -> Path:
    """folder/m.onnx with its weights stored as external data at `location` (written as given, unchecked).

    For a location outside `folder`, the weights are moved to folder's parent, and `folder/link.bin` is a symlink
    to them, so every kind of escape (``..``, absolute, symlink) points at a file that exists."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    onnx.save(scorer_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    if location == "weights.bin":
        return path
    os.replace(folder / "weights.bin", folder.parent / "weights.bin")
    os.symlink(folder.parent / "weights.bin", folder / "link.bin")
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(proto, str(path))
    return path
