"""A training checkpoint run as eager PyTorch: the baseline every export is compared to, and a model `scan`,
`calibrate` and `bench` accept like any other. torch and imgcheck.trainer are imported only when one is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.runtime.torch_base import TorchBackend

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile


class EagerBackend(TorchBackend):
    """A checkpoint's model, built from its registered arch with the weights the ModelFile already loaded."""

    kind = "torch eager"

    def __init__(self, model_file: ModelFile, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(model_file, device, threads)
        from imgcheck.trainer.models import build_model

        model = build_model(self.meta.arch)
        try:
            model.load_state_dict(model_file.checkpoint()["state_dict"])
        except (KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelFileError(f"{model_file.path}: its weights do not fit a {self.meta.arch} model ({first}).")
        self.module = model.to(self.device).eval()
