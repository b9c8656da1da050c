"""ONNX models through onnxruntime (no torch)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imgcheck.infer.errors import ImgcheckError, ModelFileError
from imgcheck.infer.runtime.install import import_onnxruntime
from imgcheck.infer.runtime.outputs import to_p_fake
from imgcheck.infer.version import install_extra

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def providers_for(device: str, available: Sequence[str]) -> list[str]:
    """Execution providers to ask for: `auto` tries CUDA then CPU, `cuda` insists on CUDA, `cpu` is CPU only."""
    if device == "cpu":
        return [CPU]
    if device == "cuda" and CUDA not in available:
        raise ImgcheckError("--device cuda: this onnxruntime has no CUDA provider. Install the GPU runtime "
                            f"(pip uninstall -y onnxruntime && {install_extra('gpu')}) or use --device cpu.")
    if device not in ("auto", "cuda"):
        raise ImgcheckError(f"--device must be auto, cpu or cuda, got {device!r}")
    return [CUDA, CPU] if CUDA in available else [CPU]


def onnx_session(path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 spinning: bool = False, data: bytes | None = None) -> Any:
    """An onnxruntime InferenceSession for the model at `path` (built from `data`, its bytes already read, when
    given; from the path itself when its weights live in external files beside it) on `device`, with `threads`
    intra-op threads (None: onnxruntime's default, one per core). Its idle threads spin only with `spinning`: a spinning thread keeps its core busy
    between batches, taking it from the decoding workers (`benchmarks/results/scan_limit.md` measures it)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: imgcheck reports the runtime's errors itself, in one line
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    requested = providers_for(device, ort.get_available_providers())
    ort.set_default_logger_severity(4)  # a CUDA provider that fails to load logs errors: we report it ourselves
    try:
        session = ort.InferenceSession(os.fspath(path) if data is None else data, options, providers=requested)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise ModelFileError(f"{os.fsdecode(path)}: onnxruntime cannot load it ({' '.join(str(exc).split())}).")
    finally:
        ort.set_default_logger_severity(2)
    if device == "cuda" and session.get_providers()[0] != CUDA:
        raise ImgcheckError("--device cuda: onnxruntime could not start its CUDA provider here (no GPU, or its "
                            "CUDA/cuDNN libraries are missing). Use --device cpu or auto.")
    return session


def run_in_batches_of(run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, size: int | None) -> np.ndarray:
    """`run(batch)`, or, for a graph whose batch is fixed at `size`, `run` on chunks of `size` (the last one padded
    with zeros and cut back), concatenated."""
    if size is None or len(batch) == size:
        return run(batch)
    if not len(batch):
        return np.empty((0,), np.float32)
    chunks = []
    for start in range(0, len(batch), size):
        chunk = batch[start:start + size]
        padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        chunks.append(run(padded)[: len(chunk)])
    return np.concatenate(chunks)


class OnnxBackend:
    """An ONNX model file run by onnxruntime; its last output is turned into p_fake as its ModelMeta declares.

    A graph whose input has a fixed batch size (often 1, in exported foreign models) is run in batches of that size,
    the last one padded, so any batch size works."""

    runtime = "onnxruntime"

    def __init__(self, model_file: ModelFile, device: str = "cpu", threads: int | None = None,
                 spinning: bool = False) -> None:
        from imgcheck.infer.models.safety import check_signature

        model_file.check_external_data()  # before onnxruntime reads anything the file points to
        self.model_file = model_file
        self.meta = model_file.meta
        # built from the bytes the file's hash and graph facts came from: one read of the file per scan
        external = bool(model_file.graph().external_data_locations)
        self.session = onnx_session(model_file.path, device, threads, spinning,
                                    None if external else model_file.data())
        model_file.release_data()
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        check_signature(inputs, outputs, self.meta, str(model_file.path))
        self.input_name = inputs[0].name
        self.output_name = outputs[-1].name  # the score: extra outputs (features, ...) are never computed
        fixed = inputs[0].shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) and fixed > 0 else None
        self.providers = self.session.get_providers()
        self.provider = self.providers[0]  # what actually runs, read from the session

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """p_fake for a float32 (N, 3, H, W) batch."""
        return to_p_fake(self.raw(batch), self.meta)

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The graph's last output for a float32 (N, 3, H, W) batch, as it is (one row per input)."""
        return run_in_batches_of(self._run, batch, self.fixed_batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def synchronize(self) -> None:
        """Nothing to wait for: `run` returns host arrays, so the device is done when it returns."""

    def parameter_count(self) -> int:
        """Elements in the graph's initializers (weights; quantized models add their scales)."""
        return self.model_file.graph().weight_elements
