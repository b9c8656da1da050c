"""TorchScript models through torch (imported only when such a model is loaded)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from imgcheck.infer.errors import DependencyMissingError, ImgcheckError, ModelFileError


class TorchScriptBackend:
    """A TorchScript file run by torch.jit on CPU or CUDA."""

    runtime = "torch"

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError:
            raise DependencyMissingError(f"{os.fsdecode(path)} is TorchScript; running it needs torch: "
                                         "pip install 'imgcheck[train]' (or use the ONNX export).")
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ImgcheckError("--device cuda: torch sees no CUDA GPU here. Use --device cpu or auto.")
        self.device = torch.device(device)
        self.provider = f"torch ({device})"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch deprecates torch.jit; the files still load
                self.module = torch.jit.load(os.fspath(path), map_location=self.device).eval()
        except Exception as exc:
            raise ModelFileError(f"{os.fsdecode(path)}: torch.jit cannot load it ({' '.join(str(exc).split())}).")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        with self._torch.inference_mode():
            out = self.module(self._torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy().reshape(-1)
