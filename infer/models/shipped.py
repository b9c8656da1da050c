"""The models shipped inside the package, by name: `--model NAME` wherever a model file is taken.

A name is looked up only when no file of that name exists, so a model file named like a shipped model still wins.
MODEL_CARD.md describes every shipped model: data, recipe, metrics and limits; licenses/ holds the third-party
licences of pretrained weights a shipped model was fine-tuned from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from imgcheck.infer.errors import ModelFileError


@dataclass(frozen=True)
class ShippedModel:
    """One model file inside the package, and what it is, in one line."""

    name: str
    file: str
    summary: str


SHIPPED: dict[str, ShippedModel] = {m.name: m for m in (
    ShippedModel("cifake", "cnn_bn_wide-cifake.onnx",
                 "the default: a small CNN trained on CIFAKE (32x32 images, Stable Diffusion 1.4 fakes); 96.5% on "
                 "its test set"),
    ShippedModel("cifake-opennsfw", "opennsfw_resnet50_64-cifake.int8.onnx",
                 "an ImageNet-pretrained half-width ResNet-50 (Yahoo's Open-NSFW, BSD-2) fine-tuned on CIFAKE at "
                 "64x64, int8: 96.9% on its test set and more robust to JPEG, resizing and blur, at about 2/3 of the "
                 "default's scan speed"),
)}
DEFAULT_MODEL = "cifake"


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The path of the shipped model `name` inside the installed package."""
    if name not in SHIPPED:
        raise ModelFileError(f"no shipped model is named {name!r}; the shipped models are {names()}.")
    path = Path(str(resources.files("imgcheck.infer.models") / SHIPPED[name].file))
    if not path.is_file():
        raise ModelFileError(f"the shipped model {name} ({SHIPPED[name].file}) is missing from this installation "
                             f"({path}); reinstall imgcheck or pass --model FILE.")
    return path


def resolve_model_path(model: str | os.PathLike) -> Path:
    """`model` as a path: the file itself when it exists, else the shipped model of that name, else the path as
    given (opening it then says there is no such file)."""
    path = Path(model)
    if not path.exists() and os.fspath(model) in SHIPPED:
        return shipped_model_path(os.fspath(model))
    return path


def names() -> str:
    """The shipped models' names, for messages: `cifake, cifake-x`."""
    return ", ".join(SHIPPED)
