"""timm classifiers with a one- or two-class head, imported from an architecture name and a weights file: the
imported file scores real-looking images as timm's own eval transform and model do."""

from __future__ import annotations

import numpy as np
import pytest

timm = pytest.importorskip("timm")

from hub_models import real_looking_images  # noqa: E402
from imgcheck import Detector  # noqa: E402
from imgcheck.export.hub_import import write_import  # noqa: E402
from imgcheck.export.hub_labels import LabelMapError  # noqa: E402
from imgcheck.export.safe_weights import WeightsError  # noqa: E402
from imgcheck.export.timm_import import TimmModelError, read_timm_model  # noqa: E402
from imgcheck.infer.models.model_file import ModelFile  # noqa: E402


@pytest.fixture(scope="module")
def check_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    return folder, real_looking_images(folder)


def _timm_model(arch: str, classes: int, seed: int = 0):  # noqa: ANN202 - a torch module
    import torch

    torch.manual_seed(seed)
    return timm.create_model(arch, pretrained=False, num_classes=classes).eval()


def _timm_scores(model, images):  # noqa: ANN001, ANN202
    """timm's own eval transform (resolve_data_config + create_transform) and model: raw outputs."""
    import torch
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({}, model=model))
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in images])
    with torch.no_grad():
        return model(batch).numpy()


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
    expected = _softmax(_timm_scores(model, images))[:, 1]
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
    expected = 1 / (1 + np.exp(-_timm_scores(model, images)[:, 0].astype(np.float64)))
    ours = np.array([p.p_fake for p in Detector(out, device="cpu").predict(images)])
    np.testing.assert_allclose(ours, expected, atol=1e-4)


class _Payload:
    """Any class: unpickling it would run code, so weights_only refuses it."""


@pytest.mark.parametrize("make, kwargs, error, fragment", [
    (lambda p: _save(_timm_model("test_resnet", 1000).state_dict(), p), {}, TimmModelError,
     "its head fc has 1000 outputs; imgcheck imports a detector with one logit or two classes"),
    (lambda p: _save({"fc.weight": np.zeros(1)}, p), {}, WeightsError,
     "refused: torch.load(weights_only=True) will not load it"),
    (lambda p: _save({**_timm_model("test_resnet", 2).state_dict(), "x": _Payload()}, p), {}, WeightsError,
     "refused: torch.load(weights_only=True) will not load it"),
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
