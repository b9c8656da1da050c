"""The one format registry: every model format imgcheck writes and runs.

`imgcheck export` writes with `exporter`, the parity gate and `imgcheck bench`/`scan` run with `backend`.
Both are import paths, so reading this table imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from imgcheck.infer.errors import ModelFileError


@dataclass(frozen=True)
class ModelFormat:
    """One exportable, runnable model format."""

    name: str
    suffix: str  # file name ending, e.g. ".int8.onnx"
    runtime: str  # "onnxruntime" or "torch"
    precision: str  # "fp32", "fp16" or "int8" (weights; inputs and outputs stay float32)
    cpu: bool
    gpu: bool
    exporter: str  # "module:function" in imgcheck.export (needs torch)
    backend: str  # "module:class" in imgcheck.infer.runtime
    description: str

    def load_backend(self, path: str | os.PathLike, **options: Any) -> Any:
        """Open `path` with this format's runtime: a callable from float32 NCHW batches to p_fake."""
        return _resolve(self.backend)(path, **options)

    def exporter_function(self) -> Any:
        """The function that writes this format (imports torch)."""
        return _resolve(self.exporter)


_ONNX_BACKEND = "imgcheck.infer.runtime.onnx:OnnxBackend"
FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat("onnx", ".onnx", "onnxruntime", "fp32", True, True, "imgcheck.export.onnx_export:export_onnx",
                    _ONNX_BACKEND, "ONNX, float32"),
        ModelFormat("onnx-fp16", ".fp16.onnx", "onnxruntime", "fp16", True, True,
                    "imgcheck.export.onnx_export:export_onnx_fp16", _ONNX_BACKEND,
                    "ONNX, float16 weights and compute, float32 input and output"),
        ModelFormat("onnx-int8", ".int8.onnx", "onnxruntime", "int8", True, False,
                    "imgcheck.export.quantize:export_onnx_int8", _ONNX_BACKEND,
                    "ONNX, static int8 QDQ quantization (per-channel weights), float32 input and output"),
        ModelFormat("torchscript", ".torchscript.pt", "torch", "fp32", True, True,
                    "imgcheck.export.torchscript_export:export_torchscript",
                    "imgcheck.infer.runtime.torchscript:TorchScriptBackend", "TorchScript, float32"),
    )
}


def format_of(path: str | os.PathLike) -> ModelFormat:
    """The registered format of a model file, by its name's ending (the longest matching suffix wins)."""
    name = os.fsdecode(path).lower()
    matches = [f for f in FORMATS.values() if name.endswith(f.suffix)]
    if not matches and name.endswith(".pt"):
        return FORMATS["torchscript"]
    if not matches:
        raise ModelFileError(f"{os.fsdecode(path)}: unknown model format; expected one of "
                             f"{', '.join(f.suffix for f in FORMATS.values())}.")
    return max(matches, key=lambda f: len(f.suffix))


def _resolve(import_path: str) -> Any:
    module, attribute = import_path.split(":")
    return getattr(import_module(module), attribute)
