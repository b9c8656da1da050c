"""ONNX models through onnxruntime (no torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.runtime import import_onnxruntime


class OnnxBackend:
    """An ONNX file run by onnxruntime with the given execution providers (CPU by default)."""

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int | None = None) -> None:
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the runtime's own chatter never reaches the user
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(os.fspath(path), options, providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelFileError(f"{os.fsdecode(path)}: onnxruntime cannot load it ({' '.join(str(exc).split())}).")
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        return self.session.run(None, {self.input_name: batch})[0].reshape(-1)
