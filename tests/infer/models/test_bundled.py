"""The bundled default model: shipped in the package, readable without torch, good on the bundled samples."""

import json
import subprocess
import sys
from pathlib import Path

from imgcheck.infer.models.bundled import bundled_model_path
from imgcheck.infer.cli.root import cli
from imgcheck.infer.models.model_file import file_sha256, read_meta

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
MODEL_CARD = Path(__file__).resolve().parents[3] / "MODEL_CARD.md"

# An import hook makes torch and onnx unimportable, as on a machine with only the `cpu` extra installed
# (setting sys.modules["torch"] = None would not do: scipy inspects sys.modules for torch arrays).
_SCAN_WITHOUT_TORCH = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "onnx", "onnxscript"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Absent())
from imgcheck.infer.cli.root import cli
try:
    cli(["scan", sys.argv[1], "--out", sys.argv[2], "--json", "--quiet", "--workers", "0"], prog_name="imgcheck")
finally:
    assert "torch" not in sys.modules and "onnx" not in sys.modules
"""


def test_the_bundled_model_carries_its_metadata_and_threshold():
    path = bundled_model_path()
    meta = read_meta(path)
    assert meta.arch == "cnn_bn_wide" and meta.output == "probability" and meta.input_size == (3, 32, 32)
    assert meta.provenance.train_image_sizes == ((32, 32), (32, 32))  # what scans compare their images to
    assert 0 < meta.threshold < 1 and meta.provenance.selection_metric == "val_accuracy"
    assert meta.provenance.dataset == "cifake" and meta.provenance.test_metrics["accuracy"] >= 0.96
    assert path.stat().st_size <= 5 * 1024 * 1024
    assert file_sha256(path) in MODEL_CARD.read_text()  # the card describes this very file


def test_it_scans_the_bundled_samples_without_torch_at_90_percent_or_better(tmp_path):
    result = subprocess.run([sys.executable, "-c", _SCAN_WITHOUT_TORCH, str(SAMPLES), str(tmp_path / "v.csv")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    cifake = {name: m for name, m in doc["groups"]["category"].items()}
    assert sum(m["n"] for m in cifake.values()) == 80  # 40 REAL + 40 FAKE CIFAKE test images
    correct = sum(m["accuracy"] * m["n"] for m in cifake.values())
    assert correct / 80 >= 0.90
    assert doc["metrics"]["n"] == 83 and doc["model"]["name"] == "cnn_bn_wide-cifake.onnx"


def test_scan_bench_and_info_default_to_it(runner, tmp_path):
    shown = runner.invoke(cli, ["info", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["arch"] == "cnn_bn_wide"
    result = runner.invoke(cli, ["scan", str(SAMPLES / "FAKE"), "--out", str(tmp_path / "v.csv"), "--workers", "0",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "v.csv.json").read_text())["model"]["path"] == str(bundled_model_path())
    bench = runner.invoke(cli, ["bench", "--synthetic", "8", "--stages", "infer", "--batch-sizes", "4", "--repeat", "1",
                                "--workers", "0", "--json"])
    assert bench.exit_code == 0, bench.output
    assert json.loads(bench.stdout)[0]["model"] == "cnn_bn_wide-cifake.onnx"
