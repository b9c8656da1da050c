"""Hugging Face image classifiers imported as they run in transformers: tiny random ViT, Swin, ConvNeXt and CLIP
classifiers are saved with save_pretrained, imported (one ONNX file behind the parity gate on real images), and the
imported file must score real-looking images as transformers does with the model's own PIL-backend processor."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from hub_models import hf_p_fake, real_looking_images, save_hf_model, write_config  # noqa: E402
from imgcheck import Detector  # noqa: E402
from imgcheck.export.hub import HubModelError, read_hub_model  # noqa: E402
from imgcheck.export.hub_import import write_import  # noqa: E402
from imgcheck.export.hub_labels import LabelMapError  # noqa: E402
from imgcheck.export.hub_source import HubSourceError  # noqa: E402
from imgcheck.export.safe_weights import WeightsError  # noqa: E402
from imgcheck.infer.models.model_file import ModelFile  # noqa: E402

# kind: (id2label names in order, the FAKE ones) - two-class and multi-class, each processor kind once:
# ViT fixed size (bicubic), Swin fixed size with ImageNet statistics, ConvNeXt crop_pct, CLIP shortest edge + crop.
CASES = {
    "vit": (["artificial", "human"], ["artificial"]),
    "swin": (["real", "stable_diffusion", "midjourney"], ["stable_diffusion", "midjourney"]),
    "convnext": (["FAKE", "REAL"], ["FAKE"]),
    "clip": (["Photo", "GAN", "Diffusion", "AI-Generated"], ["GAN", "Diffusion", "AI-Generated"]),
}
PREPROCESSING = {"vit": ("fixed", None, "bicubic"), "swin": ("fixed", None, "bilinear"),
                 "convnext": ("shortest_edge", 36, "bicubic"), "clip": ("shortest_edge", 32, "bicubic")}
ATOL = 1e-4


@pytest.fixture(scope="module")
def check_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    return folder, real_looking_images(folder)


@pytest.mark.parametrize("kind", list(CASES))
def test_an_imported_model_scans_as_transformers_scores_it(kind, tmp_path, check_images):
    folder, images = check_images
    labels, fakes = CASES[kind]
    model_folder = save_hf_model(tmp_path / kind, kind, labels)
    imported = read_hub_model(model_folder)
    out = tmp_path / f"{kind}.onnx"
    outcome = write_import(imported, out, check_images=folder)
    assert outcome.parity.passed and outcome.parity.max_abs_diff <= ATOL
    assert outcome.image_count == len(images)
    assert sorted(p.name for p in tmp_path.iterdir()) == [kind, f"{kind}.onnx"]  # one file, no staging left
    meta = ModelFile.open(out).meta
    assert meta.arch == f"hf:{kind}" and meta.output == "softmax" and meta.class_names == tuple(labels)
    assert meta.positive_class == fakes[0] and (meta.positive_classes or (meta.positive_class,)) == tuple(fakes)
    assert (meta.resize, meta.resize_size, meta.interpolation) == PREPROCESSING[kind]
    record = meta.provenance.extra["imported"]
    assert record["source"] == str(model_folder) and record["id2label"] == {str(i): n for i, n in enumerate(labels)}
    assert set(record["weights"]) == {"model.safetensors"} and len(record["weights"]["model.safetensors"]) == 64
    assert record["preprocessor_config"] == imported.meta.provenance.extra["imported"]["preprocessor_config"]
    assert "transformers" in record
    expected = hf_p_fake(model_folder, images, fakes)
    assert np.ptp(expected) > 0.02  # the scores differ from image to image: a preprocessing slip would show
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, expected, atol=ATOL)


def test_an_fp16_import_passes_its_gate_and_scores_close(tmp_path, check_images):
    """fp16 through the export path: scores kept far from the threshold (the classifier's bias) so that the gate's
    verdict agreement is about the file, not the noise of a random model near 0.5."""
    folder, images = check_images
    model_folder = save_hf_model(tmp_path / "vit", "vit", ["ai", "real"], bias=[-2.0, 2.0])
    out = tmp_path / "vit.fp16.onnx"
    outcome = write_import(read_hub_model(model_folder), out, "onnx-fp16", check_images=folder)
    assert outcome.parity.precision == "fp16" and outcome.parity.verdict_agreement == 1.0
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, hf_p_fake(model_folder, images, ["ai"]), atol=1e-2)


def test_a_dynamic_int8_import_needs_no_calibration_and_quantizes_only_weight_matmuls(tmp_path, check_images):
    """onnxruntime's dynamic quantization, the transformers scheme: the MatMuls with weights become int8 (signed),
    attention's MatMuls of two activations stay float, and the file passes the real-image gate and scores close to
    transformers. Scores far from the threshold, as in the fp16 test."""
    import onnx

    folder, images = check_images
    model_folder = save_hf_model(tmp_path / "vit", "vit", ["ai", "real"], bias=[-2.0, 2.0])
    out = tmp_path / "vit.int8.onnx"
    outcome = write_import(read_hub_model(model_folder), out, "onnx-int8", check_images=folder,
                           int8_scheme="dynamic")
    assert outcome.parity.precision == "int8" and outcome.parity.verdict_agreement == 1.0
    graph = onnx.load(str(out)).graph
    ops = [node.op_type for node in graph.node]
    assert "DynamicQuantizeLinear" in ops and ops.count("MatMulInteger") == 2 * 6  # 2 layers x (q, k, v, o, 2 MLP)
    assert ops.count("MatMul") == 2 * 2 + 1  # per layer scores (q.k) and mix (p.v), and the classifier: float
    assert ModelFile.open(out).graph().signed_int8_weights
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, hf_p_fake(model_folder, images, ["ai"]), atol=2e-2)


def test_a_weights_only_pickle_loads_and_one_pickled_with_code_is_refused(tmp_path):
    import torch

    folder = save_hf_model(tmp_path / "vit", "vit", ["fake", "real"])
    state = read_hub_model(folder).model.classifier.state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    assert read_hub_model(folder).meta.provenance.extra["imported"]["weights"].keys() == {"pytorch_model.bin"}
    torch.save({**state, "hook": _Hook()}, folder / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="refused to load this weights file safely: it holds pickled") as refused:
        read_hub_model(folder)
    assert "weights_only" not in refused.value.message.replace(str(folder), "")  # imgcheck's words, not torch's


class _Hook:
    """Any class: unpickling it would run code, so weights_only refuses it."""


def test_mismatched_weights_are_refused_naming_the_keys(tmp_path):
    folder = save_hf_model(tmp_path / "vit", "vit", ["fake", "real"])
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    state.pop("classifier.bias")
    state["extra.weight"] = state["classifier.weight"].clone()
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"1 missing \(classifier.bias\) and 1 unexpected \(extra.weight\)"):
        read_hub_model(folder)


@pytest.mark.parametrize("config, error, fragment", [
    ({"architectures": ["BertForSequenceClassification"], "model_type": "bert"}, HubModelError,
     "BertForSequenceClassification is not an image classifier"),
    ({"architectures": ["ViTModel"], "model_type": "vit"}, HubModelError,
     "ViTModel is not an image classifier (a backbone without a classification head)"),
    ({"architectures": ["ViTForImageClassification", "ViTModel"], "model_type": "vit"}, HubModelError,
     "'architectures' must name one class"),
    ({"architectures": ["MyForImageClassification"], "model_type": "vit", "auto_map": {"AutoModel": "m.My"}},
     HubModelError, "never runs a model's code"),
    ({"architectures": ["ViTForImageClassification"], "model_type": "vit",
      "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}, LabelMapError, "--real-label NAME"),
])
def test_refusals_before_any_weights_are_read(tmp_path, config, error, fragment):
    folder = write_config(tmp_path / "m", config)
    with pytest.raises(error) as caught:
        read_hub_model(folder)
    assert fragment in caught.value.message and "\n" not in caught.value.message


def test_a_processor_rule_imgcheck_cannot_reproduce_is_refused_naming_it(tmp_path):
    folder = write_config(tmp_path / "m", {"architectures": ["ViTForImageClassification"], "model_type": "vit",
                                           "id2label": {"0": "real", "1": "fake"}},
                          processor={"image_processor_type": "ViTImageProcessor", "do_pad": True})
    with pytest.raises(HubModelError, match=r"preprocessor_config.json: do_pad = true cannot be reproduced"):
        read_hub_model(folder)


@pytest.mark.parametrize("missing, fragment", [
    ("config.json", "no config.json, so not a Hugging Face model folder"),
    ("model.safetensors", "no weights: expected model.safetensors"),
    ("preprocessor_config.json", "no preprocessor_config.json"),
])
def test_a_folder_missing_a_file_is_refused(tmp_path, missing, fragment):
    folder = write_config(tmp_path / "m", {"architectures": ["ViTForImageClassification"], "model_type": "vit"})
    (folder / missing).unlink()
    with pytest.raises(HubSourceError, match=fragment):
        read_hub_model(folder)


def test_labels_the_names_cannot_settle_are_settled_by_the_options(tmp_path):
    folder = save_hf_model(tmp_path / "vit", "vit", ["LABEL_0", "LABEL_1"])
    with pytest.raises(LabelMapError, match=r"its labels \(0: LABEL_0, 1: LABEL_1\) cannot be read as REAL/FAKE"):
        read_hub_model(folder)
    meta = read_hub_model(folder, fake_labels=("LABEL_1",)).meta
    assert meta.positive_class == "LABEL_1" and meta.provenance.extra["imported"]["label_sides"] == {
        "LABEL_0": "REAL", "LABEL_1": "FAKE"}
    assert read_hub_model(folder, real_label="label_1").meta.positive_class == "LABEL_0"


def test_the_gate_needs_real_images_and_a_failure_writes_nothing(tmp_path, check_images, monkeypatch):
    from imgcheck.export import parity
    from imgcheck.infer.errors import ImgcheckError

    folder, _ = check_images
    imported = read_hub_model(save_hf_model(tmp_path / "vit", "vit", ["fake", "real"]))
    monkeypatch.setattr(parity, "SAMPLES", tmp_path / "no-samples")  # as in an installed wheel
    with pytest.raises(ImgcheckError, match="pass --check-images DIR"):
        write_import(imported, tmp_path / "m.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImgcheckError, match="no readable images there"):
        write_import(imported, tmp_path / "m.onnx", check_images=tmp_path / "empty")
    with pytest.raises(ImgcheckError, match="needs --calibration DIR: .* or --int8-scheme dynamic"):
        write_import(imported, tmp_path / "m.onnx", "onnx-int8", check_images=folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "vit"]


def test_a_hub_id_fetches_configs_and_safetensors_and_a_pickle_only_when_there_is_no_safetensors(tmp_path,
                                                                                                  monkeypatch):
    import huggingface_hub

    from imgcheck.export.hub_source import fetch, parse_hub_id

    assert parse_hub_id("hf:org/name@v1.2") == ("org/name", "v1.2")
    assert parse_hub_id("hf:org/name") == ("org/name", None)
    with pytest.raises(HubSourceError, match="is not a Hub id"):
        parse_hub_id("hf:name-without-org")
    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"")
    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo_id, revision, allow_patterns: calls.append(allow_patterns) or str(folder))
    assert fetch("org/name", None) == folder
    assert "model.safetensors" in calls[0] and "pytorch_model.bin" not in calls[0]
    assert "pytorch_model.bin" in calls[1] and len(calls) == 2
    (folder / "model.safetensors").write_bytes(b"")
    calls.clear()
    fetch("org/name", "main")
    assert len(calls) == 1
