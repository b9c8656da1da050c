"""A timm classifier with a one- or two-class head, ready to export: from its architecture name and a weights file
(`read_timm_model`), or saved as timm saves it, a folder or Hub repository (`read_timm_repo`).

`timm.create_model(ARCH, pretrained=False, num_classes=N)` builds the network (nothing is downloaded), N read from
the head's weights: 1 (one logit: the graph outputs it, `logit` [N]) or 2 (the graph ends in a softmax,
`probabilities` [N, 2]). The weights are read by `safe_weights` and loaded with every key checked. The preprocessing
is the model's `pretrained_cfg`, as ModelMeta fields (`processor_rules`): the architecture's own, or the one in the
saved model's config.json. Labels: config.json's `label_names` when it has them (read as REAL/FAKE by `hub_labels`;
with them a head may also have a REAL class and several FAKE ones, p_fake their sum), otherwise declared by the user
(`--class-names`, default REAL,FAKE; a one-logit head scores the FAKE class).

A saved timm model is what `timm.models.save_for_hf` writes and `push_to_hf_hub` uploads: `config.json`
({"architecture", "num_classes", "pretrained_cfg", optional "model_args" and "label_names"}) and `model.safetensors`
(or `pytorch_model.bin`, loaded with weights_only). A Hub id, `hf-hub:org/name[@revision]` as timm writes it (or
`hf:org/name[@revision]`), is fetched by `hub_source` (those files only, never code).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgcheck.export.foreign import short_reason
from imgcheck.export.hub_import import ImportedModel, describe_preprocessing, json_safe
from imgcheck.export.hub_labels import LabelMap, labels_from_id2label, map_labels
from imgcheck.export.hub_source import (CONFIG, HUB_PREFIX, TIMM_HUB_PREFIX, Location, is_timm_config, locate,
                                        read_json, weights_files)
from imgcheck.export.safe_weights import load_state_dict, load_strict, weights_record
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError, ModelMetaError
from imgcheck.infer.meta import ModelMeta, Provenance
from imgcheck.infer.models.processor_rules import meta_fields_from_timm_cfg
from imgcheck.infer.version import install_extra

DEFAULT_CLASS_NAMES = ("REAL", "FAKE")
# A head with label_names may score a REAL class against several generators; one with more outputs than this
# classifies something else (ImageNet has 1000 classes).
MAX_CLASSES = 64
SAVED_LAYOUT = f"{CONFIG} and model.safetensors, as timm.models.save_for_hf writes them"


class TimmModelError(ImgcheckError):
    """A timm model imgcheck will not import (nothing was written)."""


class TimmScores(nn.Module):
    """A timm classifier's output as imgcheck reads it: the one logit [N], or the softmax of the logits [N, K]."""

    def __init__(self, model: nn.Module, classes: int) -> None:
        super().__init__()
        self.model, self.classes = model, classes

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # the name `image` is the exported input's
        logits = self.model(image)
        return logits[:, 0] if self.classes == 1 else torch.softmax(logits, dim=-1)


@dataclass(frozen=True)
class _Source:
    """What a timm import reads: the architecture, the weights files, and a saved model's config."""

    arch: str
    where: str  # how messages name the source: "--timm ARCH", or the folder or org/name@revision
    shown: str  # what the report's source line says: the weights file, or the folder or org/name@revision
    files: tuple[Path, ...]
    pretrained_cfg: dict[str, Any] | None = None  # config.json's; None: the architecture's own
    model_args: dict[str, Any] = field(default_factory=dict)
    label_names: tuple[str, ...] | None = None
    record: dict[str, Any] = field(default_factory=dict)  # for provenance: source, repo_id, revision, commit

    @property
    def weights(self) -> str:
        return ", ".join(map(str, self.files))


def read_timm_model(arch: str, weights: str | os.PathLike, class_names: tuple[str, ...] | None = None,
                    fake_labels: tuple[str, ...] = (), real_label: str | None = None, threshold: float = 0.5,
                    name: str | None = None) -> ImportedModel:
    """Build timm's `arch` with the head of `weights` and those weights, as an ImportedModel."""
    weights = Path(weights)
    source = _Source(arch, f"--timm {arch}", str(weights), (weights,), record={"source": weights.name})
    return _read(source, class_names, fake_labels, real_label, threshold, name)


def read_timm_repo(source: str | os.PathLike | Location, class_names: tuple[str, ...] | None = None,
                   fake_labels: tuple[str, ...] = (), real_label: str | None = None, threshold: float = 0.5,
                   name: str | None = None) -> ImportedModel:
    """Read a timm model saved as timm saves it: a folder, or `hf-hub:org/name[@revision]` (or `hf:...`) fetched
    first; its config.json gives the architecture, the preprocessing and (when it has them) the labels."""
    _timm()  # before any work (a fetch): timm is installed
    return _read(_open_saved(source), class_names, fake_labels, real_label, threshold, name)


def _open_saved(source: str | os.PathLike) -> _Source:
    """The architecture, config and weights files of a saved timm model."""
    where = locate(source, (TIMM_HUB_PREFIX, HUB_PREFIX))
    folder, label = where.folder, where.source
    if not folder.is_dir():
        looks_like_id = label.count("/") == 1 and not label.startswith((".", "/", "~"))
        hint = f"; a Hub id is written {TIMM_HUB_PREFIX}{label}" if looks_like_id else ""
        raise TimmModelError(f"{label}: no such folder (a saved timm model is a folder with {SAVED_LAYOUT}{hint}).")
    if not (folder / CONFIG).is_file():
        raise TimmModelError(f"{label}: no {CONFIG}, so not a saved timm model (a folder with {SAVED_LAYOUT}); "
                             "otherwise give --timm ARCH --weights FILE.")
    config = read_json(folder / CONFIG)
    if not is_timm_config(config):
        transformers = " (a transformers model: import it without --timm)" if "model_type" in config else ""
        raise TimmModelError(f"{label}: {CONFIG} is not timm's{transformers}: timm writes an 'architecture' and a "
                             "'pretrained_cfg' (timm.models.save_for_hf).")
    cfg, model_args = config["pretrained_cfg"], config.get("model_args") or {}
    if not isinstance(cfg, dict) or not isinstance(model_args, dict):
        raise TimmModelError(f"{label}: {CONFIG}: pretrained_cfg and model_args must be JSON objects.")
    reserved = sorted(set(model_args) & (set(inspect.signature(_timm().create_model).parameters) - {"kwargs"}))
    if reserved:
        raise TimmModelError(f"{label}: {CONFIG}: model_args sets {', '.join(reserved)}: options of "
                             "timm.create_model, not of the network, which imgcheck does not pass on.")
    record = {"source": label, **({"repo_id": where.repo_id, "revision": where.revision, "commit": where.commit}
                                  if where.repo_id else {})}
    return _Source(config["architecture"], label, label, weights_files(folder), cfg, model_args,
                   _label_names(config.get("label_names", cfg.get("label_names")), label), record)


def _label_names(value: Any, where: str) -> tuple[str, ...] | None:
    """config.json's label_names (a list, or {index: name} as timm allows) in head order; None if it has none."""
    if value is None:
        return None
    if isinstance(value, dict):
        return labels_from_id2label(value, f"{where}: {CONFIG} label_names")
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise TimmModelError(f"{where}: {CONFIG}: label_names must be a list of class names, got {value!r:.80}.")
    return tuple(value)


def _read(source: _Source, class_names: tuple[str, ...] | None, fake_labels: tuple[str, ...],
          real_label: str | None, threshold: float, name: str | None) -> ImportedModel:
    """Build the network with the weights' head, load them, and describe it with ModelMeta."""
    timm = _timm()
    arch = source.arch
    if not timm.is_model(arch):
        named = "" if source.pretrained_cfg is None else f" {CONFIG} names architecture {arch!r}, which is"
        raise TimmModelError(f"{source.where}:{named} not an architecture timm {timm.__version__} knows (list them "
                             "with python -c \"import timm; print(timm.list_models('*vit*'))\"; a newer timm may).")
    state = load_state_dict(source.files)
    classes = _head_classes(_classifier_name(arch, source.pretrained_cfg), state, source)
    labels = _labels(source, classes, class_names, fake_labels, real_label)
    model = _create(timm, source, classes)
    load_strict(model, state, f"timm {arch} with a {classes}-class head", source.weights)
    model.eval()
    try:
        preprocessing = meta_fields_from_timm_cfg(dict(model.pretrained_cfg))
    except ModelMetaError as exc:
        raise TimmModelError(f"{source.where}: {exc.message}")
    _probe(model, preprocessing["input_size"], source.where)
    imported = {**source.record, "kind": "timm", "architecture": arch, "weights": weights_record(source.files),
                "timm": timm.__version__, "pretrained_cfg": json_safe(dict(model.pretrained_cfg)),
                **({"model_args": json_safe(source.model_args)} if source.model_args else {}),
                "label_sides": {n: labels.side(n) for n in labels.class_names},
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    fakes = labels.fakes
    try:
        meta = ModelMeta(arch=name or f"timm:{arch}", **preprocessing, class_names=labels.class_names,
                         positive_class=fakes[0], positive_classes=fakes if len(fakes) > 1 else None,
                         output="logit" if classes == 1 else "softmax", threshold=threshold,
                         provenance=Provenance(extra={"imported": imported}))
    except ModelMetaError as exc:
        raise TimmModelError(f"{source.where}: no valid ModelMeta: {exc.message}")
    read = {"source": source.shown,
            "architecture": f"timm {arch}, {classes}-class head ({meta.arch})",
            "weights": ", ".join(f"{n} (sha256 {d[:12]}...)" for n, d in imported["weights"].items()),
            "labels": labels.describe() + (" (the one logit scores the FAKE class)" if classes == 1 else ""),
            "preprocessing": describe_preprocessing(meta)}
    return ImportedModel(TimmScores(model, classes).eval(), meta, "logit" if classes == 1 else "probabilities", read)


def _labels(source: _Source, classes: int, class_names: tuple[str, ...] | None, fake_labels: tuple[str, ...],
            real_label: str | None) -> LabelMap:
    """The classes as REAL/FAKE: config.json's label_names, or the declared names (default REAL,FAKE)."""
    names = source.label_names
    if names is None:
        names = tuple(class_names or DEFAULT_CLASS_NAMES)
        if len(names) != 2:
            raise TimmModelError(f"--class-names {','.join(names)}: a timm detector has two classes (REAL and "
                                 f"FAKE), got {len(names)}.")
    elif len(names) != classes:
        raise TimmModelError(f"{source.where}: its {CONFIG} label_names name {len(names)} classes, but its head has "
                             f"{classes} outputs.")
    elif class_names:
        raise TimmModelError(f"{source.where}: its {CONFIG} names the classes (label_names {', '.join(names)}); "
                             "settle their sides with --fake-label/--real-label, not --class-names.")
    elif classes == 1:
        raise TimmModelError(f"{source.where}: a one-logit head with label_names ({names[0]}) does not say which "
                             f"side the logit scores; remove label_names from its {CONFIG} and declare the classes "
                             "with --class-names (the logit scores the second).")
    return map_labels(names, fake_labels, real_label, source=source.where)


def _create(timm: Any, source: _Source, classes: int) -> nn.Module:
    """timm's network of `source` with a `classes`-output head; a saved model's with its config (nothing is
    downloaded: pretrained=False)."""
    if source.pretrained_cfg is None:
        return timm.create_model(source.arch, pretrained=False, num_classes=classes)
    try:
        return timm.create_model(source.arch, pretrained=False, pretrained_cfg=dict(source.pretrained_cfg),
                                 **{**source.model_args, "num_classes": classes})
    except Exception as exc:  # a pretrained_cfg or model_args this timm does not take
        raise TimmModelError(f"{source.where}: timm {timm.__version__} cannot build {source.arch} from its {CONFIG} "
                             f"({short_reason(exc)}).")


@torch.no_grad()
def _probe(model: nn.Module, input_size: tuple[int, int, int], where: str) -> None:
    """The network must take the input its pretrained_cfg asks for."""
    try:
        model(torch.zeros(1, *input_size))
    except Exception as exc:
        raise TimmModelError(f"{where}: the model fails on a {input_size[1]}x{input_size[2]} input, the size its "
                             f"pretrained_cfg asks for ({short_reason(exc)}).")


def _classifier_name(arch: str, cfg: dict[str, Any] | None) -> str | None:
    """The name of the classifier module, from the saved pretrained_cfg or `arch`'s own (the first, for distilled
    two-head models)."""
    import timm

    classifier = (cfg or {}).get("classifier")
    if classifier is None:
        default = timm.models.get_pretrained_cfg(arch)
        classifier = default.classifier if default is not None else timm.create_model(
            arch, num_classes=1).pretrained_cfg.get("classifier")
    return classifier[0] if isinstance(classifier, (list, tuple)) else classifier


def _head_classes(classifier: str | None, state: dict[str, torch.Tensor], source: _Source) -> int:
    """The output count of the weights' classifier: 1 or 2, or up to MAX_CLASSES when label_names name them."""
    head = state.get(f"{classifier}.weight") if isinstance(classifier, str) else None
    if head is None or head.ndim < 1:
        raise TimmModelError(f"{source.weights}: no classifier weights {classifier}.weight for timm {source.arch}; "
                             "are they weights of that architecture?")
    count = int(head.shape[0])
    if count not in (1, 2) and not (source.label_names is not None and count <= MAX_CLASSES):
        more = f", or up to {MAX_CLASSES} named by label_names in {CONFIG}," if source.pretrained_cfg is not None \
            else ","
        raise TimmModelError(f"{source.weights}: its head {classifier} has {count} outputs; imgcheck imports a "
                             f"detector with one logit or two classes (REAL, FAKE){more} not an ImageNet classifier.")
    return count


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise DependencyMissingError(f"--timm needs timm and torch: {install_extra('train')}")
    return timm
