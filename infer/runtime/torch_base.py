"""What the two torch backends share: device choice, threads, batched calls, CUDA synchronisation."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from imgcheck.infer.errors import DependencyMissingError, ImgcheckError


class TorchBackend:
    """Runs `self.module` (set by a subclass) on float32 NCHW batches; applies the sigmoid when `logit_output`."""

    runtime = "torch"
    kind = "torch"  # shown in `provider`
    module: Any
    logit_output = False

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise DependencyMissingError(f"{os.fsdecode(path)} needs torch to run: pip install 'imgcheck[train]' "
                                         "(or use an ONNX export).")
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ImgcheckError("--device cuda: torch sees no CUDA GPU here. Use --device cpu or auto.")
        self.threads = threads
        self.device = torch.device(device)
        self.provider = f"{self.kind} ({device})"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        # torch's thread count is process-wide: another backend may have changed it since this one was made
        if self.threads and self._torch.get_num_threads() != self.threads:
            self._torch.set_num_threads(self.threads)
        with self._torch.inference_mode():
            out = self.module(self._torch.from_numpy(batch).to(self.device))
            if self.logit_output:
                out = self._torch.sigmoid(out)
        return out.float().cpu().numpy().reshape(-1)

    def synchronize(self) -> None:
        """Wait for queued CUDA work (the clock must not stop before the GPU does)."""
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())
