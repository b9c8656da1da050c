"""A timm classifier with a one- or two-class head, from its architecture name and a weights file, ready to export.

`timm.create_model(ARCH, pretrained=False, num_classes=N)` builds the network (nothing is downloaded), N read from
the head's weights: 1 (one logit: the graph outputs it, `logit` [N]) or 2 (the graph ends in a softmax,
`probabilities` [N, 2]). The weights file is read by `safe_weights` and loaded with every key checked. timm models
carry no label names: the user declares them (`--class-names`, default REAL,FAKE; a one-logit head scores the FAKE
class). The preprocessing is the architecture's `pretrained_cfg`, as ModelMeta fields (`processor_rules`).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from imgcheck.export.hub_import import ImportedModel, describe_preprocessing, json_safe
from imgcheck.export.hub_labels import map_labels
from imgcheck.export.safe_weights import load_state_dict, load_strict, weights_record
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError, ModelMetaError
from imgcheck.infer.meta import ModelMeta, Provenance
from imgcheck.infer.models.processor_rules import meta_fields_from_timm_cfg
from imgcheck.infer.version import install_extra

DEFAULT_CLASS_NAMES = ("REAL", "FAKE")


class TimmModelError(ImgcheckError):
    """A timm model imgcheck will not import (nothing was written)."""


class TimmScores(nn.Module):
    """A timm classifier's output as imgcheck reads it: the one logit [N], or the softmax of two logits [N, 2]."""

    def __init__(self, model: nn.Module, classes: int) -> None:
        super().__init__()
        self.model, self.classes = model, classes

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # the name `image` is the exported input's
        logits = self.model(image)
        return logits[:, 0] if self.classes == 1 else torch.softmax(logits, dim=-1)


def read_timm_model(arch: str, weights: str | os.PathLike, class_names: tuple[str, ...] | None = None,
                    fake_labels: tuple[str, ...] = (), real_label: str | None = None, threshold: float = 0.5,
                    name: str | None = None) -> ImportedModel:
    """Build timm's `arch` with the head of `weights` and those weights, as an ImportedModel."""
    try:
        import timm
    except ImportError:
        raise DependencyMissingError(f"--timm needs timm and torch: {install_extra('train')}")
    weights = Path(weights)
    if not timm.is_model(arch):
        raise TimmModelError(f"--timm {arch}: not an architecture timm {timm.__version__} knows (list them with "
                             "python -c \"import timm; print(timm.list_models('*vit*'))\").")
    state = load_state_dict([weights])
    names = tuple(class_names or DEFAULT_CLASS_NAMES)
    if len(names) != 2:
        raise TimmModelError(f"--class-names {','.join(names)}: a timm detector has two classes (REAL and FAKE), "
                             f"got {len(names)}.")
    labels = map_labels(names, fake_labels, real_label, source=f"--timm {arch}")
    classes = _head_classes(_classifier_name(arch), state, arch, weights)
    model = timm.create_model(arch, pretrained=False, num_classes=classes)
    load_strict(model, state, f"timm {arch} with a {classes}-class head", str(weights))
    try:
        preprocessing = meta_fields_from_timm_cfg(dict(model.pretrained_cfg))
    except ModelMetaError as exc:
        raise TimmModelError(f"--timm {arch}: {exc.message}")
    imported = {"source": weights.name, "kind": "timm", "architecture": arch, "weights": weights_record([weights]),
                "timm": timm.__version__, "pretrained_cfg": json_safe(dict(model.pretrained_cfg)),
                "label_sides": {n: labels.side(n) for n in names},
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        meta = ModelMeta(arch=name or f"timm:{arch}", **preprocessing, class_names=names,
                         positive_class=labels.fakes[0], output="logit" if classes == 1 else "softmax",
                         threshold=threshold, provenance=Provenance(extra={"imported": imported}))
    except ModelMetaError as exc:
        raise TimmModelError(f"--timm {arch}: no valid ModelMeta: {exc.message}")
    read = {"source": str(weights), "architecture": f"timm {arch}, {classes}-class head ({meta.arch})",
            "weights": ", ".join(f"{n} (sha256 {d[:12]}...)" for n, d in imported["weights"].items()),
            "labels": labels.describe() + (" (the one logit scores the FAKE class)" if classes == 1 else ""),
            "preprocessing": describe_preprocessing(meta)}
    return ImportedModel(TimmScores(model, classes).eval(), meta, "logit" if classes == 1 else "probabilities", read)


def _classifier_name(arch: str) -> str | None:
    """The name of `arch`'s classifier module, from its pretrained_cfg (the first, for distilled two-head models)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    classifier = cfg.classifier if cfg is not None else timm.create_model(arch, num_classes=1).pretrained_cfg.get(
        "classifier")
    return classifier[0] if isinstance(classifier, (list, tuple)) else classifier


def _head_classes(classifier: str | None, state: dict[str, torch.Tensor], arch: str, weights: Path) -> int:
    """The output count of the weights' classifier: 1 or 2."""
    head = state.get(f"{classifier}.weight") if isinstance(classifier, str) else None
    if head is None or head.ndim < 1:
        raise TimmModelError(f"{weights}: no classifier weights {classifier}.weight for timm {arch}; are they "
                             "weights of that architecture?")
    if head.shape[0] not in (1, 2):
        raise TimmModelError(f"{weights}: its head {classifier} has {head.shape[0]} outputs; imgcheck imports a "
                             "detector with one logit or two classes (REAL, FAKE), not an ImageNet classifier.")
    return int(head.shape[0])
