"""Runtimes: one module per runtime behind one interface, built from a `ModelFile` by `load_backend`.

A backend is a callable from float32 (N, 3, H, W) batches (made by imgcheck.infer.preprocess) to float32 (N,)
p_fake, with `raw(batch)` (the model's output that p_fake is read from, by `outputs.to_p_fake`; per-class outputs
also give `outputs.class_probabilities`), `provider` (where it runs), `synchronize()` (wait for queued device work)
and `parameter_count()`.
Which backend runs a file is its format registry row's `backend` (`imgcheck.infer.models.formats`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from imgcheck.infer.models.model_file import ModelFile


class Backend(Protocol):
    """What every runtime offers (see the module docstring)."""

    provider: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...

    def raw(self, batch: np.ndarray) -> np.ndarray: ...

    def synchronize(self) -> None: ...

    def parameter_count(self) -> int: ...


def load_backend(model_file: ModelFile, device: str = "cpu", threads: int | None = None,
                 spinning: bool = False) -> Backend:
    """The runtime for `model_file` (by its format), on `device` (auto, cpu or cuda) with `threads` intra-op threads
    (None: the runtime's default). `spinning` lets onnxruntime's idle threads spin (torch's OpenMP threads follow
    OMP_WAIT_POLICY, fixed when the process starts, so the torch backends ignore it)."""
    backend_class = model_file.format.backend_class()
    options = {"spinning": spinning} if backend_class.runtime == "onnxruntime" else {}
    backend: Any = backend_class(model_file, device=device, threads=threads, **options)
    return backend
