"""int8 quantization refuses a float graph with infinite constants in one line instead of writing a broken file."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from imgcheck.export.int8_schemes import resolve_scheme
from imgcheck.export.quantize import non_finite_constants, quantize_onnx
from imgcheck.infer.errors import ImgcheckError


class _InfPaddedPool(torch.nn.Module):
    """A convolution then a max pool over a -inf padded border: the pattern Open-NSFW's stem once exported."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(self.conv(x), (0, 1, 0, 1), value=float("-inf"))
        x = torch.nn.functional.max_pool2d(x, 3, 2)
        return self.head(x.mean((2, 3)))


def test_an_infinite_constant_is_refused_before_calibration_and_nothing_is_written(tmp_path):
    source, dest = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    torch.onnx.export(_InfPaddedPool().eval(), (torch.zeros(1, 3, 16, 16),), str(source), dynamo=False,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    calibration = np.random.default_rng(0).random((8, 3, 16, 16), dtype=np.float32)
    for method in ("minmax", "percentile"):  # minmax once wrote a broken file silently; percentile crashed
        with pytest.raises(ImgcheckError, match=r"holds 1 constant\(s\) that are not finite"):
            quantize_onnx(source, dest, calibration, resolve_scheme("u8s8"), tmp_path, method)
        assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float.onnx"]  # the prepared copy is gone too


def _constant(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name,
                            value=numpy_helper.from_array(np.array([value], np.float32)))


def test_infinite_constants_are_found_in_initializers_constant_nodes_and_subgraphs():
    branch = helper.make_graph([_constant("inside_if", float("nan"))], "branch", [],
                               [helper.make_tensor_value_info("inside_if", TensorProto.FLOAT, [1])])
    graph = helper.make_graph(
        [_constant("top_constant", float("-inf")), _constant("finite_constant", 1.0),
         helper.make_node("If", ["cond"], ["out"], name="if", then_branch=branch, else_branch=branch)],
        "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.array([np.inf, 0], np.float32), "bad_weight"),
                     numpy_helper.from_array(np.array([1, 2], np.int64), "shape")])
    assert non_finite_constants(graph) == ["bad_weight", "top_constant", "inside_if", "inside_if"]
