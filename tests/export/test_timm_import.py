"""timm classifiers with a one- or two-class head, imported from an architecture name and a weights file, or saved
as timm saves them (a folder, or a Hub id fetched into the cache): the imported file scores real-looking images as
timm's own eval transform and model do, with the saved pretrained_cfg and label_names."""

from __future__ import annotations

import numpy as np
import pytest

timm = pytest.importorskip("timm")

from hub_models import TIMM_DATA_CONFIG, real_looking_images, save_timm_model, timm_outputs  # noqa: E402
from imgcheck import Detector  # noqa: E402
from imgcheck.export.hub_import import write_import  # noqa: E402
from imgcheck.export.hub_labels import LabelMapError  # noqa: E402
from imgcheck.export.safe_weights import WeightsError  # noqa: E402
from imgcheck.export.timm_import import TimmModelError, read_timm_model, read_timm_repo  # noqa: E402
from imgcheck.infer.models.model_file import ModelFile  # noqa: E402


@pytest.fixture(scope="module")
def check_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    return folder, real_looking_images(folder)


def _timm_model(arch: str, classes: int, seed: int = 0):  # noqa: ANN202 - a torch module
    import torch

    torch.manual_seed(seed)
    return timm.create_model(arch, pretrained=False, num_classes=classes).eval()


def test_a_two_class_timm_model_from_safetensors(tmp_path, check_images):
    from safetensors.torch import save_file

    folder, images = check_images
    model = _timm_model("test_resnet", 2)
    weights = tmp_path / "detector.safetensors"
    save_file(model.state_dict(), str(weights))
    imported = read_timm_model("test_resnet", weights, class_names=("photo", "ai"))
    out = tmp_path / "r.onnx"
    outcome = write_import(imported, out, check_images=folder)
    assert outcome.parity.passed and outcome.image_count == len(images)
    meta = ModelFile.open(out).meta
    assert (meta.arch, meta.output, meta.class_names, meta.positive_class) == (
        "timm:test_resnet", "softmax", ("photo", "ai"), "ai")
    assert (meta.resize, meta.resize_size, meta.crop_offset, meta.input_size) == ("shortest_edge", 168, "round",
                                                                               (3, 160, 160))
    record = meta.provenance.extra["imported"]
    assert record["kind"] == "timm" and record["pretrained_cfg"]["crop_pct"] == 0.95 and "timm" in record
    expected = _softmax(timm_outputs(model, images))[:, 1]
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_a_one_logit_timm_model_from_a_weights_only_state_dict(tmp_path, check_images):
    import torch

    folder, images = check_images
    model = _timm_model("test_vit", 1)
    weights = tmp_path / "detector.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, weights)  # a training checkpoint's shape
    imported = read_timm_model("test_vit", weights)
    assert "the one logit scores the FAKE class" in imported.read["labels"]
    out = tmp_path / "v.onnx"
    write_import(imported, out, check_images=folder)
    meta = ModelFile.open(out).meta
    assert (meta.output, meta.class_names, meta.positive_class) == ("logit", ("REAL", "FAKE"), "FAKE")
    expected = 1 / (1 + np.exp(-timm_outputs(model, images)[:, 0].astype(np.float64)))
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, expected, atol=1e-4)


class _Payload:
    """Any class: unpickling it would run code, so weights_only refuses it."""


@pytest.mark.parametrize("make, kwargs, error, fragment", [
    (lambda p: _save(_timm_model("test_resnet", 1000).state_dict(), p), {}, TimmModelError,
     "its head fc has 1000 outputs; imgcheck imports a detector with one logit or two classes"),
    (lambda p: _save({"fc.weight": np.zeros(1)}, p), {}, WeightsError,
     "refused to load this weights file safely: it holds pickled code"),
    (lambda p: _save({**_timm_model("test_resnet", 2).state_dict(), "x": _Payload()}, p), {}, WeightsError,
     "refused to load this weights file safely: it holds pickled code"),
    (lambda p: _save(_without(_timm_model("test_resnet", 2).state_dict(), "fc.bias"), p), {}, WeightsError,
     "its weights do not fit timm test_resnet with a 2-class head: 1 missing (fc.bias) key(s)"),
    (lambda p: _save(_timm_model("test_resnet", 2).state_dict(), p), {"class_names": ("a", "b", "c")},
     TimmModelError, "a timm detector has two classes"),
    (lambda p: _save(_timm_model("test_resnet", 2).state_dict(), p), {"class_names": ("c0", "c1")},
     LabelMapError, "settle it with --real-label NAME"),
])
def test_refusals_name_the_problem(tmp_path, make, kwargs, error, fragment):
    weights = make(tmp_path / "w.pt")
    with pytest.raises(error) as caught:
        read_timm_model("test_resnet", weights, **kwargs)
    assert fragment in caught.value.message and "\n" not in caught.value.message


def test_an_unknown_architecture_is_refused(tmp_path):
    weights = _save(_timm_model("test_resnet", 2).state_dict(), tmp_path / "w.pt")
    with pytest.raises(TimmModelError, match="--timm no_such_net: not an architecture timm"):
        read_timm_model("no_such_net", weights)


def _save(state, path):  # noqa: ANN001, ANN202
    import torch

    torch.save(state, path)
    return path


def _without(state, key):  # noqa: ANN001, ANN202
    return {k: v for k, v in state.items() if k != key}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_a_saved_timm_model_brings_its_pretrained_cfg_labels_and_provenance(tmp_path, check_images):
    import torch

    from imgcheck.infer.models.model_file import file_sha256
    from imgcheck.infer.preprocess import Preprocessor

    _, images = check_images
    folder = tmp_path / "detector"
    model = save_timm_model(folder, "test_vit", 2, label_names=["human", "ai_generated"], img_size=64)
    imported = read_timm_repo(folder)
    meta = imported.meta
    assert (meta.arch, meta.output, meta.class_names, meta.positive_class, meta.positive_classes) == (
        "timm:test_vit", "softmax", ("human", "ai_generated"), "ai_generated", None)
    # the saved preprocessing, not test_vit's own (160 px, crop_pct 0.95, mean/std 0.5)
    assert (meta.input_size, meta.resize, meta.resize_size, meta.crop_offset, meta.mean, meta.std) == (
        (3, 64, 64), "shortest_edge", 71, "round", (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    record = meta.provenance.extra["imported"]
    assert record["source"] == str(folder) and "repo_id" not in record
    assert record["weights"] == {"model.safetensors": file_sha256(folder / "model.safetensors")}
    assert record["model_args"]["img_size"] == [64, 64] and record["label_sides"] == {"human": "REAL",
                                                                                      "ai_generated": "FAKE"}
    assert imported.read["labels"] == "0 human -> REAL (word 'human'), 1 ai_generated -> FAKE (word 'ai')"
    with torch.no_grad():  # imgcheck's preprocessing and the imported network score as timm's transform and model
        pre = Preprocessor.from_meta(meta)
        ours = imported.model(torch.from_numpy(np.stack([pre(p) for p in images]))).numpy()[:, 1]
    np.testing.assert_allclose(ours, _softmax(timm_outputs(model, images, TIMM_DATA_CONFIG))[:, 1], atol=1e-4)


def test_label_names_may_name_a_real_class_and_several_fake_ones(tmp_path):
    folder = tmp_path / "detector"
    save_timm_model(folder, "test_resnet", 3, label_names=["photo", "sdxl", "midjourney"])
    meta = read_timm_repo(folder).meta
    assert (meta.class_names, meta.positive_class, meta.positive_classes) == (
        ("photo", "sdxl", "midjourney"), "sdxl", ("sdxl", "midjourney"))


def test_label_names_as_timm_allows_them_an_index_map_and_the_sides_settled_by_options(tmp_path):
    import json

    folder = tmp_path / "detector"
    save_timm_model(folder, "test_resnet", 2)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "label_names": {"1": "class_b", "0": "class_a"}}))
    meta = read_timm_repo(folder, real_label="class_a").meta
    assert (meta.class_names, meta.positive_class) == (("class_a", "class_b"), "class_b")


def test_a_timm_hub_id_is_fetched_and_its_repository_and_commit_recorded(tmp_path, monkeypatch):
    import huggingface_hub

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--org--detector" / "snapshots" / commit
    save_timm_model(snapshot, "test_resnet", 1, safe=False)
    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):  # noqa: ANN001, ANN202
        calls.append((repo_id, revision, allow_patterns))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    imported = read_timm_repo("hf-hub:org/detector@v2")
    assert [c[:2] for c in calls] == [("org/detector", "v2")] * 2  # safetensors first, then the weights_only pickle
    assert "pytorch_model.bin" not in calls[0][2] and "pytorch_model.bin" in calls[1][2]
    record = imported.meta.provenance.extra["imported"]
    assert (record["source"], record["repo_id"], record["revision"], record["commit"]) == (
        "org/detector@v2", "org/detector", "v2", commit)
    assert list(record["weights"]) == ["pytorch_model.bin"] and imported.meta.output == "logit"
    assert read_timm_repo("hf:org/detector").meta.provenance.extra["imported"]["source"] == f"org/detector@{commit}"
