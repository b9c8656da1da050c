"""The models shipped inside the package, by name: `--model NAME` wherever a model file is taken.

A name is looked up only when no file of that name exists, so a model file named like a shipped model still wins.
MODEL_CARD.md describes every shipped model: data, recipe, metrics and limits.
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
                 "the default: a small CNN trained on CIFAKE (32x32 images, Stable Diffusion 1.4 fakes)"),
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
