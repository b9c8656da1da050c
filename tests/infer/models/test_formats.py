import pytest

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.formats import FORMATS, _resolve, format_for


@pytest.mark.parametrize("carrier, precision, expected", [
    ("onnx", "fp32", "onnx"), ("onnx", "fp16", "onnx-fp16"), ("onnx", "int8", "onnx-int8"),
    ("torchscript", "fp32", "torchscript"), ("checkpoint", "fp32", "checkpoint"),
])
def test_a_file_finds_its_row_by_carrier_and_precision(carrier, precision, expected):
    assert format_for(carrier, precision).name == expected


def test_an_unregistered_combination_is_a_clear_error():
    with pytest.raises(ModelFileError, match="no registered format holds int8 weights in a torchscript file"):
        format_for("torchscript", "int8")


def test_every_registered_format_resolves_its_exporter_and_backend():
    for fmt in FORMATS.values():
        assert callable(fmt.backend_class())
        assert fmt.exporter is None or callable(_resolve(fmt.exporter))
        assert fmt.precision in ("fp32", "fp16", "int8") and fmt.runtime in ("onnxruntime", "torch")
        assert fmt.carrier in ("onnx", "torchscript", "checkpoint") and fmt.cpu
    assert FORMATS["checkpoint"].exporter is None  # run by the eager backend, written by `imgcheck train`
    with pytest.raises(ModelFileError, match="does not write checkpoint files"):
        FORMATS["checkpoint"].exporter_function()
