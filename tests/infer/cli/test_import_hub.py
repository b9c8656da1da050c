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


@pytest.fixture
def fake_hub(monkeypatch):
    """`serve(folder)`: huggingface_hub.snapshot_download (offline) returns `folder` from then on; the returned
    list records each call's (repo_id, revision, allow_patterns)."""
    import huggingface_hub

    calls = []

    def serve(folder):  # noqa: ANN001, ANN202
        def snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):  # noqa: ANN001, ANN202
            calls.append((repo_id, revision, allow_patterns))
            return str(folder)

        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
        return calls

    return serve


def test_a_hub_id_is_fetched_read_aloud_and_imported(runner, tmp_path, check_images, fake_hub):
    folder, images = check_images
    model_folder = save_hf_model(tmp_path / "snapshot", "vit", ["artificial", "human"])
    calls = fake_hub(model_folder)
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
    assert f"of the {len(images)} images from {folder} and the 64 random-pixel inputs" in parity
    assert parity.endswith("passed")
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
    (_pickled_with_code, [], "pytorch_model.bin: refused to load this weights file safely: it holds pickled code"),
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


def _scan_p_fake(runner, model, images, tmp_path):  # noqa: ANN001, ANN202
    import csv

    out = tmp_path / "verdicts.csv"
    result = runner.invoke(cli, ["scan", *map(str, images), "--model", str(model), "--out", str(out), "--workers",
                                 "0", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = {row["path"]: float(row["p_fake"]) for row in csv.DictReader(out.open(encoding="utf-8"))}
    return np.array([rows[str(p)] for p in images])


def test_a_timm_folder_is_imported_with_its_pretrained_cfg_and_label_names(runner, tmp_path, check_images):
    from hub_models import TIMM_DATA_CONFIG, save_timm_model, timm_outputs

    folder, images = check_images
    model = save_timm_model(tmp_path / "detector", "test_vit", 2, label_names=["human", "ai_generated"], img_size=64)
    out = tmp_path / "vit.onnx"
    result = _import(runner, "--timm", tmp_path / "detector", "--out", out, "--check-images", folder)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert f"source: {tmp_path / 'detector'}" in lines
    assert "architecture: timm test_vit, 2-class head (timm:test_vit)" in lines
    assert "labels: 0 human -> REAL (word 'human'), 1 ai_generated -> FAKE (word 'ai')" in lines
    assert ("preprocessing: shortest edge to 71 (bicubic), centre crop 64x64, mean 0.4,0.5,0.6, std 0.2,0.25,0.3 "
            "(pixels scaled to [0, 1])") in lines
    assert lines[-1].startswith(f"wrote {out}: timm:test_vit, input 64x64, softmax output (p_fake = P(ai_generated))")
    logits = timm_outputs(model, images, TIMM_DATA_CONFIG).astype(np.float64)
    expected = 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))  # softmax, the ai_generated column
    np.testing.assert_allclose(_scan_p_fake(runner, out, images, tmp_path), expected, atol=1e-4)


def test_a_timm_hub_id_is_fetched_and_recorded_with_its_commit(runner, tmp_path, check_images, fake_hub):
    from hub_models import TIMM_DATA_CONFIG, save_timm_model, timm_outputs

    folder, images = check_images
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    snapshot = tmp_path / "hub" / "models--org--tiny-resnet" / "snapshots" / commit
    model = save_timm_model(snapshot, "test_resnet", 1)
    calls = fake_hub(snapshot)
    out = tmp_path / "resnet.onnx"
    result = _import(runner, "--timm", "hf-hub:org/tiny-resnet@v1", "--out", out, "--check-images", folder)
    assert result.exit_code == 0, result.output
    [(repo_id, revision, patterns)] = calls
    assert (repo_id, revision) == ("org/tiny-resnet", "v1") and "model.safetensors" in patterns
    assert not any(p.endswith((".py", ".bin")) for p in patterns)  # configs and safetensors only: there are some
    lines = result.stderr.splitlines()
    assert "source: org/tiny-resnet@v1" in lines
    assert "labels: 0 REAL -> REAL (word 'real'), 1 FAKE -> FAKE (word 'fake') (the one logit scores the FAKE class)" \
        in lines
    record = ModelFile.open(out).meta.provenance.extra["imported"]
    assert (record["repo_id"], record["revision"], record["commit"]) == ("org/tiny-resnet", "v1", commit)
    from imgcheck.infer.models.model_file import file_sha256

    assert record["weights"] == {"model.safetensors": file_sha256(snapshot / "model.safetensors")}
    expected = 1 / (1 + np.exp(-timm_outputs(model, images, TIMM_DATA_CONFIG)[:, 0].astype(np.float64)))
    np.testing.assert_allclose(_scan_p_fake(runner, out, images, tmp_path), expected, atol=1e-4)


def test_a_timm_hub_id_without_network_is_one_line_saying_how_to_fetch_it(runner, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = _import(runner, "--timm", "hf-hub:org/name@v1", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: cannot fetch org/name: offline (HF_HUB_OFFLINE is set) and not in the local Hugging Face cache; "
        "download it elsewhere (huggingface-cli download org/name) and pass the folder.")
    assert not (tmp_path / "m.onnx").exists()


def _saved_timm(folder, classes=2, edit=None, **kwargs):  # noqa: ANN001, ANN202
    """A tiny timm model saved by timm; `edit` changes its config.json."""
    import json

    from hub_models import save_timm_model

    save_timm_model(folder, "test_resnet", classes, **kwargs)
    if edit is not None:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(edit(config)))
    return folder


def _timm_pickled_with_code(folder):  # noqa: ANN001, ANN202
    import torch

    _saved_timm(folder, safe=False)
    torch.save({"w": torch.zeros(1), "hook": _Hook()}, folder / "pytorch_model.bin")
    return folder


def _timm_without_weights(folder):  # noqa: ANN001, ANN202
    _saved_timm(folder)
    (folder / "model.safetensors").unlink()
    return folder


@pytest.mark.parametrize("make, options, fragment", [
    (lambda p: _saved_timm(p, edit=lambda c: {**c, "architecture": "no_such_net"}), [],
     "config.json names architecture 'no_such_net', which is not an architecture timm"),
    (_timm_without_weights, [], "no weights: expected model.safetensors (or pytorch_model.bin)"),
    (_timm_pickled_with_code, [], "pytorch_model.bin: refused to load this weights file safely: it holds pickled code"),
    (lambda p: _saved_timm(p, classes=1000), [],
     "its head fc has 1000 outputs; imgcheck imports a detector with one logit or two classes (REAL, FAKE), or up "
     "to 64 named by label_names in config.json, not an ImageNet classifier"),
    (lambda p: _saved_timm(p, classes=3), [], "its head fc has 3 outputs"),
    (lambda p: _saved_timm(p, label_names=["real", "fake", "gan"]), [],
     "its config.json label_names name 3 classes, but its head has 2 outputs"),
    (lambda p: _saved_timm(p, label_names=["real", "fake"]), ["--class-names", "a,b"],
     "its config.json names the classes (label_names real, fake); settle their sides with --fake-label/--real-label"),
    (lambda p: _saved_timm(p, classes=1, label_names=["fake"]), [],
     "a one-logit head with label_names (fake) does not say which side the logit scores"),
    (lambda p: _saved_timm(p, label_names=["cat", "dog"]), [],
     "its labels (0: cat, 1: dog) cannot be read as REAL/FAKE"),
    (lambda p: _saved_timm(p), ["--class-names", "c0,c1"], "its labels (0: c0, 1: c1) cannot be read as REAL/FAKE"),
    (lambda p: _saved_timm(p, edit=lambda c: {**c, "model_args": {**c["model_args"], "checkpoint_path": "x.pth"}}), [],
     "model_args sets checkpoint_path: options of timm.create_model, not of the network"),
    (lambda p: _saved_timm(p, edit=lambda c: {**c, "pretrained_cfg": {**c["pretrained_cfg"], "crop_mode": "squash"}}),
     [], "pretrained_cfg: crop_mode"),
    (lambda p: write_config(p, VIT), [], "config.json is not timm's (a transformers model: import it without --timm)"),
    (_without_config, [], "no config.json, so not a saved timm model"),
    (lambda p: p, [], "no such folder (a saved timm model is a folder with config.json and model.safetensors"),
])
def test_timm_saved_model_bad_input_is_one_line_exit_1_and_no_file(runner, tmp_path, make, options, fragment):
    source = make(tmp_path / "model")
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    result = _import(runner, "--timm", source, "--out", out, *options)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []


def test_a_timm_model_given_as_source_is_imported_as_timm_and_fetched_once(runner, tmp_path, fake_hub,
                                                                           check_images):
    """SOURCE saved by timm (a folder, or hf:org/name) goes to the timm import: one fetch, timm's preprocessing and
    labels; --class-names, which a timm model without label names takes, is refused for a transformers model."""
    check_images, _ = check_images
    folder = _saved_timm(tmp_path / "model")
    out = tmp_path / "m.onnx"
    result = _import(runner, folder, "--out", out, "--check-images", check_images)
    assert result.exit_code == 0, result.output
    assert ModelFile.open(out).meta.arch == "timm:test_resnet"
    fetches = fake_hub(folder)
    result = _import(runner, "hf:org/name@v1", "--out", tmp_path / "hub.onnx", "--check-images", check_images,
                     "--class-names", "real,ai")
    assert result.exit_code == 0, result.output
    meta = ModelFile.open(tmp_path / "hub.onnx").meta
    assert len(fetches) == 1 and meta.class_names == ("real", "ai") and meta.positive_class == "ai"
    assert meta.provenance.extra["imported"]["repo_id"] == "org/name"
    hf_folder = save_hf_model(tmp_path / "vit", "vit", ["fake", "real"])
    result = _import(runner, hf_folder, "--out", tmp_path / "vit.onnx", "--class-names", "a,b")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "is a Hugging Face model, whose classes are its config's id2label" in result.stderr
    assert not (tmp_path / "vit.onnx").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--timm", "test_resnet"], "--timm ARCH and --weights FILE go together (a timm model saved by timm, --timm "
                                "hf-hub:org/name or --timm FOLDER, needs no --weights)"),
    (["--timm", "hf-hub:org/name", "--weights", "{weights}"], "--weights: --timm hf-hub:org/name is a timm model "
                                                              "saved by timm, which holds its own weights"),
    (["--timm", "{folder}", "--weights", "{weights}"], "which holds its own weights"),
    (["--timm", "{folder}", "--input-size", "32"], "--input-size does not apply to --timm"),
    (["hf-hub:org/name"], "no such file or folder 'hf-hub:org/name' (a timm Hub id is imported with --timm "
                          "hf-hub:org/name)"),
    ([], "or give --timm ARCH --weights FILE, --timm hf-hub:org/name or --timm FOLDER"),
])
def test_timm_options_that_do_not_fit_are_usage_errors(runner, tmp_path, args, fragment):
    folder = tmp_path / "model"
    folder.mkdir()
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read")
    result = _import(runner, *[a.format(folder=folder, weights=weights) for a in args], "--out", tmp_path / "m.onnx")
    assert result.exit_code == 2, result.output
    assert fragment in " ".join(result.stderr.split())


def test_help_says_how_a_timm_hub_id_is_written(runner):
    from imgcheck.export.hub_source import TIMM_HUB_PREFIX
    from imgcheck.infer.cli.import_model import TIMM_HUB_PREFIX as CLI_TIMM_PREFIX

    assert CLI_TIMM_PREFIX == TIMM_HUB_PREFIX == "hf-hub:"
    result = runner.invoke(cli, ["import", "--help"])
    assert result.exit_code == 0
    assert "hf-hub:org/name[@revision]" in " ".join(result.output.split())
