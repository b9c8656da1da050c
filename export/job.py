"""What every exporter works from: the model with its sigmoid, its ModelMeta, and shared settings."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.architectures import module_from_checkpoint
from imgcheck.infer.models.model_file import CHECKPOINT, ONNX, TORCHSCRIPT, ModelFile, UnknownModelFileError, sniff


class ProbabilityModel(nn.Module):
    """A logit model followed by the sigmoid: float32 (N, 3, H, W) -> p_fake (N,)."""

    def __init__(self, logit_model: nn.Module) -> None:
        super().__init__()
        self.logit_model = logit_model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit_model(image))


@dataclass
class ExportJob:
    """One checkpoint being exported: the eval-mode probability model, its export ModelMeta and options."""

    model: nn.Module
    meta: ModelMeta
    workdir: Path
    opset: int | None = None
    calibration: np.ndarray | None = None  # float32 model inputs for int8 calibration
    int8_scheme: str = "auto"  # a name in imgcheck.export.int8_schemes.SCHEMES, or auto (by this CPU)
    # a static scheme's range rule (imgcheck.export.int8_schemes.CALIBRATION_METHODS); None for a dynamic scheme
    int8_calibration: str | None = "minmax"
    output_name: str = "p_fake"  # the graph's output: p_fake [N]; imported models name their per-class output
    _onnx_fp32: Path | None = field(default=None, repr=False)

    def onnx_fp32(self) -> Path:
        """A float32 ONNX export in the work folder, made once and shared by the fp16 and int8 exporters."""
        if self._onnx_fp32 is None:
            from imgcheck.export.onnx_export import export_onnx

            path = self.workdir / f".{os.getpid()}-base.onnx"
            export_onnx(self, path)
            self._onnx_fp32 = path
        return self._onnx_fp32

    def cleanup(self) -> None:
        """Remove the shared intermediate files."""
        if self._onnx_fp32 is not None:
            self._onnx_fp32.unlink(missing_ok=True)
            Path(f"{self._onnx_fp32}.data").unlink(missing_ok=True)


def job_from_checkpoint(path: str | os.PathLike, workdir: Path, opset: int | None = None) -> ExportJob:
    """Load a training checkpoint (weights_only) into an ExportJob whose meta says the output is a probability."""
    model_file = open_checkpoint(path)
    model, meta = module_from_checkpoint(model_file), model_file.meta
    export_meta = meta.replace(output="probability") if meta.output == "logit" else meta
    return ExportJob(ProbabilityModel(model).eval(), export_meta, workdir, opset)


_EXPORT_TAKES = "`imgcheck export` takes a training checkpoint (the .pt that `imgcheck train` writes)"
_EXPORTED = {ONNX: "an ONNX model", TORCHSCRIPT: "a TorchScript model"}


def open_checkpoint(path: str | os.PathLike) -> ModelFile:
    """The training checkpoint at `path`. Its content is sniffed first, as every command sniffs a model file, so
    anything else (an ONNX or TorchScript model, an empty or unknown file) is refused in one line before torch reads
    a byte of it; a checkpoint then opens as any ModelFile does (archive checked, weights_only)."""
    path = Path(path)
    try:
        carrier = sniff(path)[0]
    except UnknownModelFileError as exc:
        raise ModelFileError(f"{path}: not a training checkpoint ({exc.reason}); {_EXPORT_TAKES}.") from None
    if carrier != CHECKPOINT:
        raise ModelFileError(f"{path} is {_EXPORTED[carrier]}; {_EXPORT_TAKES}. It is exported already: run it with "
                             "`imgcheck scan --model`, or give a foreign one imgcheck's metadata with `imgcheck "
                             "import`.")
    return ModelFile.open(path)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence exporters' progress prints, warnings and log records (onnxruntime's quantizer logs through the root
    logger, once per LayerNorm of a transformer): a CLI shows its own report, not theirs."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
