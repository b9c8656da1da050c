"""Issue 30, item 4: `imgcheck export` sniffs its input by content, as every command does, and refuses anything but a
training checkpoint in one line of imgcheck's own words: an ONNX or TorchScript model, an empty or unknown file, and
a checkpoint that needs pickled code (never relaying torch's advice to load it with weights_only=False)."""

from __future__ import annotations

import pytest

from hostile_models import pickled_code_checkpoint
from imgcheck.export.job import open_checkpoint
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.model_file import CHECKPOINT, load_checkpoint_dict, torch_load_refusal

TORCH_WORDS = ("weights_only", "Re-running", "add_safe_globals", "safe_globals", "UnpicklingError", "EOFError",
               "WeightsUnpickler")


def _export(runner, path, out):
    return runner.invoke(cli, ["export", str(path), "--out", str(out)])


def _assert_one_line(result, *fragments):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    for word in TORCH_WORDS:
        assert word not in result.stderr, result.stderr


def test_a_pickled_code_checkpoint_is_refused_in_imgchecks_words(runner, tmp_path):
    marker = tmp_path / "code-ran"
    evil = pickled_code_checkpoint(tmp_path / "evil.pt", marker)
    result = _export(runner, evil, tmp_path / "out")
    _assert_one_line(result, str(evil), "refused to load this checkpoint safely", "pickled code (posix.system)",
                     "imgcheck never unpickles code")
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind, fragment", [
    ("onnx", "is an ONNX model; `imgcheck export` takes a training checkpoint"),
    ("onnx_bare", "is an ONNX model; `imgcheck export` takes a training checkpoint"),
    ("torchscript", "is a TorchScript model; `imgcheck export` takes a training checkpoint"),
    ("torchscript_bare", "is a TorchScript model; `imgcheck export` takes a training checkpoint"),
])
def test_an_exported_model_is_refused_by_what_it_is(runner, tiny_files, tmp_path, kind, fragment):
    """Sniffed before its metadata is read: a foreign ONNX file without imgcheck metadata is named for what it is
    too, not for the metadata it lacks."""
    result = _export(runner, tiny_files[kind], tmp_path / "out")
    _assert_one_line(result, fragment, "`imgcheck scan --model`")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, fragment", [
    ("empty.pt", b"", "not a training checkpoint (an empty file)"),
    ("random.pt", bytes(range(256)) * 8, "not a training checkpoint (not a model file imgcheck knows)"),
    ("random.onnx", bytes(range(256)) * 8, "not a training checkpoint (named .onnx, but not a valid ONNX model"),
])
def test_an_empty_or_unknown_file_is_refused(runner, tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    result = _export(runner, path, tmp_path / "out")
    _assert_one_line(result, str(path), fragment, "`imgcheck export` takes a training checkpoint")
    assert not (tmp_path / "out").exists()


def test_a_zip_that_torch_did_not_write_is_refused(runner, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.pt", "w") as archive:
        archive.writestr("readme.txt", "just a zip")
    result = _export(runner, tmp_path / "other.pt", tmp_path / "out")
    _assert_one_line(result, "not a training checkpoint (a zip archive not written by torch)")


def test_a_checkpoint_opens(tiny_files):
    assert open_checkpoint(tiny_files["checkpoint"]).carrier == CHECKPOINT


def test_a_load_that_fails_for_another_reason_is_named_without_torchs_advice(tiny_files, tmp_path):
    """A damaged member is a read error, worded as one; the pickled-code wording is kept for pickles."""
    import pickle

    refusal = torch_load_refusal(pickle.UnpicklingError(
        "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely succeed. "
        "WeightsUnpickler error: Unsupported global: GLOBAL builtins.exec was not an allowed global by default."))
    assert refusal.startswith("refused to load this checkpoint safely: it holds pickled code (builtins.exec)")
    assert not any(word in refusal for word in TORCH_WORDS)
    assert torch_load_refusal(RuntimeError("PytorchStreamReader failed reading file data/0\nmore")) == (
        "cannot read this checkpoint (PytorchStreamReader failed reading file data/0).")
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(b"\x80\x02" + bytes(100))  # not a zip: a pre-1.6 torch file is not read
    with pytest.raises(ModelFileError, match="not a checkpoint written by torch.save"):
        load_checkpoint_dict(legacy)


def test_a_pickled_code_weights_file_is_refused_in_imgchecks_words(tmp_path):
    from imgcheck.infer.models.architectures import build_model

    marker = tmp_path / "code-ran"
    evil = pickled_code_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(ModelFileError) as refused:
        build_model("cnn", weights_file=evil)
    message = refused.value.message
    assert message.startswith(f"--weights-file {evil}: refused to load this weights file safely: it holds pickled "
                              "code (posix.system)")
    assert not any(word in message for word in TORCH_WORDS) and not marker.exists()
