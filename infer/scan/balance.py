"""How a local scan shares the cores between decoding processes and the model runtime's threads.

The runtime gets every core as intra-op threads that do not spin, and the decoding processes run at a lower
priority (`pipeline.DECODER_NICENESS`): whenever the model has work its threads take every core, and the decoders
fill the gaps (between batches, while rows are written, while the model waits). The decoders are sized to the
work: the first batch is decoded here and scored, both timed (useful work, nothing is decoded twice), and
`choose_workers` turns the two costs into a number of workers. `--workers` and `--threads` override either choice.

Measured on a 2-core machine (`benchmarks/results/scan_limit.md`): the rule before (one decoder per core, the
runtime on the cores left, at least one) starves any model heavier than the report's tiny CNN; equal priorities
make decoders and the model's threads preempt each other; spinning threads keep cores the decoders need.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

# A batch of the report's 32x32 inputs is 256 of them; larger inputs get as many as hold the same pixels, a power of
# two, at least MIN_BATCH: 8 at 224x224. The first batch is decoded and scored in the scanning process before any
# decoding worker starts, and rows are flushed per batch: 256 ViT-size images would leave the decoders idle for a
# minute of CPU time first (benchmarks/results/hub_scan.md).
BATCH_PIXELS = 256 * 32 * 32
MIN_BATCH, MAX_BATCH = 8, 256

# Decoders at lower priority decode mostly in the model's gaps, so they need more cores than their share of the work
# to refill the queue quickly: four times that share (every core, on 2 cores, for all three models measured).
DECODE_MARGIN = 4.0


@dataclass(frozen=True)
class Split:
    """Decoding processes (0: decode in the scanning process), runtime threads, and why."""

    workers: int
    threads: int
    spinning: bool = False
    reason: str = ""

    def record(self) -> dict[str, object]:
        """The split as the scan's sidecar stores it."""
        return {"workers": self.workers, "threads": self.threads, "spinning": self.spinning, "reason": self.reason}


def default_batch_size(input_size: tuple[int, int, int], tiles: int = 1) -> int:
    """Images per model call for inputs of `input_size` (C, H, W), `tiles` per image: `BATCH_PIXELS` worth,
    rounded down to a power of two within [MIN_BATCH, MAX_BATCH] (256 at 32x32, 64 at 64x64, 8 at 224x224)."""
    _, height, width = input_size
    fits = max(1, BATCH_PIXELS // (height * width * tiles))
    return max(MIN_BATCH, min(MAX_BATCH, 1 << (fits.bit_length() - 1)))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads(cores: int, threads: int | None = None) -> int:
    """The runtime's intra-op threads: `threads` when given, else every core."""
    return threads if threads else max(1, cores)


def choose_workers(cores: int, decode_seconds: float, model_seconds: float, threads: int) -> Split:
    """The decoding processes for a scan on `cores` cores, from one process's seconds per image to decode
    (`decode_seconds`) and the model's wall seconds per image on `threads` threads (`model_seconds`).

    Decoding's share of the CPU work per image is decode / (decode + model x threads); the decoders get
    `DECODE_MARGIN` times that share of the cores, rounded up, at least one and at most one per core. One core: no
    workers (a worker process would only add copying)."""
    if cores <= 1:
        return Split(0, threads, reason="one core: decoding in the scanning process")
    decode_cpu, model_cpu = max(decode_seconds, 0.0), max(model_seconds, 0.0) * threads
    share = decode_cpu / (decode_cpu + model_cpu) if decode_cpu + model_cpu > 0 else 1.0
    workers = min(cores, max(1, math.ceil(DECODE_MARGIN * cores * share - 1e-9)))
    reason = (f"decoding is {share:.0%} of the CPU time per image ({decode_cpu * 1e3:.3g} ms to decode, "
              f"{model_seconds * 1e3:.3g} ms of the model on {threads} thread(s)): {workers} decoding worker(s) on "
              f"{cores} cores")
    return Split(workers, threads, reason=reason)

