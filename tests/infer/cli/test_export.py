import json

import onnx

from imgcheck.infer.cli.root import cli


def test_export_writes_both_formats_and_a_report(runner, trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path), "--check-images", str(data / "test")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "cnn.onnx" in result.stderr and "cnn.torchscript.pt" in result.stderr
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert [f["format"] for f in report["files"]] == ["onnx", "torchscript"]
    for entry in report["files"]:
        assert entry["size_bytes"] > 0 and entry["parity"]["passed"] and entry["parity"]["n"] == 64 + 80
        assert entry["cpu_images_per_s"]["batch_1"] > 0 and entry["cpu_images_per_s"]["batch_64"] > 0
    assert report["versions"]["torch"] and report["versions"]["onnxruntime"]


def test_a_failed_gate_exits_1_and_writes_nothing(runner, trained_cnn, tmp_path, monkeypatch):
    import imgcheck.export.onnx_export as onnx_export

    real_finish = onnx_export._finish

    def finish_with_wrong_meta_threshold(proto, job, path):
        real_finish(proto, job, path)
        model = onnx.load(str(path))
        for node in model.graph.node:
            if node.op_type == "Sigmoid":
                node.op_type = "Relu"  # a wrong graph: p_fake is no longer a probability
        onnx.save(model, str(path))

    monkeypatch.setattr(onnx_export, "_finish", finish_with_wrong_meta_threshold)
    checkpoint, _ = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "onnx export of cnn failed the parity gate" in result.stderr and "No file was written" in result.stderr
    assert "worst |dp_fake|" in result.stderr and "bound: max |dp| <= 0.0001" in result.stderr
    assert not (tmp_path / "out").exists()  # the folder the export would have made is not left behind
    (tmp_path / "existing").mkdir()
    again = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "existing")])
    assert again.exit_code == 1 and list((tmp_path / "existing").iterdir()) == []  # a folder that was there stays


def test_int8_needs_calibration(runner, trained_cnn, tmp_path):
    checkpoint, _ = trained_cnn
    result = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path), "--int8"])
    assert result.exit_code == 1 and "--int8 needs --calibration DIR" in result.stderr


def test_a_reduced_precision_export_without_real_images_is_refused_and_says_which_images_it_compared(
        runner, trained_cnn, tmp_path):
    """fp16/int8 verdicts are compared on real images (issue 30): with neither --check-images nor --calibration the
    export is refused in one line and writes nothing; otherwise it says which images the gate compared."""
    checkpoint, data = trained_cnn
    bare = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "a"), "--format", "onnx", "--fp16"])
    assert bare.exit_code == 1 and not (tmp_path / "a").exists()
    assert "the fp16 parity gate compares verdicts on real images, and there are none" in bare.stderr
    assert "--check-images DIR" in bare.stderr and "--calibration DIR" in bare.stderr
    assert len(bare.stderr.strip().splitlines()) == 1
    checked = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "b"), "--format", "onnx",
                                  "--int8", "--calibration", str(data / "train"), "--check-images", str(data / "test")])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.stderr.split())
    assert f"parity compared 64 random-pixel inputs and 80 real images: --check-images {data / 'test'}" in said
    assert "fp16/int8 verdict agreement counts the real images only" in said
    plain = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "c"), "--format", "onnx"])
    assert plain.exit_code == 0 and "parity compared 64 random-pixel inputs\n" in plain.stderr  # fp32: exact anywhere
