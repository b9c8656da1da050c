import json
import subprocess
import sys

import pytest

from imgcheck.infer.cli import root as cli_module
from imgcheck.infer.cli.root import COMMANDS, cli
from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.version import imgcheck_version
from tiny_models import tiny_meta

HEAVY_MODULES = ("torch", "torchvision", "sklearn", "onnxruntime", "onnx", "matplotlib", "scipy")

_MODULES_AFTER_HELP = """
import json, sys
from imgcheck.infer.cli.root import cli
try:
    cli(sys.argv[1:], prog_name="imgcheck")
except SystemExit:
    pass
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.stdin.read())))
print("HEAVY=" + json.dumps(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], *[[name, "--help"] for name in COMMANDS]], ids=" ".join)
def test_help_imports_no_heavy_module(args):
    result = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER_HELP, *args], input=json.dumps(HEAVY_MODULES),
        capture_output=True, text=True, check=True,
    )
    assert "Usage: imgcheck" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY=[]"


def test_root_help_lists_every_command_with_its_help(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name, command in COMMANDS.items():
        assert name in result.stdout and command.short_help[:30] in result.stdout
    assert "Exit codes" in result.stdout


def test_version_names_imgcheck_and_the_runtime(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"imgcheck {imgcheck_version()} (onnxruntime ")


@pytest.mark.parametrize("carrier", ["onnx", "torchscript", "checkpoint"])
def test_info_prints_a_table(runner, tiny_files, carrier):
    result = runner.invoke(cli, ["info", str(tiny_files[carrier])])
    assert result.exit_code == 0, result.output
    for text in ("tiny", "3x32x32", "bilinear", "0.42", "synthetic", "val_accuracy", carrier):
        assert text in result.stdout
    import hashlib

    assert hashlib.sha256(tiny_files[carrier].read_bytes()).hexdigest() in result.stdout
    assert result.stderr == ""


def test_info_json_is_the_meta(runner, tiny_files):
    result = runner.invoke(cli, ["info", "--json", str(tiny_files["onnx"])])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == tiny_meta().to_dict()


def test_info_on_a_model_without_meta_exits_1_with_a_clear_message(tiny_files):
    # through the real console entry point, as a user runs it
    result = subprocess.run([sys.executable, "-m", "imgcheck.infer", "info", str(tiny_files["onnx_bare"])],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "carries no imgcheck metadata" in result.stderr and "imgcheck export" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_info_on_a_missing_file_exits_1(runner, tmp_path):
    result = runner.invoke(cli, ["info", str(tmp_path / "nope.onnx")])
    assert result.exit_code == 1
    assert "no such model file" in result.stderr


def test_usage_errors_exit_2(runner):
    assert runner.invoke(cli, ["info", "a.onnx", "b.onnx"]).exit_code == 2
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    assert runner.invoke(cli, ["--no-such-flag"]).exit_code == 2


def _boom(path):
    raise RuntimeError("something\nunexpected")


def test_unexpected_errors_are_one_line_without_debug(runner, monkeypatch, tiny_files):
    import imgcheck.infer.models.bundled as opener

    monkeypatch.setattr(opener, "open_model_file", _boom)
    result = runner.invoke(cli, ["info", str(tiny_files["onnx"])])
    assert result.exit_code == 1
    assert "unexpected RuntimeError: something unexpected" in result.stderr
    assert "--debug" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_the_traceback(runner, monkeypatch, tiny_files):
    import imgcheck.infer.models.bundled as opener

    monkeypatch.setattr(opener, "open_model_file", _boom)
    result = runner.invoke(cli, ["--debug", "info", str(tiny_files["onnx"])])
    assert isinstance(result.exception, RuntimeError)  # propagates with its traceback

    def known(path):
        raise ModelFileError("a known problem")

    monkeypatch.setattr(opener, "open_model_file", known)
    result = runner.invoke(cli, ["--debug", "info", str(tiny_files["onnx"])])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "a known problem" in result.stderr


def test_every_registered_command_imports_and_is_a_click_command():
    for name in COMMANDS:
        assert cli_module.cli.get_command(None, name).name == name


_WITHOUT_TORCH = """
import sys
for blocked in ("torch", "torchvision", "onnx", "onnxscript"):
    sys.modules[blocked] = None  # any import of these now fails
from imgcheck.infer.cli.root import cli
cli(sys.argv[1:], prog_name="imgcheck")
"""


def test_info_on_onnx_and_torchscript_needs_no_torch(tiny_files):
    for carrier in ("onnx", "torchscript"):
        result = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, "info", "--json", str(tiny_files[carrier])],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == tiny_meta().to_dict()


def test_info_on_a_checkpoint_without_torch_says_what_to_install(tiny_files):
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, "info", str(tiny_files["checkpoint"])],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "needs torch: pip install -e '.[train]'" in result.stderr and "Traceback" not in result.stderr
