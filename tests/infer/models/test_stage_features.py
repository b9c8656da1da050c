import pytest
import torch
from torch import nn

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import parse_meta
from imgcheck.infer.models.architectures import arch_spec, build_model, default_meta
from imgcheck.infer.models.stage_features import StageFeatures, split_arch

# each kind of backbone the stages are read from: torchvision ResNet, Open-NSFW, timm (EfficientNet, ResNet-v2)
KINDS = ["resnet18_v1", "opennsfw_resnet50", "efficientnet_lite0",
         pytest.param("resnet50_preact", marks=pytest.mark.slow)]


def _stage_modules(model: StageFeatures) -> list[nn.Module]:
    """The modules whose outputs are the stages, found independently of StageFeatures.features."""
    backbone = model.backbone
    if model.kind == "resnet":
        return [backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
    if model.kind == "opennsfw":
        return list(backbone.stages)
    return [backbone.body.get_submodule(info["module"]) for info in backbone.body.feature_info]


def _pooled(maps: torch.Tensor) -> torch.Tensor:
    return maps.mean(dim=(2, 3))


@pytest.mark.parametrize("arch", KINDS)
def test_features_are_each_stage_pooled_then_the_final_pooled_feature(arch):
    torch.manual_seed(0)
    model = build_model(f"{arch}+stages").eval()
    captured: list[torch.Tensor] = []
    hooks = [module.register_forward_hook(lambda _m, _i, out: captured.append(out)) for module in _stage_modules(model)]
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.features(images)
        for hook in hooks:
            hook.remove()
        logits = model(images)
    assert features.shape == (2, sum(model.stage_dims)) and logits.shape == (2,)
    early = torch.cat([_pooled(maps) for maps in captured[:-1]], dim=1)
    assert torch.allclose(features[:, : early.shape[1]], early, atol=1e-5)  # every stage before the last
    assert model.stage_dims[-1] == features.shape[1] - early.shape[1]
    assert torch.allclose(logits, model.head(features).squeeze(1), atol=1e-6)


def test_the_backbones_own_classifier_is_gone():
    model = build_model("opennsfw_resnet50+stages")
    assert isinstance(model.backbone.head, nn.Identity)
    assert [k for k in model.state_dict() if "head" in k] == ["head.weight", "head.bias"]
    assert model.head.in_features == 128 + 256 + 512 + 1024


def test_a_weights_file_loads_into_the_backbone(tmp_path):
    torch.manual_seed(5)
    plain = build_model("opennsfw_resnet50")
    path = tmp_path / "opennsfw.pt"
    torch.save(plain.state_dict(), path)
    model = build_model("opennsfw_resnet50+stages", weights_file=path)
    backbone = model.backbone.state_dict()
    for key, tensor in plain.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(backbone[key], tensor), key


def test_an_arch_without_stages_is_refused_in_one_line():
    with pytest.raises(ImgcheckError, match="no stages imgcheck can read") as refused:
        build_model("cnn_bn+stages")
    assert "\n" not in str(refused.value)


def test_names_and_specs():
    assert split_arch("efficientnet_lite0+stages") == ("efficientnet_lite0", True)
    assert split_arch("efficientnet_lite0") == ("efficientnet_lite0", False)
    spec = arch_spec("efficientnet_lite0+stages")
    assert spec.name == "efficientnet_lite0+stages" and spec.mean == arch_spec("efficientnet_lite0").mean
    with pytest.raises(ImgcheckError, match="unknown arch"):
        arch_spec("nosuch+stages")
    meta = default_meta("resnet18_v1+stages", input_size=(64, 64))
    assert parse_meta(meta.to_json()).arch == "resnet18_v1+stages"
