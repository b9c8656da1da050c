"""A training checkpoint run as eager PyTorch: the baseline every export is compared to, and a model `scan`,
`calibrate` and `bench` accept like any other. torch and the architectures are imported only when one is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgcheck.infer.runtime.torch_base import TorchBackend

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile


class EagerBackend(TorchBackend):
    """A checkpoint's model, built from its registered arch with the weights the ModelFile already loaded."""

    kind = "torch eager"

    def __init__(self, model_file: ModelFile, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(model_file, device, threads)
        from imgcheck.infer.models.architectures import module_from_checkpoint

        self.module = module_from_checkpoint(model_file).to(self.device)
