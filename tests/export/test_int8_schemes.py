"""The int8 schemes: which one a CPU gets by default, and that each writes the weights it names and passes the
parity gate."""

import json

import onnx
import pytest
from onnx import numpy_helper

from imgcheck.export.int8_schemes import SCHEMES, default_scheme, has_vnni, resolve_scheme
from imgcheck.export.pipeline import export_checkpoint
from imgcheck.infer.cli.root import cli


def test_vnni_or_amx_cpus_get_signed_weights_others_unsigned():
    assert default_scheme({"avx2", "avx512f", "avx512_vnni"}).name == "u8s8"
    assert default_scheme({"avx2", "avx_vnni"}).name == "u8s8"
    assert default_scheme({"avx2", "amx_int8", "amx_tile"}).name == "u8s8"
    assert default_scheme({"avx2", "fma"}).name == "u8u8"  # AVX2 without VNNI: U8S8 would saturate
    assert default_scheme(set()).name == "u8u8"  # unknown CPU (no /proc/cpuinfo): the scheme that cannot saturate
    assert has_vnni(["avx512_vnni"]) and not has_vnni(["avx512f", "avx2"])


def test_auto_resolves_by_the_flags_and_names_are_checked():
    assert resolve_scheme("auto", {"avx2"}) is SCHEMES["u8u8"]
    assert resolve_scheme("u8s8-reduce-range").reduce_range and resolve_scheme("u8s8-reduce-range").signed_weights
    with pytest.raises(ValueError, match="unknown int8 scheme 'u4'"):
        resolve_scheme("u4")


def _weight_types(path):
    """The element types of the quantized weights: the 8-bit initializers that DequantizeLinear reads (biases are
    int32 in every scheme)."""
    proto = onnx.load(str(path))
    initializers = {i.name: i for i in proto.graph.initializer}
    types = set()
    for node in proto.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            types.add(numpy_helper.to_array(initializers[node.input[0]]).dtype.name)
    return types - {"int32"}


@pytest.mark.parametrize("scheme, weights", [("u8u8", {"uint8"}), ("u8s8", {"int8"}),
                                             ("u8s8-reduce-range", {"int8"})])
def test_each_scheme_writes_its_weights_passes_parity_and_is_recorded(trained_cnn, tmp_path, scheme, weights):
    checkpoint, data = trained_cnn
    (record,) = export_checkpoint(checkpoint, tmp_path, ["onnx-int8"], check_images=data / "test",
                                  calibration=data / "train", measure_speed=False, int8_scheme=scheme)
    assert record.parity.passed and record.int8_scheme == scheme
    assert record.as_dict()["int8_scheme"] == scheme
    assert _weight_types(record.path) == weights


def test_the_cli_records_the_scheme_in_the_export_report(runner, trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--format", "onnx", "--int8", "--int8-scheme", "u8u8",
                                 "--calibration", str(data / "train"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "export_report.json").read_text())
    files = {f["format"]: f for f in report["files"]}
    assert files["onnx-int8"]["int8_scheme"] == "u8u8" and "int8_scheme" not in files["onnx"]


def test_an_unknown_scheme_is_a_usage_error(runner, trained_cnn):
    checkpoint, _ = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--int8", "--int8-scheme", "u4"])
    assert result.exit_code == 2 and "--int8-scheme" in result.stderr
