"""A Hugging Face image classifier, rebuilt from its snapshot without running any of its code, ready to export.

`config.json` must name one `*ForImageClassification` architecture that transformers itself defines (no
`auto_map`, no trust_remote_code). The network is built from the config with the snapshot's weights: the file is
read by `safe_weights` (safetensors, or a weights_only pickle) and handed to transformers' own loader as a state
dict (`from_pretrained(None, config=..., state_dict=...)`: nothing is looked up or downloaded, and older
checkpoints' key names are converted as transformers converts them); a missing, unexpected or misshapen key is
refused. The exported graph ends in a softmax over the classes (output `probabilities` [N, K]); `id2label` is read
as REAL/FAKE (`hub_labels`), and the preprocessing is the model's own image processor, as ModelMeta fields
(`processor_rules`)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import torch
from torch import nn

from imgcheck.export.foreign import short_reason
from imgcheck.export.hub_import import ImportedModel, describe_preprocessing, json_safe
from imgcheck.export.hub_labels import LabelMap, labels_from_id2label, map_labels
from imgcheck.export.hub_source import CONFIG, PREPROCESSOR, Location, Snapshot, open_snapshot
from imgcheck.export.safe_weights import WeightsError, load_state_dict, some_keys, weights_record
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError, ModelMetaError
from imgcheck.infer.meta import ModelMeta, Provenance
from imgcheck.infer.models.processor_rules import meta_fields_from_hf_processor
from imgcheck.infer.version import install_extra

OUTPUT_NAME = "probabilities"
HEAD_SUFFIX = "ForImageClassification"


class HubModelError(ImgcheckError):
    """A Hugging Face model imgcheck will not import (nothing was written)."""


class ClassProbabilities(nn.Module):
    """A transformers image classifier followed by the softmax over its classes: (N, 3, H, W) -> (N, K)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # the name `image` is the exported input's
        return torch.softmax(self.classifier(pixel_values=image).logits, dim=-1)


def read_hub_model(source: str | os.PathLike | Location, fake_labels: tuple[str, ...] = (), real_label: str | None = None,
                   threshold: float = 0.5, arch: str | None = None) -> ImportedModel:
    """Read the model at `source` (a snapshot folder, or `hf:org/name[@revision]`) into an ImportedModel."""
    _transformers()  # before any work: the `hub` extra is installed
    snapshot = open_snapshot(source)
    where = snapshot.source
    architecture = _architecture(snapshot)
    config = _config(snapshot, architecture)
    # transformers leaves its default labels (LABEL_0, LABEL_1, ...) out of config.json: the config object has them
    labels = map_labels(labels_from_id2label(config.id2label, f"{where}: {CONFIG}"), fake_labels, real_label,
                        source=where)
    try:
        preprocessing = meta_fields_from_hf_processor(snapshot.processor)
    except ModelMetaError as exc:
        raise HubModelError(f"{where}: {exc.message}")
    model = ClassProbabilities(_build(snapshot, architecture, config)).eval()
    meta = _meta(snapshot, architecture, labels, preprocessing, threshold, arch)
    _probe(model, meta, where)
    read = {"source": where, "architecture": f"{architecture} ({meta.arch})",
            "weights": ", ".join(f"{name} (sha256 {digest[:12]}...)" for name, digest in
                                 meta.provenance.extra["imported"]["weights"].items()),
            "labels": labels.describe(), "preprocessing": describe_preprocessing(meta)}
    return ImportedModel(model, meta, OUTPUT_NAME, read)


def _architecture(snapshot: Snapshot) -> str:
    """The one architecture config.json names, which must be an image classifier transformers defines."""
    where = f"{snapshot.source}: {CONFIG}"
    config = snapshot.config
    if config.get("auto_map") is not None:
        raise HubModelError(f"{where}: auto_map asks for the model's own code; imgcheck never runs a model's code "
                            "(trust_remote_code), so only architectures that transformers defines are imported.")
    names = config.get("architectures")
    if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
        raise HubModelError(f"{where}: 'architectures' must name one class (e.g. [\"ViTForImageClassification\"]), "
                            f"got {names!r}.")
    name = names[0]
    if not name.endswith(HEAD_SUFFIX) and name not in _image_classifiers():
        headless = " (a backbone without a classification head)" if name.endswith("Model") else ""
        raise HubModelError(f"{where}: {name} is not an image classifier{headless}; imgcheck imports transformers' "
                            f"*{HEAD_SUFFIX} models (ViT, Swin, ConvNeXt, CLIP, ...), whose head scores classes.")
    if name not in _image_classifiers():
        raise HubModelError(f"{where}: {name} is not an image classifier this transformers "
                            f"({_transformers().__version__}) defines; upgrade transformers, or export the model to "
                            "ONNX yourself and import that file.")
    return name


def _config(snapshot: Snapshot, architecture: str) -> Any:
    """config.json as transformers reads it (its PreTrainedConfig), which must be the architecture's config."""
    transformers = _transformers()
    from transformers import CONFIG_MAPPING

    where = f"{snapshot.source}: {CONFIG}"
    model_type = snapshot.config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise HubModelError(f"{where}: model_type {model_type!r} is not one transformers {transformers.__version__} "
                            "defines; upgrade transformers, or export the model to ONNX yourself and import that file.")
    model_class = getattr(transformers, architecture)
    try:
        config = CONFIG_MAPPING[model_type].from_dict(snapshot.config)
    except Exception as exc:  # a config the class rejects
        raise HubModelError(f"{where}: transformers cannot read it as a {model_type!r} config ({short_reason(exc)}).")
    if not isinstance(config, model_class.config_class):
        raise HubModelError(f"{where}: names {architecture}, whose config is not a {model_type!r} config; config.json "
                            "must describe the architecture it names.")
    return config


def _build(snapshot: Snapshot, architecture: str, config: Any) -> nn.Module:
    """The network of `config` (float32, eager attention: what the ONNX exporter traces) with the snapshot's
    weights, read by `safe_weights` and put in place by transformers itself, which renames the keys of older
    checkpoints; every key must be used and every parameter loaded."""
    transformers = _transformers()
    from transformers.utils import logging as hf_logging

    where = f"{snapshot.source}: {CONFIG}"
    model_class = getattr(transformers, architecture)
    state = load_state_dict(snapshot.weights)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # its load report and progress bar: imgcheck reports the keys itself
    hf_logging.disable_progress_bar()
    try:
        # No name or path: nothing is looked up or downloaded; the weights are `state`, the network `config`'s.
        model, info = model_class.from_pretrained(
            None, config=config, state_dict=state, attn_implementation="eager", dtype=torch.float32,
            output_loading_info=True, ignore_mismatched_sizes=True, local_files_only=True)
    except Exception as exc:
        raise HubModelError(f"{where}: transformers cannot build {architecture} with these weights "
                            f"({short_reason(exc)}).")
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    problems = [f"{len(info[kind])} {word} ({some_keys(sorted(map(str, info[kind])))})"
                for kind, word in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"),
                                   ("mismatched_keys", "of another shape")) if info.get(kind)]
    if problems or info.get("error_msgs"):
        detail = " and ".join(problems) or short_reason(Exception(info["error_msgs"][0]))
        raise WeightsError(f"{snapshot.source}: its weights do not fit {architecture}: {detail} key(s). The weights "
                           "and config.json must describe the same network.")
    return model.float().eval()


def _meta(snapshot: Snapshot, architecture: str, labels: LabelMap, preprocessing: dict[str, Any], threshold: float,
          arch: str | None) -> ModelMeta:
    import transformers

    imported = {
        "source": snapshot.source, "kind": "huggingface", "architecture": architecture,
        "weights": weights_record(snapshot.weights), "transformers": transformers.__version__,
        "id2label": {str(i): name for i, name in enumerate(labels.class_names)},
        "label_sides": {name: labels.side(name) for name in labels.class_names},
        "preprocessor_config": json_safe(snapshot.processor),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if snapshot.repo_id is not None:
        imported.update(repo_id=snapshot.repo_id, revision=snapshot.revision, commit=snapshot.commit)
    try:
        return ModelMeta(arch=arch or f"hf:{snapshot.config.get('model_type')}", **preprocessing,
                         class_names=labels.class_names, positive_class=labels.fakes[0],
                         positive_classes=labels.fakes if len(labels.fakes) > 1 else None, output="softmax",
                         threshold=threshold, provenance=Provenance(extra={"imported": imported}))
    except ModelMetaError as exc:
        raise HubModelError(f"{snapshot.source}: {PREPROCESSOR} or {CONFIG} gives no valid ModelMeta: {exc.message}")


@torch.no_grad()
def _probe(model: nn.Module, meta: ModelMeta, where: str) -> None:
    """The model must take the input its processor makes and give one probability per class."""
    _, height, width = meta.input_size
    try:
        out = model(torch.zeros(2, 3, height, width))
    except Exception as exc:
        raise HubModelError(f"{where}: the model fails on a {height}x{width} input, the size its image processor makes "
                            f"({short_reason(exc)}).")
    if tuple(out.shape) != (2, len(meta.class_names)):
        raise HubModelError(f"{where}: the model gives {tuple(out.shape[1:])} scores per image, but id2label names "
                            f"{len(meta.class_names)} classes.")


def _image_classifiers() -> set[str]:
    """Every image classification class of transformers' auto mapping."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    names: set[str] = set()
    for value in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES.values():
        names.update((value,) if isinstance(value, str) else value)
    return names


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise DependencyMissingError("importing a Hugging Face model needs transformers and safetensors: "
                                     f"{install_extra('hub')}")
    return transformers
