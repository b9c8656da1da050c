"""A training checkpoint is a model like any other: scan, calibrate, bench and info all take `best.pt`."""

import csv
import io
import json

import numpy as np

from imgcheck.infer.cli.root import cli


def test_a_checkpoint_works_everywhere_a_model_is_accepted(runner, trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    test_set = data / "test"
    scan = runner.invoke(cli, ["scan", str(test_set), "--model", str(checkpoint), "--out", str(tmp_path / "v.csv"),
                               "--workers", "0", "--json"])
    assert scan.exit_code == 0, scan.output
    assert "torch eager (cpu)" in scan.stderr and json.loads(scan.stdout)["metrics"]["n"] == 80
    record = json.loads((tmp_path / "v.csv.json").read_text())
    assert record["provider"] == "torch eager (cpu)" and record["model"]["meta"]["output"] == "logit"

    export = runner.invoke(cli, ["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "onnx")])
    assert export.exit_code == 0, export.output
    onnx_scan = runner.invoke(cli, ["scan", str(test_set), "--model", str(tmp_path / "onnx" / "cnn.onnx"), "--out",
                                    str(tmp_path / "o.csv"), "--workers", "0", "--quiet"])
    assert onnx_scan.exit_code == 0
    eager_rows = list(csv.reader(io.StringIO((tmp_path / "v.csv").read_text())))[1:]
    onnx_rows = list(csv.reader(io.StringIO((tmp_path / "o.csv").read_text())))[1:]
    assert len(eager_rows) == len(onnx_rows) == 80
    np.testing.assert_allclose([float(r[1]) for r in eager_rows], [float(r[1]) for r in onnx_rows], atol=2e-6)

    calibrate = runner.invoke(cli, ["calibrate", str(checkpoint), str(test_set), "--workers", "0", "--json"])
    assert calibrate.exit_code == 0, calibrate.output
    assert 0 < json.loads(calibrate.stdout)["threshold"] < 1
    refused = runner.invoke(cli, ["calibrate", str(checkpoint), str(test_set), "--out", str(tmp_path / "c.pt")])
    assert refused.exit_code == 1 and "export it" in refused.stderr

    bench = runner.invoke(cli, ["bench", str(checkpoint), "--synthetic", "8", "--batch-sizes", "4", "--repeat", "1",
                                "--warmup", "0", "--workers", "0", "--out", str(tmp_path / "b.json"), "--quiet"])
    assert bench.exit_code == 0, bench.output
    assert {r["format"] for r in json.loads((tmp_path / "b.json").read_text())} == {"eager", "-"}

    info = runner.invoke(cli, ["info", str(checkpoint)])
    assert info.exit_code == 0 and "checkpoint: training checkpoint" in info.stdout and "epoch" in info.stdout
