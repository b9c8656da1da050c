"""Whether an int8 file's signed weights fit 7 bits, read from the file without onnx: what decides the saturation
warning (7-bit weights cannot saturate a 16-bit pair sum; 8-bit ones can)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imgcheck.infer.models.onnx_proto import read_onnx_graph


def _int8_model(weights: TensorProto) -> bytes:
    """A QDQ graph whose one quantized weight is `weights` (plus a zero point of its type in int32_data, as
    onnxruntime's quantizer writes them)."""
    scale = numpy_helper.from_array(np.full(weights.dims[0], 0.01, np.float32), "scale")
    zero = helper.make_tensor("zero", weights.data_type, [weights.dims[0]], [0] * weights.dims[0])
    node = helper.make_node("DequantizeLinear", [weights.name, "scale", "zero"], ["w"], axis=0)
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("w", TensorProto.FLOAT, weights.dims)],
                              [weights, scale, zero])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("values, within", [
    ([-64, 0, 64, 3], True),  # reduce_range's [-64, 64]
    ([-65, 0, 1, 2], False),
    ([0, 65, 1, 2], False),
    ([-128, 127, 0, 0], False),
])
@pytest.mark.parametrize("stored", ["raw_data", "int32_data"])
def test_signed_weights_within_64_are_7_bit_wherever_they_are_stored(values, within, stored):
    if stored == "raw_data":
        weights = numpy_helper.from_array(np.array(values, np.int8).reshape(2, 2), "w_q")
        assert weights.raw_data
    else:
        weights = helper.make_tensor("w_q", TensorProto.INT8, [2, 2], values)
        assert list(weights.int32_data) == values
    graph = read_onnx_graph(_int8_model(weights))
    assert graph.precision == "int8" and graph.signed_int8_weights
    assert graph.signed_int8_within_7_bits is within


def test_external_weights_are_not_read_and_not_called_7_bit():
    weights = helper.make_tensor("w_q", TensorProto.INT8, [2, 2], [0, 0, 0, 0])
    del weights.int32_data[:]
    weights.data_location = TensorProto.EXTERNAL
    weights.external_data.add(key="location", value="w.bin")
    graph = read_onnx_graph(_int8_model(weights))
    assert graph.signed_int8_weights and not graph.signed_int8_within_7_bits


def test_unsigned_weights_are_not_signed_at_all():
    weights = helper.make_tensor("w_q", TensorProto.UINT8, [2, 2], [0, 200, 255, 3])
    graph = read_onnx_graph(_int8_model(weights))
    assert not graph.signed_int8_weights and not graph.signed_int8_within_7_bits
