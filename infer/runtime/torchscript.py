"""TorchScript models through torch (imported only when such a model is loaded)."""

from __future__ import annotations

import os
import warnings

from imgcheck.infer.runtime.torch_base import TorchBackend
from imgcheck.infer.errors import ModelFileError


class TorchScriptBackend(TorchBackend):
    """A TorchScript file run by torch.jit on CPU or CUDA."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(path, device, threads)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch deprecates torch.jit; the files still load
                self.module = self._torch.jit.load(os.fspath(path), map_location=self.device).eval()
        except Exception as exc:
            raise ModelFileError(f"{os.fsdecode(path)}: torch.jit cannot load it ({' '.join(str(exc).split())}).")
