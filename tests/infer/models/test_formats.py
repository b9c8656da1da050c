import pytest

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.formats import FORMATS, _resolve, format_of


@pytest.mark.parametrize("name, expected", [
    ("m.onnx", "onnx"), ("m.fp16.onnx", "onnx-fp16"), ("M.INT8.ONNX", "onnx-int8"),
    ("m.torchscript.pt", "torchscript"), ("model.pt", "torchscript"),
])
def test_format_is_known_by_its_suffix(name, expected):
    assert format_of(name).name == expected


def test_unknown_suffix_is_a_clear_error():
    with pytest.raises(ModelFileError, match="unknown model format"):
        format_of("model.h5")


def test_every_registered_format_resolves_its_exporter_and_backend():
    for fmt in FORMATS.values():
        assert callable(_resolve(fmt.exporter)) and callable(_resolve(fmt.backend))
        assert fmt.precision in ("fp32", "fp16", "int8") and fmt.runtime in ("onnxruntime", "torch")
        assert fmt.cpu
