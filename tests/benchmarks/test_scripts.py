"""Every benchmark script compiles, runs as `python benchmarks/NAME.py` with the harness importable, and leaves
the results folder, the command record and Markdown tables to the harness (one place for each)."""

import py_compile
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.rglob("*.py") if p.name != "harness.py")
# what only the harness may do: name the results folder, build a command line, draw a table's rule, read the clock
OWN_COPIES = {
    "a RESULTS constant": re.compile(r"^RESULTS\s*=", re.MULTILINE),
    "a hand-made table rule": re.compile(r"\|\s*:?-{3}"),
    "a hand-made command line": re.compile(r"""["']python ["']\s*\+|shlex\.join\(\[\s*["']python["']"""),
    "a timer of its own": re.compile(r"perf_counter"),
}


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BENCHMARKS)))
def test_each_script_compiles(script, tmp_path):
    py_compile.compile(str(script), cfile=str(tmp_path / "out.pyc"), doraise=True)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BENCHMARKS)))
def test_no_script_keeps_its_own_copy_of_what_the_harness_does(script):
    source = script.read_text()
    found = [what for what, pattern in OWN_COPIES.items() if pattern.search(source)]
    assert not found, f"{script.name} has {', '.join(found)}: use benchmarks/harness.py"


def test_a_script_run_as_a_file_imports_the_harness():
    result = subprocess.run([sys.executable, "benchmarks/cli_startup.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--repeats" in result.stdout


def test_the_shell_scripts_write_bench_records_with_out_not_json():
    for script in BENCHMARKS.glob("*.sh"):
        text = script.read_text()
        flagged = re.search(r"--json\s+[^-\s\\]", text)  # --json followed by a value
        assert not flagged, f"{script.name}: `imgcheck bench --json` is a flag now; write the record with --out FILE"
    assert "--out" in (BENCHMARKS / "bench_cpu.sh").read_text()


def test_int8_schemes_runs_every_static_scheme_on_a_small_model(trained_cnn, tmp_path):
    """The script once tried the dynamic schemes on convolutional networks (added to SCHEMES after it was written)
    and stopped with an error; this runs it end to end on a tiny exported CNN."""
    import json

    from imgcheck.export.pipeline import export_checkpoint

    checkpoint, data = trained_cnn
    (record,) = export_checkpoint(checkpoint, tmp_path / "model", ["onnx"], measure_speed=False)
    out = tmp_path / "schemes.md"
    result = subprocess.run([sys.executable, "benchmarks/int8_schemes.py", "--model", f"cnn={record.path}",
                             "--calibration", str(data / "train"), "--test", str(data / "test"), "--count", "8",
                             "--calibration-count", "16", "--batch-size", "4", "--repeat", "1", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [row["scheme"] for row in rows] == ["fp32", "u8u8", "u8s8", "u8s8-reduce-range"]


def test_int8_float_layers_runs_every_plan_on_a_small_model(trained_cnn, tmp_path):
    import json

    from imgcheck.export.pipeline import export_checkpoint

    checkpoint, data = trained_cnn
    (record,) = export_checkpoint(checkpoint, tmp_path / "model", ["onnx"], measure_speed=False)
    out = tmp_path / "float_layers.md"
    result = subprocess.run([sys.executable, "benchmarks/int8_float_layers.py", "--model", f"cnn={record.path}",
                             "--calibration", str(data / "train"), "--check", str(data / "test"), "--schemes", "u8u8",
                             "--batch-size", "4", "--repeat", "1", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [row["plan"] for row in rows] == ["-", "first conv only", "last 10%", "last 25%", "first 25%"]
    assert rows[0]["agreement"] == 1.0 and all(row["layers_in_float"] >= 1 for row in rows[1:])
