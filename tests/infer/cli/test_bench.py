import json

import pytest

from imgcheck.infer.cli.root import cli

RECORD_FIELDS = {
    "model", "arch", "format", "precision", "device", "provider", "img_size", "param_count", "file_bytes", "workers",
    "stage", "batch_size", "threads", "samples_per_sec", "samples_per_sec_min", "samples_per_sec_max",
    "step_time_ms_p50", "step_time_ms_p95", "step_time_ms_p99", "images", "warmup", "repeat", "speedup", "cpu", "gpu",
    "onnxruntime_version", "torch_version", "numpy_version", "pillow_version",
}
QUICK = ["--synthetic", "16", "--repeat", "2", "--warmup", "1", "--workers", "0"]


def _bench(runner, tmp_path, *args):
    out = tmp_path / "bench.json"
    result = runner.invoke(cli, ["bench", *map(str, args), *QUICK, "--out", str(out)])
    return result, (json.loads(out.read_text()) if out.exists() else None)


def test_every_stage_and_batch_size_gives_a_record_with_every_field(runner, tiny_files, tmp_path):
    result, records = _bench(runner, tmp_path, tiny_files["onnx"], "--batch-sizes", "1,8")
    assert result.exit_code == 0, result.output
    assert [(r["stage"], r["batch_size"]) for r in records] == [
        ("infer", 1), ("decode", 1), ("scan", 1), ("infer", 8), ("decode", 8), ("scan", 8)]
    for record in records:
        assert set(record) == RECORD_FIELDS
        assert record["samples_per_sec_min"] <= record["samples_per_sec"] <= record["samples_per_sec_max"]
        assert record["speedup"] == 1.0 and record["images"] == 16 and record["img_size"] == "32x32"
    infer = records[0]
    assert infer["param_count"] == 4 * 3 * 9 + 4 + 4 + 1 and infer["file_bytes"] > 0  # conv and linear weights
    assert infer["step_time_ms_p50"] <= infer["step_time_ms_p99"] and records[2]["step_time_ms_p50"] is None
    assert "images/s" in result.stdout and "infer" in result.stdout


def test_an_onnx_file_and_its_torchscript_twin_give_one_record_each(runner, tiny_files, tmp_path):
    result, records = _bench(runner, tmp_path, tiny_files["onnx"], tiny_files["torchscript"], "--stages", "infer",
                             "--batch-sizes", "4")
    assert result.exit_code == 0, result.output
    assert [r["format"] for r in records] == ["onnx", "torchscript"]
    assert [r["param_count"] for r in records] == [117, 117]  # the same model in two carriers
    assert records[0]["speedup"] == 1.0
    assert records[1]["speedup"] == pytest.approx(records[1]["samples_per_sec"] / records[0]["samples_per_sec"])


def test_a_training_checkpoint_runs_as_eager_pytorch(runner, tmp_path):
    from imgcheck.trainer.checkpoint import save_checkpoint
    from imgcheck.infer.models.architectures import build_model, default_meta

    checkpoint = save_checkpoint(tmp_path / "best.pt", build_model("cnn").state_dict(), default_meta("cnn"), epoch=1)
    result, records = _bench(runner, tmp_path, checkpoint, "--stages", "infer,scan", "--batch-sizes", "4")
    assert result.exit_code == 0, result.output
    assert [(r["format"], r["stage"]) for r in records] == [("eager", "infer"), ("eager", "scan")]
    assert records[0]["param_count"] == 224_833 and records[0]["provider"] == "torch eager (cpu)"


@pytest.mark.parametrize("gate, code", [("ips=1", 0), ("ips=1e12", 4), ("infer.ips=1e12", 4), ("scan.ips=1e12", 0),
                                        ("speedup=0.000001", 0)])
def test_fail_below_gates(runner, tiny_files, tmp_path, gate, code):
    result, records = _bench(runner, tmp_path, tiny_files["onnx"], "--stages", "infer", "--batch-sizes", "2",
                             "--fail-below", gate)
    assert result.exit_code == code, result.output
    if code:
        assert "gate failed" in result.stderr and "below the bound" in result.stderr
    assert records  # the JSON is written either way


def test_markdown_output(runner, tiny_files, tmp_path):
    result = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), *QUICK, "--stages", "infer", "--batch-sizes", "2",
                                 "--markdown"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[2].startswith("| model | format |") and lines[4].startswith("| tiny.onnx | onnx | fp32 |")


def test_json_prints_the_records_to_stdout_instead_of_the_table(runner, tiny_files, tmp_path):
    result, written = _bench(runner, tmp_path, tiny_files["onnx"], "--stages", "infer", "--batch-sizes", "2", "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)  # nothing else on stdout
    assert [(r["stage"], r["batch_size"]) for r in records] == [("infer", 2)] and set(records[0]) == RECORD_FIELDS
    assert [r["model"] for r in written] == [r["model"] for r in records]  # --out writes the same records


def test_json_is_a_flag_and_out_takes_the_file(runner, tiny_files, tmp_path):
    old = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), "--json", str(tmp_path / "b.json")])
    assert old.exit_code == 2 and "use --out FILE" in old.stderr
    both = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), "--json", "--markdown"])
    assert both.exit_code == 2 and "--json or --markdown, not both" in both.stderr


def test_usage_errors(runner, tiny_files, tmp_path):
    for args in (["--fail-below", "latency=3"], ["--fail-below", "decode.ips"], ["--batch-sizes", "0"],
                 ["--device", "tpu"], ["--stages", "train"], ["--size", "big"]):
        result = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), *args])
        assert result.exit_code == 2, (args, result.output)
    images = tmp_path / "imgs"
    images.mkdir()
    both = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), "--images", str(images), "--synthetic", "3"])
    assert both.exit_code == 2
    empty = runner.invoke(cli, ["bench", str(tiny_files["onnx"]), "--images", str(images)])
    assert empty.exit_code == 1 and "no images" in empty.output


def test_cuda_without_cuda_is_skipped_with_a_message(runner, tiny_files, tmp_path):
    result, records = _bench(runner, tmp_path, tiny_files["onnx"], "--stages", "infer", "--batch-sizes", "2",
                             "--device", "cpu,cuda")
    assert result.exit_code == 0, result.output
    assert [r["device"] for r in records] == ["cpu"] and "skipped tiny.onnx on cuda" in result.stderr
