"""ONNX models through onnxruntime (no torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from imgcheck.infer.errors import ImgcheckError, ModelFileError
from imgcheck.infer.runtime.install import import_onnxruntime

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def providers_for(device: str, available: Sequence[str]) -> list[str]:
    """Execution providers to ask for: `auto` tries CUDA then CPU, `cuda` insists on CUDA, `cpu` is CPU only."""
    if device == "cpu":
        return [CPU]
    if device == "cuda" and CUDA not in available:
        raise ImgcheckError("--device cuda: this onnxruntime has no CUDA provider. Install the GPU runtime "
                            "(pip uninstall -y onnxruntime && pip install 'imgcheck[gpu]') or use --device cpu.")
    if device not in ("auto", "cuda"):
        raise ImgcheckError(f"--device must be auto, cpu or cuda, got {device!r}")
    return [CUDA, CPU] if CUDA in available else [CPU]


class OnnxBackend:
    """An ONNX file run by onnxruntime with the given execution providers (CPU by default)."""

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        from imgcheck.infer.models.safety import check_external_data

        check_external_data(path)  # before onnxruntime reads anything the file points to
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the runtime's own chatter never reaches the user
        if threads:
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # share cores with decoders
        requested = providers_for(device, ort.get_available_providers())
        ort.set_default_logger_severity(4)  # a CUDA provider that fails to load logs errors: we report it ourselves
        try:
            self.session = ort.InferenceSession(os.fspath(path), options, providers=requested)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelFileError(f"{os.fsdecode(path)}: onnxruntime cannot load it ({' '.join(str(exc).split())}).")
        finally:
            ort.set_default_logger_severity(2)
        self.path = path
        self._check_signature(path)
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()
        self.provider = self.providers[0]  # what actually runs, read from the session
        if device == "cuda" and self.provider != CUDA:
            raise ImgcheckError("--device cuda: onnxruntime could not start its CUDA provider here (no GPU, or its "
                                "CUDA/cuDNN libraries are missing). Use --device cpu or auto.")

    def _check_signature(self, path: str | os.PathLike) -> None:
        from imgcheck.infer.meta import ONNX_METADATA_KEY, parse_meta
        from imgcheck.infer.models.safety import check_signature
        from imgcheck.infer.models.onnx_proto import read_onnx_header

        raw = read_onnx_header(path).metadata_props.get(ONNX_METADATA_KEY)  # by content: staged files have odd names
        if raw is None:
            return  # a bare ONNX file: commands that need ModelMeta refuse it themselves
        meta = parse_meta(raw, os.fsdecode(path))
        check_signature(self.session.get_inputs(), self.session.get_outputs(), meta, os.fsdecode(path))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        return self.session.run(None, {self.input_name: batch})[0].reshape(-1)

    def synchronize(self) -> None:
        """Nothing to wait for: `run` returns host arrays, so the device is done when it returns."""

    def parameter_count(self) -> int:
        """Elements in the graph's initializers (weights; quantized models add their scales)."""
        from imgcheck.infer.models.onnx_proto import initializer_element_count

        return initializer_element_count(self.path)
