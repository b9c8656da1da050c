"""The default model shipped inside the package: what `imgcheck scan` and `imgcheck bench` use without --model.

It is the `cnn_bn` architecture trained on the full CIFAKE train set (see MODEL_CARD.md for how, and for its
limits: 32x32 images, Stable Diffusion 1.4 fakes).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.model_file import ModelFile

BUNDLED_MODEL = "cnn_bn_wide-cifake.onnx"


def bundled_model_path() -> Path:
    """The path of the bundled ONNX model inside the installed package."""
    path = Path(str(resources.files("imgcheck.infer.models") / BUNDLED_MODEL))
    if not path.is_file():
        raise ModelFileError(f"the bundled model {BUNDLED_MODEL} is missing from this installation ({path}); "
                             "reinstall imgcheck or pass --model FILE.")
    return path


def open_model_file(path: str | os.PathLike | None = None) -> ModelFile:
    """The ModelFile at `path`, or the bundled model's when `path` is None."""
    return ModelFile.open(bundled_model_path() if path is None else path)
