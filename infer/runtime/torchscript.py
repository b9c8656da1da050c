"""TorchScript models through torch (imported only when such a model is loaded)."""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.runtime.torch_base import TorchBackend

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile


class TorchScriptBackend(TorchBackend):
    """A TorchScript file run by torch.jit on CPU or CUDA."""

    def __init__(self, model_file: ModelFile, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(model_file, device, threads)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch deprecates torch.jit; the files still load
                self.module = self._torch.jit.load(os.fspath(model_file.path), map_location=self.device).eval()
        except Exception as exc:
            raise ModelFileError(f"{model_file.path}: torch.jit cannot load it ({' '.join(str(exc).split())}).")
