"""The default model shipped inside the package: what `imgcheck scan` and `imgcheck bench` use without --model.

It is the `cnn_bn_wide` architecture trained on the full CIFAKE train set (see MODEL_CARD.md for how, and for its
limits: 32x32 images, Stable Diffusion 1.4 fakes). The other shipped models are named in `shipped`.
"""

from __future__ import annotations

import os
from pathlib import Path

from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.models.shipped import DEFAULT_MODEL, shipped_model_path


def bundled_model_path() -> Path:
    """The path of the bundled (default) ONNX model inside the installed package."""
    return shipped_model_path(DEFAULT_MODEL)


def open_model_file(path: str | os.PathLike | None = None) -> ModelFile:
    """The ModelFile at `path` (a file, or a shipped model's name), or the bundled model's when `path` is None."""
    return ModelFile.open(bundled_model_path() if path is None else path)
