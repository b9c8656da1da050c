"""Multi-stage features: a model whose one logit reads every stage of a backbone, not its last alone.

`<arch>+stages` is `<arch>` with its classifier replaced by one linear layer on the concatenation of each stage's
output before the last, globally average-pooled, and the backbone's own final pooled feature (for ResNets that is the
last stage pooled; for EfficientNet-Lite0 the 1280-channel head convolution pooled). Early stages keep the fine,
local statistics that generated images differ in and that the last stage has mostly pooled away: the frozen-probe
recipe that reached CIFAKE ROC-AUC 0.988 on Open-NSFW used them. With `imgcheck train --freeze --head-input stages`
only that linear layer trains; without --freeze the whole network fine-tunes under it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imgcheck.infer.errors import ImgcheckError

STAGES_SUFFIX = "+stages"


def split_arch(arch: str) -> tuple[str, bool]:
    """(the registered arch, whether the name asks for multi-stage features): "opennsfw_resnet50+stages" ->
    ("opennsfw_resnet50", True)."""
    if arch.endswith(STAGES_SUFFIX):
        return arch[: -len(STAGES_SUFFIX)], True
    return arch, False


class StageFeatures(nn.Module):
    """`backbone`'s pooled stage outputs, concatenated, and one linear layer: float32 (N, 3, H, W) -> (N,) logits.
    The backbone's own classifier is removed (its weights are not part of this model)."""

    def __init__(self, backbone: nn.Module, arch: str = "this model") -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = _kind(backbone)
        if self.kind is None:
            raise ImgcheckError(f"{arch} has no stages imgcheck can read for --head-input stages; it reads "
                                "torchvision and timm ResNets, efficientnet_lite0 and opennsfw_resnet50.")
        self.stage_dims = _stage_dims(backbone, self.kind)
        self.num_features = sum(self.stage_dims)
        _remove_classifier(backbone, self.kind)
        self.head = nn.Linear(self.num_features, 1)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(N, sum of stage_dims): every stage's pooled output before the last, then the final pooled feature."""
        backbone = self.backbone
        if self.kind == "timm":
            final, maps = backbone.body.forward_intermediates(image)
            pooled = [_pool(m) for m in maps[:-1]] + [backbone.body.forward_head(final, pre_logits=True)]
        elif self.kind == "resnet":
            pooled = [_pool(m) for m in resnet_stage_maps(backbone, image)]
        else:
            pooled = [_pool(m) for m in backbone.stage_maps(image)]
        return torch.cat(pooled, dim=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image)).squeeze(1)


def resnet_stage_maps(model: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """A torchvision ResNet's feature maps after layer1 to layer4 (its forward up to the pooling)."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(image))))
    maps = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        maps.append(x)
    return maps


def _pool(maps: torch.Tensor) -> torch.Tensor:
    return torch.flatten(F.adaptive_avg_pool2d(maps, 1), 1)


def _kind(backbone: nn.Module) -> str | None:
    """timm (in architectures' one-logit wrapper, as `body`), resnet (torchvision) or opennsfw; None otherwise."""
    from torchvision.models import ResNet

    from imgcheck.infer.models.backbones import OpenNSFW

    if callable(getattr(getattr(backbone, "body", None), "forward_intermediates", None)):
        return "timm"
    if isinstance(backbone, ResNet):
        return "resnet"
    if isinstance(backbone, OpenNSFW):
        return "opennsfw"
    return None


def _stage_dims(backbone: nn.Module, kind: str) -> list[int]:
    if kind == "timm":
        return [info["num_chs"] for info in backbone.body.feature_info[:-1]] + [backbone.body.num_features]
    if kind == "resnet":
        return [_block_channels(layer[-1]) for layer in (backbone.layer1, backbone.layer2, backbone.layer3,
                                                         backbone.layer4)]
    return [stage[-1].conv_c.out_channels for stage in backbone.stages]


def _remove_classifier(backbone: nn.Module, kind: str) -> None:
    if kind == "timm":
        backbone.body.reset_classifier(0)
    elif kind == "resnet":
        backbone.fc = nn.Identity()
    else:
        backbone.head = nn.Identity()


def _block_channels(block: nn.Module) -> int:
    """The output channels of a torchvision BasicBlock (bn2) or Bottleneck (bn3)."""
    last_norm = getattr(block, "bn3", None) or block.bn2
    return last_norm.num_features
