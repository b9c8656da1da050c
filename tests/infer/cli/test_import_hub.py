"""`imgcheck import` of Hugging Face and timm models: a Hub id (fetched through a stand-in for snapshot_download,
and refused offline), what was read printed, and every bad input one line, exit 1, and no file."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from hub_models import hf_p_fake, real_looking_images, save_hf_model, write_config  # noqa: E402
from imgcheck import Detector  # noqa: E402
from imgcheck.infer.cli.root import cli  # noqa: E402
from imgcheck.infer.models.model_file import ModelFile  # noqa: E402

VIT = {"architectures": ["ViTForImageClassification"], "model_type": "vit", "image_size": 32, "patch_size": 8,
       "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
       "id2label": {"0": "real", "1": "fake"}}


@pytest.fixture(scope="module")
def check_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    return folder, real_looking_images(folder)


def _import(runner, *args):
    return runner.invoke(cli, ["import", *map(str, args)])


def test_a_hub_id_is_fetched_read_aloud_and_imported(runner, tmp_path, check_images, monkeypatch):
    import huggingface_hub

    folder, images = check_images
    model_folder = save_hf_model(tmp_path / "snapshot", "vit", ["artificial", "human"])
    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):  # noqa: ANN001, ANN202
        calls.append((repo_id, revision, allow_patterns))
        return str(model_folder)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    out = tmp_path / "vit.onnx"
    result = _import(runner, "hf:org/tiny-vit@v1", "--out", out, "--check-images", folder)
    assert result.exit_code == 0, result.output
    [(repo_id, revision, patterns)] = calls
    assert (repo_id, revision) == ("org/tiny-vit", "v1")
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= set(patterns)
    assert not any(p.endswith((".py", ".onnx")) for p in patterns)  # weights and configs only, never code
    lines = result.stderr.splitlines()
    assert "source: org/tiny-vit@v1" in lines
    assert "architecture: ViTForImageClassification (hf:vit)" in lines
    assert "labels: 0 artificial -> FAKE (word 'artificial'), 1 human -> REAL (word 'human')" in lines
    assert "preprocessing: resize to 32x32 (bicubic), mean 0.5,0.5,0.5, std 0.5,0.5,0.5 (pixels scaled to [0, 1])" \
        in lines
    parity = next(line for line in lines if line.startswith("parity (onnx vs PyTorch)"))
    assert f"over {len(images)} images from {folder} and 64 random-pixel inputs" in parity and parity.endswith("passed")
    assert lines[-1].startswith(f"wrote {out}: hf:vit, input 32x32, softmax output (p_fake = P(artificial))")
    meta = ModelFile.open(out).meta
    assert meta.provenance.extra["imported"]["source"] == "org/tiny-vit@v1"
    assert meta.provenance.extra["imported"]["repo_id"] == "org/tiny-vit"
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, hf_p_fake(model_folder, images, ["artificial"]), atol=1e-4)
    assert runner.invoke(cli, ["info", str(out)]).exit_code == 0


def test_a_hub_id_without_network_is_one_line_saying_how_to_fetch_it(runner, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = _import(runner, "hf:org/name", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: cannot fetch org/name: offline (HF_HUB_OFFLINE is set) and not in the local Hugging Face cache; "
        "download it elsewhere (huggingface-cli download org/name) and pass the folder.")
    assert not (tmp_path / "m.onnx").exists()


def _without_config(folder):  # noqa: ANN001, ANN202
    write_config(folder, VIT)
    (folder / "config.json").unlink()
    return folder


def _pickled_with_code(folder):  # noqa: ANN001, ANN202
    import torch

    write_config(folder, VIT, weights=False)
    torch.save({"w": torch.zeros(1), "hook": _Hook()}, folder / "pytorch_model.bin")
    return folder


class _Hook:
    """Any class: unpickling it would run code."""


@pytest.mark.parametrize("make, options, fragment", [
    (_without_config, [],
     "no config.json, so not a Hugging Face model folder"),
    (lambda p: write_config(p, {"architectures": ["BertForSequenceClassification"], "model_type": "bert"}), [],
     "BertForSequenceClassification is not an image classifier"),
    (lambda p: write_config(p, VIT, processor={"image_processor_type": "ViTImageProcessor",
                                               "size": {"longest_edge": 9}}), [],
     "preprocessor_config.json: size = {\"longest_edge\": 9} cannot be reproduced exactly"),
    (lambda p: write_config(p, VIT, weights=False), [], "no weights: expected model.safetensors"),
    (_pickled_with_code, [], "pytorch_model.bin: refused: torch.load(weights_only=True) will not load it"),
    (lambda p: write_config(p, {**VIT, "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}), [],
     "its labels (0: LABEL_0, 1: LABEL_1) cannot be read as REAL/FAKE"),
    (lambda p: write_config(p, VIT), ["--fake-label", "cat"], "--fake-label 'cat' is not one of its labels"),
    (lambda p: write_config(p, VIT), [], "its weights do not fit ViTForImageClassification"),
])
def test_bad_input_is_one_line_exit_1_and_no_file(runner, tmp_path, make, options, fragment):
    source = make(tmp_path / "model")
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    result = _import(runner, source, "--out", out, *options)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []


def test_timm_bad_input_is_one_line_exit_1_and_no_file(runner, tmp_path):
    import timm
    import torch

    weights = tmp_path / "w.pt"
    torch.save(timm.create_model("test_resnet", num_classes=1000).state_dict(), weights)
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    result = _import(runner, "--timm", "test_resnet", "--weights", weights, "--out", out)
    assert result.exit_code == 1 and "has 1000 outputs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("args, fragment", [
    (["{folder}", "--output", "softmax"], "--output does not apply to a Hugging Face model"),
    (["{folder}", "--class-names", "a,b"], "a Hugging Face model's classes are its config's id2label"),
    (["--weights", "{weights}"], "--timm ARCH and --weights FILE go together"),
    (["{folder}", "--timm", "test_resnet", "--weights", "{weights}"], "give SOURCE or --timm ARCH --weights FILE"),
    (["--timm", "test_resnet", "--weights", "{weights}", "--mean", "0,0,0"], "--mean does not apply to --timm"),
    (["org/name"], "no such file or folder 'org/name' (a Hub id is written hf:org/name)"),
    (["hf:not a repo"], ""),
    (["{weights}"], "Missing option '--output'"),
    (["{weights}", "--output", "logits", "--check-images", "{folder}"], "--check-images does not apply to an ONNX"),
])
def test_options_that_do_not_fit_the_source_are_usage_errors(runner, tmp_path, args, fragment):
    folder = write_config(tmp_path / "model", VIT)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read")
    filled = [a.format(folder=folder, weights=weights) for a in args]
    result = _import(runner, *filled, "--out", tmp_path / "m.onnx")
    if args == ["hf:not a repo"]:  # a malformed Hub id is bad input: one line, exit 1
        assert result.exit_code == 1 and "is not a Hub id: write hf:org/name" in result.stderr
        return
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr


def test_help_says_how_a_hub_id_is_written(runner):
    result = runner.invoke(cli, ["import", "--help"])
    assert result.exit_code == 0
    assert "hf:org/name or hf:org/name@revision (only the hf: prefix" in result.output
    assert "--timm ARCH" in result.output and "--fake-label NAME" in result.output


def test_the_command_spells_a_hub_id_as_the_library_does():
    from imgcheck.export.hub_source import HUB_PREFIX
    from imgcheck.infer.cli.import_model import HUB_PREFIX as CLI_PREFIX

    assert CLI_PREFIX == HUB_PREFIX == "hf:"
