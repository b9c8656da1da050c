"""benchmarks/reproduce_report.py's recipe rows: one row per int8 quantization tried (each calibration and, within
it, each scheme `--int8-scheme auto` tried), and one export and scan when both selections pick the same epoch."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def reproduce():
    return load_benchmark("reproduce_report")


REFUSED_TWICE = (
    "onnx-int8 export of resnet50_v1 failed the parity gate against PyTorch: verdict agreement 99.30% on 2000 real "
    "images is below 99.5% (the 64 random-pixel inputs: 100.00%); worst |dp_fake| 0.2 over 2064 inputs (...). No file "
    "was written. It was quantized with scheme u8u8 (after scheme u8s8-reduce-range, refused: verdict agreement "
    "99.10% on 2000 real images is below 99.5% (the 64 random-pixel inputs: 98.44%)) and minmax calibration: try "
    "--int8-calibration percentile or entropy, another --int8-scheme, or more --calibration images; or ship the fp32 "
    "or fp16 file.")


def test_every_scheme_and_calibration_tried_is_a_row(reproduce, tmp_path):
    export = tmp_path / "resnet50_v1_recipe" / "export"
    export.mkdir(parents=True)
    (export / reproduce.INT8_REFUSED).write_text(f"minmax: {REFUSED_TWICE}\n")
    passed = {"format": "onnx-int8", "int8_scheme": "u8u8", "int8_calibration": "percentile",
              "int8_schemes_refused": [{"scheme": "u8s8-reduce-range",
                                        "failure": "|dROC-AUC| = 0.0031 exceeds 0.002 (verdict agreement 99.60% on "
                                                   "2000 real images)"}],
              "parity": {"real_images": 2000, "verdict_agreement": 0.9965, "auc_reference": 0.97,
                         "auc_export": 0.9695}}
    (export / "export_report.json").write_text(json.dumps({"files": [passed]}))
    rows = reproduce.int8_gate_rows(tmp_path, kept=tmp_path / "int8_gate.json")
    assert rows == [
        ["resnet50_v1", "export", "minmax", "refused", "99.10% of 2,000", "—", "u8s8-reduce-range"],
        ["resnet50_v1", "export", "minmax", "refused", "99.30% of 2,000", "—", "u8u8"],
        ["resnet50_v1", "export", "percentile", "refused", "99.60% of 2,000", "0.0031", "u8s8-reduce-range"],
        ["resnet50_v1", "export", "percentile", "passed", "99.65% of 2,000", "0.0005", "u8u8"],
    ]


def test_int8_gate_rows_outlive_their_run_folder(reproduce, tmp_path):
    """Rows measured from a run folder are kept beside the results, so the page keeps them once the folder is gone
    (another machine); a run folder present again replaces its arch's kept rows."""
    kept = tmp_path / "results" / "int8_gate.json"
    export = tmp_path / "runs" / "resnet18_v1_recipe" / "export"
    export.mkdir(parents=True)
    (export / reproduce.INT8_REFUSED).write_text(f"minmax: {REFUSED_TWICE}\n")
    measured = reproduce.int8_gate_rows(tmp_path / "runs", kept=kept)
    assert len(measured) == 2
    shutil.rmtree(tmp_path / "runs")
    assert reproduce.int8_gate_rows(tmp_path / "runs", kept=kept) == measured
    export.mkdir(parents=True)
    (export / reproduce.INT8_REFUSED).write_text("entropy: verdict agreement 99.00% on 2000 real images is below\n")
    again = reproduce.int8_gate_rows(tmp_path / "runs", kept=kept)
    assert [row[2] for row in again] == ["entropy"]


def _recipe_run(folder: Path, best: int, test_accuracies: list[float]) -> Path:
    """A finished recipe run's files, as far as recipe_rows reads them."""
    folder.mkdir(parents=True)
    history = [{"epoch": e, "train_loss": 0.5, "train_accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.8,
                "test_loss": 0.4, "test_accuracy": acc, "seconds": 1.0, "train_images_per_s": 100.0}
               for e, acc in enumerate([0.5, *test_accuracies])]
    (folder / "history.json").write_text(json.dumps(history))
    (folder / "history.csv").write_text("epoch\n")
    (folder / "summary.json").write_text(json.dumps({"best_epoch": best, "untrained": {}, "data": {}}))
    return folder


@pytest.mark.parametrize("best, exports", [(2, ["best.pt"]), (1, ["best.pt", "epochs/epoch_02.pt"])])
def test_a_recipe_run_whose_selections_agree_is_exported_and_scanned_once(reproduce, tmp_path, monkeypatch, best,
                                                                          exports):
    run_dir = _recipe_run(tmp_path / "runs" / "cnn_recipe", best, [0.80, 0.85])  # the report row picks epoch 2
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    exported, scanned = [], []
    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce, "train", lambda *args: run_dir)

    def export(run, arch, log, checkpoint, folder, every_format):
        exported.append(checkpoint)
        return run / folder / f"{arch}.onnx"

    def score(model, data, name, metrics, log):
        scanned.append(name)
        (metrics / f"{name}.json").write_text(json.dumps({"model": {"path": str(model)}}))
        return {"model": {"path": str(model)}}

    monkeypatch.setattr(reproduce, "export", export)
    monkeypatch.setattr(reproduce, "score", score)
    rows = reproduce.recipe_rows("cnn", tmp_path / "runs", metrics_dir, [], tmp_path)
    assert exported == exports and len(scanned) == 2 * len(exports)
    assert [row[1] for row in rows] == ["report", "ours"]
    report_model = json.loads((metrics_dir / "cnn_report.cifake_test.json").read_text())["model"]["path"]
    assert report_model.endswith("export/cnn.onnx" if best == 2 else "export_epoch_02/cnn.onnx")
    assert (metrics_dir / "cnn_report.shoes.json").exists()


def test_a_row_made_again_lists_only_its_current_commands(reproduce, tmp_path, monkeypatch):
    """Before, a re-made row's commands were appended after its earlier making's (a calibration since refused, an
    older training command) and had to be pruned by hand; rows not made again keep theirs."""
    for folder in ("data/cifake/test", "data/shoes"):
        (tmp_path / folder).mkdir(parents=True)
    results = tmp_path / "results"
    (results / "reproduce_report").mkdir(parents=True)
    (results / "reproduce_report" / "commands.json").write_text(json.dumps(
        {"cnn_recipe": ["imgcheck train --old", "imgcheck export --int8-calibration minmax"],
         "resnet18_v1_recipe": ["imgcheck train --arch resnet18_v1"]}))
    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce, "RESULTS", results)
    monkeypatch.setattr(reproduce, "recipe_rows", lambda arch, runs, metrics, log, weights: log.extend(
        ["imgcheck train --new", "imgcheck train --new"]))
    monkeypatch.setattr(reproduce, "collect_rows", lambda metrics: [])
    monkeypatch.setattr(reproduce, "render", lambda rows, commands: ["table"])
    monkeypatch.setattr(sys, "argv", ["reproduce_report.py", "--archs", "cnn:recipe",
                                      "--bundled", "no/such/model.onnx"])
    reproduce.main()
    commands = json.loads((results / "reproduce_report" / "commands.json").read_text())
    assert commands == {"cnn_recipe": ["imgcheck train --new"],
                        "resnet18_v1_recipe": ["imgcheck train --arch resnet18_v1"]}
