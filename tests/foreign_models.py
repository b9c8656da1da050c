"""Foreign detectors, exported the way other libraries export them (no imgcheck metadata), for the import tests."""

from __future__ import annotations

import warnings
from pathlib import Path


SIZE = 32  # input side of the torchvision models below (small, so the tests stay fast)


def torchvision_resnet18(num_classes: int = 2, seed: int = 0):  # noqa: ANN201 - a torch module
    """torchvision's ResNet-18 with a `num_classes` head and seeded random weights, in eval mode."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.resnet18(num_classes=num_classes).eval()


def export_onnx(model, path: Path, batch: int | None) -> Path:  # noqa: ANN001
    """ONNX through torch's exporter, as a user would: fixed `batch`, or a dynamic batch when None."""
    import torch

    example = torch.zeros(batch or 2, 3, SIZE, SIZE)
    dynamic = None if batch else {"x": {0: torch.export.Dim("batch")}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["pixel_values"], output_names=["logits"],
                          dynamic_shapes=dynamic, dynamo=True, verbose=False, external_data=False)
    return path


def export_torchscript(model, path: Path) -> Path:  # noqa: ANN001
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, torch.zeros(1, 3, SIZE, SIZE)).save(str(path))
    return path


def onnx_graph(path: Path, inputs, outputs, nodes, initializers=()) -> Path:  # noqa: ANN001
    """Save a hand-made ONNX graph (no imgcheck metadata)."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "foreign", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def mean_scorer(path: Path, batch="N", size=("H", "W"), input_type=None, input_rank=4) -> Path:  # noqa: ANN001
    """image [batch, 3, H, W] -> its mean pixel, shape [batch] (a probability when pixels are in [0, 1]): a graph with
    no reshape, so a fixed batch can be rewritten to a dynamic one. `size` may be ints or names (dynamic)."""
    from onnx import TensorProto, helper

    shape = [batch, 3, *size][:input_rank] if input_rank <= 4 else [batch, 3, *size]
    image = helper.make_tensor_value_info("image", input_type or TensorProto.FLOAT, shape)
    out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [batch])
    nodes = [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT)] if input_type else []
    nodes.append(helper.make_node("ReduceMean", ["pixels" if input_type else "image"], ["score"],
                                  axes=list(range(1, input_rank)), keepdims=0))
    return onnx_graph(path, [image], [out], nodes)
