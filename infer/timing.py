"""Throughput of a model callable: warm-up, repeated timed calls, median (no torch needed)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def images_per_second(run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, batch_size: int,
                      warmup: int = 2, min_seconds: float = 0.5, min_repeats: int = 5) -> float:
    """Median images/s of `run` on batches of `batch_size` cut (and tiled if needed) from `inputs`."""
    reps = -(-batch_size // len(inputs))
    batch = np.ascontiguousarray(np.concatenate([inputs] * reps)[:batch_size])
    for _ in range(warmup):
        run(batch)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - started < min_seconds:
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times)
