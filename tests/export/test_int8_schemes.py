"""The int8 schemes: which one a CPU gets by default, and that each writes the weights it names and passes the
parity gate."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from imgcheck.export.int8_schemes import SCHEMES, auto_schemes, candidate_schemes, default_scheme, has_vnni, resolve_scheme
from imgcheck.export.pipeline import export_checkpoint
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.model_file import ModelFile


def test_vnni_or_amx_cpus_get_signed_weights_other_x86_7_bit_then_unsigned():
    assert default_scheme({"avx2", "avx512f", "avx512_vnni"}).name == "u8s8"
    assert default_scheme({"avx2", "avx_vnni"}).name == "u8s8"
    assert default_scheme({"avx2", "amx_int8", "amx_tile"}).name == "u8s8"
    # x86 without VNNI: 8-bit signed weights could saturate; 7-bit ones cannot, and U8U8 is the fallback
    assert [s.name for s in auto_schemes({"ssse3", "avx2", "fma"})] == ["u8s8-reduce-range", "u8u8"]
    assert [s.name for s in auto_schemes({"asimd", "asimddp"})] == ["u8u8"]  # ARM
    assert default_scheme(set()).name == "u8u8"  # unknown CPU (no /proc/cpuinfo): the scheme that cannot saturate
    assert has_vnni(["avx512_vnni"]) and not has_vnni(["avx512f", "avx2"])


def test_auto_resolves_by_the_flags_and_names_are_checked():
    assert resolve_scheme("auto", {"avx2"}) is SCHEMES["u8s8-reduce-range"]
    assert candidate_schemes("auto", {"avx2"}) == (SCHEMES["u8s8-reduce-range"], SCHEMES["u8u8"])
    assert candidate_schemes("u8s8", {"avx2"}) == (SCHEMES["u8s8"],)  # a named scheme is tried alone
    assert resolve_scheme("u8s8-reduce-range").reduce_range and resolve_scheme("u8s8-reduce-range").signed_weights
    with pytest.raises(ValueError, match="unknown int8 scheme 'u4'"):
        resolve_scheme("u4")


def test_the_dynamic_schemes_need_no_calibration_and_refuse_a_model_without_weight_matmuls(trained_cnn, tmp_path):
    """The CNN's layers are convolutions and a Gemm: nothing for the dynamic scheme to quantize, said so, nothing
    written (the transformers side is tests/export/test_hub.py)."""
    from imgcheck.infer.errors import ImgcheckError

    assert resolve_scheme("dynamic").dynamic and not resolve_scheme("u8s8").dynamic
    assert resolve_scheme("dynamic-reduce-range").reduce_range
    checkpoint, data = trained_cnn
    with pytest.raises(ImgcheckError, match="has none with weights .* choose a static scheme"):
        export_checkpoint(checkpoint, tmp_path / "out", ["onnx-int8"], check_images=data / "test",
                          measure_speed=False, int8_scheme="dynamic")
    assert not (tmp_path / "out").exists()


def _largest_weight(path) -> int:
    """The largest |value| among the quantized weights (int8 or uint8 initializers that DequantizeLinear reads)."""
    proto = onnx.load(str(path))
    initializers = {i.name: i for i in proto.graph.initializer}
    return max(int(np.abs(numpy_helper.to_array(initializers[node.input[0]]).astype(np.int32)).max())
               for node in proto.graph.node
               if node.op_type == "DequantizeLinear" and node.input[0] in initializers
               and initializers[node.input[0]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))


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
    graph = ModelFile.open(record.path).graph()  # read without onnx
    assert graph.signed_int8_weights == ("int8" in weights)
    assert graph.signed_int8_within_7_bits == (scheme == "u8s8-reduce-range")
    assert _largest_weight(record.path) == (64 if scheme == "u8s8-reduce-range" else 127 if scheme == "u8s8" else 255)


@pytest.fixture(scope="module")
def int8_files(trained_cnn, tmp_path_factory):
    """{scheme: path} of the trained CNN exported as U8S8 and as U8U8."""
    checkpoint, data = trained_cnn
    out = tmp_path_factory.mktemp("int8_files")
    files = {}
    for scheme in ("u8s8", "u8s8-reduce-range", "u8u8"):
        (record,) = export_checkpoint(checkpoint, out / scheme, ["onnx-int8"], check_images=data / "test",
                                      calibration=data / "train", measure_speed=False, int8_scheme=scheme)
        files[scheme] = record.path
    return files


@pytest.mark.parametrize("scheme, flags, warned", [
    ("u8s8", {"sse2", "ssse3", "avx2", "fma"}, True),  # x86 without VNNI: the kernels saturate
    ("u8s8", {"avx2", "avx512bw", "avx512_vnni"}, False),
    ("u8s8", {"asimd", "asimddp"}, False),  # ARM: not this saturation
    ("u8u8", {"ssse3", "avx2"}, False),
    ("u8s8-reduce-range", {"ssse3", "avx2"}, False),  # 7-bit weights: 2 x 255 x 64 < 2^15, no saturation
])
def test_a_scan_warns_when_signed_int8_weights_meet_a_cpu_that_saturates_them(
        runner, trained_cnn, int8_files, tmp_path, monkeypatch, scheme, flags, warned):
    _, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: frozenset(flags))
    result = runner.invoke(cli, ["scan", str(data / "test"), "--model", str(int8_files[scheme]),
                                 "--out", str(tmp_path / "v.csv"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert ("signed 8-bit (U8S8) weights" in result.stderr) is warned


SATURATING = frozenset({"sse2", "ssse3", "avx2", "fma"})  # x86 without VNNI


def test_auto_on_a_cpu_that_saturates_writes_7_bit_weights(trained_cnn, tmp_path, monkeypatch):
    checkpoint, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: SATURATING)
    (record,) = export_checkpoint(checkpoint, tmp_path, ["onnx-int8"], check_images=data / "test",
                                  calibration=data / "train", measure_speed=False)
    assert record.int8_scheme == "u8s8-reduce-range" and record.int8_refused == ()
    assert _largest_weight(record.path) <= 64 and "int8_schemes_refused" not in record.as_dict()


def _refusing(monkeypatch, refusals: int) -> list[str]:
    """Make the gate refuse the first `refusals` int8 files (their verdicts read inverted); returns the schemes the
    gate saw, in order."""
    from imgcheck.export import pipeline

    seen, real_compare = [], pipeline.compare

    def compare(fmt, reference, exported, *args, **kwargs):
        if fmt.name == "onnx-int8":
            seen.append(_current_scheme[0])
            if len(seen) <= refusals:
                exported = 1 - exported
        return real_compare(fmt, reference, exported, *args, **kwargs)

    real_export_one = pipeline._export_one

    def export_one(fmt, job, *args, **kwargs):
        _current_scheme[0] = job.int8_scheme
        return real_export_one(fmt, job, *args, **kwargs)

    _current_scheme = [None]
    monkeypatch.setattr(pipeline, "compare", compare)
    monkeypatch.setattr(pipeline, "_export_one", export_one)
    return seen


def test_auto_falls_back_to_unsigned_weights_when_the_gate_refuses_7_bit_ones(trained_cnn, tmp_path, monkeypatch):
    checkpoint, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: SATURATING)
    seen = _refusing(monkeypatch, refusals=1)
    (record,) = export_checkpoint(checkpoint, tmp_path, ["onnx-int8"], check_images=data / "test",
                                  calibration=data / "train", measure_speed=False)
    assert seen == ["u8s8-reduce-range", "u8u8"]
    assert record.int8_scheme == "u8u8" and _weight_types(record.path) == {"uint8"}
    (refused,) = record.as_dict()["int8_schemes_refused"]
    assert refused["scheme"] == "u8s8-reduce-range" and refused["failure"].startswith("verdict agreement")
    assert sorted(p.name for p in tmp_path.iterdir()) == [record.path.name]  # no file of the refused try


def test_when_auto_is_refused_twice_the_message_names_both_tries(trained_cnn, tmp_path, monkeypatch):
    checkpoint, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: SATURATING)
    seen = _refusing(monkeypatch, refusals=2)
    with pytest.raises(ImgcheckError, match=r"quantized with scheme u8u8 \(after scheme u8s8-reduce-range, refused: "
                                            r"verdict agreement .*\) and minmax calibration"):
        export_checkpoint(checkpoint, tmp_path / "out", ["onnx-int8"], check_images=data / "test",
                          calibration=data / "train", measure_speed=False)
    assert seen == ["u8s8-reduce-range", "u8u8"] and not (tmp_path / "out").exists()


def test_a_named_scheme_is_tried_alone(trained_cnn, tmp_path, monkeypatch):
    checkpoint, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: SATURATING)
    seen = _refusing(monkeypatch, refusals=1)
    with pytest.raises(ImgcheckError, match=r"quantized with scheme u8s8-reduce-range and minmax"):
        export_checkpoint(checkpoint, tmp_path / "out", ["onnx-int8"], check_images=data / "test",
                          calibration=data / "train", measure_speed=False, int8_scheme="u8s8-reduce-range")
    assert seen == ["u8s8-reduce-range"]


def test_the_cli_records_the_scheme_in_the_export_report(runner, trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--format", "onnx", "--int8", "--int8-scheme", "u8u8",
                                 "--calibration", str(data / "train"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "export_report.json").read_text())
    files = {f["format"]: f for f in report["files"]}
    assert files["onnx-int8"]["int8_scheme"] == "u8u8" and "int8_scheme" not in files["onnx"]
    assert "int8: scheme u8u8, minmax calibration\n" in result.stderr


def test_the_cli_says_which_scheme_auto_tried_first(runner, trained_cnn, tmp_path, monkeypatch):
    checkpoint, data = trained_cnn
    monkeypatch.setattr("imgcheck.infer.system.cpu_flags", lambda: SATURATING)
    _refusing(monkeypatch, refusals=1)
    result = runner.invoke(cli, ["export", str(checkpoint), "--format", "onnx", "--int8", "--calibration",
                                 str(data / "train"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert ("int8: scheme u8u8, minmax calibration; u8s8-reduce-range was tried first and refused: verdict agreement"
            in " ".join(result.stderr.split()))


def test_an_unknown_scheme_is_a_usage_error(runner, trained_cnn):
    checkpoint, _ = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--int8", "--int8-scheme", "u4"])
    assert result.exit_code == 2 and "--int8-scheme" in result.stderr


def _activation_scales(path) -> dict[str, float]:
    """The scale of every activation QuantizeLinear in a QDQ int8 file (weights are quantized offline, so their
    QuantizeLinear nodes are folded away): what the calibration chose."""
    model = onnx.load(str(path))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {node.input[0]: float(values[node.input[1]]) for node in model.graph.node
            if node.op_type == "QuantizeLinear" and values[node.input[1]].size == 1}


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_each_calibration_method_sets_its_own_ranges_passes_parity_and_is_recorded(trained_cnn, tmp_path, method):
    checkpoint, data = trained_cnn
    records = {m: export_checkpoint(checkpoint, tmp_path / m, ["onnx-int8"], check_images=data / "test",
                                    calibration=data / "train", measure_speed=False, int8_scheme="u8u8",
                                    int8_calibration=m)[0] for m in ("minmax", method)}
    chosen = records[method]
    assert chosen.parity.passed and chosen.as_dict()["int8_calibration"] == method
    minmax, other = _activation_scales(records["minmax"].path), _activation_scales(chosen.path)
    assert minmax.keys() == other.keys() and len(minmax) >= 5
    # a histogram rule never widens a range past the extremes seen, and narrows some
    assert all(other[name] <= minmax[name] * (1 + 1e-6) for name in minmax)
    assert sum(other[name] < minmax[name] * 0.99 for name in minmax) >= 1


def test_histograms_are_collected_batch_by_batch_over_every_calibration_image():
    from imgcheck.export.quantize import _Batches

    inputs = np.arange(70, dtype=np.float32).reshape(70, 1, 1, 1)
    batches = _Batches(inputs, batch_size=32)
    assert len(batches) == 3
    seen = []
    for start in range(len(batches)):  # onnxruntime's CalibStridedMinMax loop, stride 1
        batches.set_range(start, start + 1)
        while (batch := batches.get_next()) is not None:
            seen.append(batch["image"])
    assert np.array_equal(np.concatenate(seen), inputs)


def test_the_calibration_is_checked_and_a_dynamic_scheme_refuses_one(trained_cnn, tmp_path, runner):
    checkpoint, data = trained_cnn
    with pytest.raises(ImgcheckError, match="computes them per batch at run time"):
        export_checkpoint(checkpoint, tmp_path / "d", ["onnx-int8"], check_images=data / "test",
                          int8_scheme="dynamic", int8_calibration="percentile")
    with pytest.raises(ImgcheckError, match="unknown int8 calibration"):
        export_checkpoint(checkpoint, tmp_path / "u", ["onnx-int8"], check_images=data / "test",
                          calibration=data / "train", int8_calibration="kl")
    result = runner.invoke(cli, ["export", str(checkpoint), "--int8", "--int8-calibration", "kl"])
    assert result.exit_code == 2 and "--int8-calibration" in result.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "u").exists()
