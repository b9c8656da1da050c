"""A training checkpoint run as eager PyTorch (for `imgcheck bench`: the baseline every export is compared to).

torch and imgcheck.trainer are imported only when such a model is loaded.
"""

from __future__ import annotations

import os

from imgcheck.infer.runtime.torch_base import TorchBackend


class EagerBackend(TorchBackend):
    """A checkpoint's model, built from its registered arch, with the sigmoid applied to logit outputs."""

    kind = "torch eager"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(path, device, threads)
        from imgcheck.trainer.checkpoint import load_checkpoint
        from imgcheck.trainer.models import build_model

        checkpoint, meta = load_checkpoint(path)
        model = build_model(meta.arch)
        model.load_state_dict(checkpoint["state_dict"])
        self.module = model.to(self.device).eval()
        self.logit_output = meta.output == "logit"
