"""Frozen-encoder probes (`imgcheck train --freeze`): a backbone's pooled features, computed once, and a linear head
trained on them (the UnivFD recipe, for any backbone a user has weights for).

`split_head` cuts a registered model into its pooled-feature function (N, 3, H, W) -> (N, C) and its last layer
(N, C) -> (N, 1), so that `head(features(x)).squeeze(1)` is `model(x)`. `HeadTrainer` is a `Trainer` whose batches
are those features and whose forward is the head alone: the run's epoch loop, selection and outputs stay the
ordinary run's (`trainer.run`), and its `model` stays the whole network, so a checkpoint holds the unchanged
backbone with the trained head and exports, scans and loads as any other.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.architectures import ARCHS, CompactCNN, _OneLogit, build_model
from imgcheck.infer.models.stage_features import StageFeatures, resnet_stage_maps
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.data import Sample
from imgcheck.trainer.dataset import Batch, cache_key
from imgcheck.trainer.loop import Trainer

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


class PointwiseHead(nn.Module):
    """A 1x1 Conv2d classifier (timm's pre-activation ResNets) applied to (N, C) feature vectors; its parameters are
    the convolution's own, so training this trains the model's layer."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.in_features = conv.in_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features[:, :, None, None]).flatten(1)


def split_head(model: nn.Module) -> tuple[FeatureFn, nn.Module]:
    """The model's pooled-feature function and its final layer (an nn.Linear(C, 1), or a `PointwiseHead`), such
    that `head(features(x)).squeeze(1)` equals `model(x)` in eval mode. Refuses a model without a pooled feature,
    naming the archs that have one."""
    parts = _split(model)
    if parts is None:
        raise ImgcheckError(f"--freeze trains one linear layer on a pooled feature vector, and {_lacks(model)}. "
                            f"Use one of: {', '.join(freezable_archs())}.")
    return parts


def _split(model: nn.Module) -> tuple[FeatureFn, nn.Module] | None:
    if isinstance(model, StageFeatures):  # `<arch>+stages`: every stage's pooled output, concatenated
        features, layer = model.features, model.head
    elif isinstance(model, _OneLogit) and hasattr(model.body, "forward_head"):  # timm
        body = model.body
        features, layer = (lambda x: body.forward_head(body.forward_features(x), pre_logits=True)), \
            body.get_classifier()
    elif isinstance(model, CompactCNN):  # global average pool + flatten; the classifier's dropout idles in eval
        pool = model.classifier[:2]
        features, layer = (lambda x: pool(model.features(x))), model.classifier[-1]
    elif _is_torchvision_resnet(model):  # fc is Sequential(Linear, Flatten(0))
        features, layer = functools.partial(_resnet_features, model), model.fc[0]
    elif callable(getattr(model, "forward_features", None)) and isinstance(getattr(model, "head", None), nn.Linear):
        features, layer = model.forward_features, model.head
    else:  # e.g. the report's cnn: a dense layer on its flattened feature maps
        return None
    head = _one_logit_layer(layer)
    return None if head is None else (features, head)


def feature_dim(model: nn.Module) -> int:
    """The length C of the model's pooled feature vector."""
    return split_head(model)[1].in_features


def head_prefix(model: nn.Module, head: nn.Module) -> str:
    """The state_dict key prefix of the head's parameters, e.g. "fc.0." or "body.head.fc."."""
    layer = head.conv if isinstance(head, PointwiseHead) else head
    return next(f"{name}." for name, module in model.named_modules() if module is layer)


def backbone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict without its head: what a probe leaves unchanged."""
    prefix = head_prefix(model, split_head(model)[1])
    return {key: value for key, value in model.state_dict().items() if not key.startswith(prefix)}


def backbone_digest(model: nn.Module) -> str:
    """A sha256 of every backbone tensor (names, dtypes, shapes, bytes): the features' cache key part for weights."""
    digest = hashlib.sha256()
    for key, tensor in sorted(backbone_state(model).items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@functools.cache
def freezable_archs() -> tuple[str, ...]:
    """The registered archs with a pooled feature (each built on the meta device: structure only, no weights)."""
    names = []
    for name in ARCHS:
        with torch.device("meta"):
            model = build_model(name)
        if _split(model) is not None:
            names.append(name)
    return tuple(names)


class HeadTrainer(Trainer):
    """A Trainer for a probe: `features` runs the frozen backbone once over pixel batches (eval mode, no
    gradients, the run's precision policy); training and evaluation batches are then (features, targets), and the
    forward is the head alone, in float32. `model` is still the whole network (checkpoints save it all)."""

    def __init__(self, model: nn.Module, preprocessor: Preprocessor, device: torch.device) -> None:
        super().__init__(model, preprocessor, device)
        self.backbone, self.head = split_head(self.model)
        self.forward = self.train_forward = lambda features: self.head(features).squeeze(1)

    @torch.no_grad()
    def features(self, batches: Iterable[Batch], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """The pooled features (N, C) float32 of the images in `batches` (uint8 pixels, as evaluation makes them)."""
        self.model.eval()
        parts = [np.zeros((0, self.head.in_features), np.float32)]
        for pixels, targets in batches:
            images, _ = super()._inputs(pixels, targets)
            with super()._autocast():
                parts.append(self.backbone(images).float().cpu().numpy())
            if on_batch:
                on_batch(len(pixels))
        return np.concatenate(parts)

    def _inputs(self, features: np.ndarray, targets: np.ndarray, augment: tuple[str, ...] = (),
                generator: torch.Generator | None = None, augment_p: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
        # features are computed once, so augmentation cannot apply (TrainConfig.check refuses it)
        return torch.from_numpy(features).to(self.device), torch.from_numpy(targets).to(self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # one linear layer: float32 costs nothing


def cached_features(trainer: HeadTrainer, samples: Sequence[Sample], batches: Callable[[], Iterable[Batch]],
                    cache_dir: str | os.PathLike | None, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """`trainer.features` of `samples` (their pixel `batches`), kept in `cache_dir` as a .npy file keyed by the file
    list, the preprocessing, the backbone's weights and the device type (CUDA computes in bf16)."""
    if not samples:
        return np.zeros((0, trainer.head.in_features), np.float32)
    if cache_dir is None:
        return trainer.features(batches(), on_batch)
    key = hashlib.sha256(f"{cache_key(samples, trainer.preprocessor)}\0{backbone_digest(trainer.model)}\0"
                         f"{trainer.device.type}".encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"features-{key}.npy"
    if path.exists():
        return np.load(path)
    features = trainer.features(batches(), on_batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_path(path) as temporary, open(temporary, "wb") as fh:
        np.save(fh, features)
    return features


def _one_logit_layer(layer: nn.Module) -> nn.Module | None:
    if isinstance(layer, nn.Linear) and layer.out_features == 1:
        return layer
    if isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1) and layer.out_channels == 1:
        return PointwiseHead(layer)
    return None


def _is_torchvision_resnet(model: nn.Module) -> bool:
    from torchvision.models import ResNet

    return isinstance(model, ResNet) and isinstance(model.fc, nn.Sequential)


def _resnet_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision ResNet's forward up to its fc: the globally pooled, flattened layer4 maps."""
    return torch.flatten(model.avgpool(resnet_stage_maps(model, x)[-1]), 1)


def _lacks(model: nn.Module) -> str:
    if type(model).__name__ == "ReportCNN":
        return "the report's cnn has none (its dense layers take the flattened feature maps)"
    return f"a {type(model).__name__} has none that imgcheck knows"
