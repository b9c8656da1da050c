"""A model saved by its library, in a folder or on the Hub (`hf:org/name[@revision]`): a `transformers` image
classifier or a timm model, told apart by its config.json, and read by the import that fits it."""

from __future__ import annotations

import os

from imgcheck.export.hub_import import ImportedModel
from imgcheck.export.hub_source import CONFIG, Location, is_timm_config, locate, read_json


def read_saved_model(source: str | os.PathLike | Location, class_names: tuple[str, ...] | None = None,
                     fake_labels: tuple[str, ...] = (), real_label: str | None = None, threshold: float = 0.5,
                     arch: str | None = None) -> ImportedModel:
    """Fetch `source` once (a Hub id) and read it: a timm model (config.json as timm writes it) through
    `timm_import.read_timm_repo`, anything else through `hub.read_hub_model`. `class_names` applies to a timm
    model without label names only; a transformers model's classes are its id2label."""
    where = locate(source)
    config = where.folder / CONFIG
    if config.is_file() and is_timm_config(read_json(config)):
        from imgcheck.export.timm_import import read_timm_repo

        return read_timm_repo(where, class_names, fake_labels, real_label, threshold, name=arch)
    from imgcheck.export.hub import HubModelError, read_hub_model

    if class_names is not None:
        raise HubModelError(f"--class-names: {where.source} is a Hugging Face model, whose classes are its config's "
                            "id2label; settle their sides with --fake-label/--real-label.")
    return read_hub_model(where, fake_labels, real_label, threshold, arch=arch)
