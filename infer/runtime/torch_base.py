"""What the two torch backends share: device choice, threads, batched calls, CUDA synchronisation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.runtime.outputs import to_p_fake
from imgcheck.infer.version import install_extra

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile


class TorchBackend:
    """Runs `self.module` (set by a subclass) on float32 NCHW batches; its output becomes p_fake as the file's
    ModelMeta declares (a checkpoint's logit gets the sigmoid)."""

    runtime = "torch"
    kind = "torch"  # shown in `provider`
    module: Any

    def __init__(self, model_file: ModelFile, device: str = "cpu", threads: int | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise DependencyMissingError(f"{model_file.path} needs torch to run: {install_extra('train')} (or use "
                                         "an ONNX export).")
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ImgcheckError("--device cuda: torch sees no CUDA GPU here. Use --device cpu or auto.")
        self.model_file = model_file
        self.meta = model_file.meta
        self.threads = threads
        self.device = torch.device(device)
        self.provider = f"{self.kind} ({device})"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        return to_p_fake(self.raw(batch), self.meta)

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The module's output for a float32 (N, 3, H, W) batch, as float32 on the host (one row per input)."""
        # torch's thread count is process-wide: another backend may have changed it since this one was made
        if self.threads and self._torch.get_num_threads() != self.threads:
            self._torch.set_num_threads(self.threads)
        with self._torch.inference_mode():
            out = self.module(self._torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()

    def synchronize(self) -> None:
        """Wait for queued CUDA work (the clock must not stop before the GPU does)."""
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())
