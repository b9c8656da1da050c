"""The one format registry: every model format imgcheck writes or runs, training checkpoints included.

A `ModelFile` finds its row by content (`format_for(carrier, precision)`); `imgcheck export` writes a row with its
`exporter`; `imgcheck.infer.runtime.load_backend` runs a file with its row's `backend`. Exporters and backends are
import paths, so reading this table imports neither torch nor onnxruntime. A new runtime is a row here, a backend
module in `runtime/`, and (if imgcheck writes it) an exporter in `export/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from imgcheck.infer.errors import ModelFileError


@dataclass(frozen=True)
class ModelFormat:
    """One runnable (and, with an exporter, writable) model format."""

    name: str
    carrier: str  # "onnx", "torchscript" or "checkpoint": how the file holds the graph and the ModelMeta
    suffix: str  # the file name ending imgcheck writes, e.g. ".int8.onnx" (reading goes by content)
    runtime: str  # "onnxruntime" or "torch"
    precision: str  # "fp32", "fp16" or "int8" (weights; inputs and outputs stay float32)
    cpu: bool
    gpu: bool
    exporter: str | None  # "module:function" in imgcheck.export (needs torch); None: not written by export
    backend: str  # "module:class" in imgcheck.infer.runtime
    description: str

    def backend_class(self) -> Any:
        """The class that runs this format (imports its runtime's module, not the runtime itself)."""
        return _resolve(self.backend)

    def exporter_function(self) -> Any:
        """The function that writes this format (imports torch)."""
        if self.exporter is None:
            raise ModelFileError(f"imgcheck does not write {self.name} files.")
        return _resolve(self.exporter)


_ONNX_BACKEND = "imgcheck.infer.runtime.onnx:OnnxBackend"
FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat("onnx", "onnx", ".onnx", "onnxruntime", "fp32", True, True,
                    "imgcheck.export.onnx_export:export_onnx", _ONNX_BACKEND, "ONNX, float32"),
        ModelFormat("onnx-fp16", "onnx", ".fp16.onnx", "onnxruntime", "fp16", True, True,
                    "imgcheck.export.onnx_export:export_onnx_fp16", _ONNX_BACKEND,
                    "ONNX, float16 weights and compute, float32 input and output"),
        ModelFormat("onnx-int8", "onnx", ".int8.onnx", "onnxruntime", "int8", True, False,
                    "imgcheck.export.quantize:export_onnx_int8", _ONNX_BACKEND,
                    "ONNX, int8 (static QDQ, or dynamic MatMuls), per-channel weights, float32 input and output"),
        ModelFormat("torchscript", "torchscript", ".torchscript.pt", "torch", "fp32", True, True,
                    "imgcheck.export.torchscript_export:export_torchscript",
                    "imgcheck.infer.runtime.torchscript:TorchScriptBackend", "TorchScript, float32"),
        ModelFormat("checkpoint", "checkpoint", ".pt", "torch", "fp32", True, True, None,
                    "imgcheck.infer.runtime.eager:EagerBackend",
                    "training checkpoint (`imgcheck train`), run as eager PyTorch"),
    )
}


def format_for(carrier: str, precision: str = "fp32") -> ModelFormat:
    """The registered format of a file with this carrier and weight precision."""
    for fmt in FORMATS.values():
        if fmt.carrier == carrier and fmt.precision == precision:
            return fmt
    raise ModelFileError(f"no registered format holds {precision} weights in a {carrier} file.")


def _resolve(import_path: str) -> Any:
    module, attribute = import_path.split(":")
    return getattr(import_module(module), attribute)
