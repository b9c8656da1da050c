"""Throughput and latency measurements behind `imgcheck bench`.

Three stages, each timed the same way (`time.perf_counter`; warm-up first; then `repeat` timed passes over the
same images; images/s is the median pass, with min and max; CUDA work is synchronised before the clock is read):

* ``infer``  - the model alone on ready float32 tensors, in batches; per-batch latency p50/p95/p99 as well;
* ``decode`` - decode + resize (+ normalise) with the scan's worker pool, no model;
* ``scan``   - the whole scan pipeline: walk the folder, decode in workers, run the model, write the CSV.

Every timed pass also records the CPU seconds it used, in this process (all its threads: the runtime's too) and in
the worker processes it started and ended (`Timing.cpu_per_image`), so a benchmark can say where a scan's time went.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import resource
except ImportError:  # Windows: no getrusage; CPU accounting reads as zero
    resource = None  # type: ignore[assignment]

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.scan.balance import available_cores

STAGES = ("infer", "decode", "scan")


@dataclass(frozen=True)
class BenchModel:
    """One model file to measure: its ModelFile (read once) and how to describe it."""

    model_file: ModelFile

    @property
    def path(self) -> str:
        return str(self.model_file.path)

    @property
    def name(self) -> str:
        return self.model_file.name

    @property
    def meta(self) -> ModelMeta:
        return self.model_file.meta

    @property
    def format(self) -> str:
        """onnx, onnx-fp16, onnx-int8, torchscript, or eager (a training checkpoint, run as eager PyTorch)."""
        name = self.model_file.format.name
        return "eager" if name == "checkpoint" else name

    @property
    def precision(self) -> str:
        return self.model_file.format.precision

    @property
    def file_bytes(self) -> int:
        return self.model_file.size_bytes

    def load(self, device: str, threads: int | None) -> Any:
        """A fresh backend on `device` with `threads` intra-op threads."""
        from imgcheck.infer.runtime import load_backend

        return load_backend(self.model_file, device=device, threads=threads)


def bench_model(path: str) -> BenchModel:
    """Open a model file (any format, recognised by its content) for measuring."""
    return BenchModel(ModelFile.open(path))


@dataclass
class Timing:
    """Seconds per timed pass and per batch, for `images` images per pass."""

    images: int
    pass_seconds: list[float] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)
    split: Any = None  # scan: how the last pass shared the cores (`imgcheck.infer.scan.balance.Split`)
    cpu_seconds: list[tuple[float, float]] = field(default_factory=list)  # per pass: (this process, its workers)

    def cpu_per_image(self) -> dict[str, float]:
        """Median CPU seconds per image over the passes: in this process (`own`), in the worker processes the pass
        started (`workers`), and the cores' time neither used (`idle`: cores x wall - both, on the cores this
        process may use; idle, or another program's); empty before any pass."""
        cores = available_cores()
        own = [o / self.images for o, _ in self.cpu_seconds]
        workers = [w / self.images for _, w in self.cpu_seconds]
        idle = [cores * s / self.images - o - w for s, o, w in zip(self.pass_seconds, own, workers)]
        median = statistics.median
        return {"own": median(own), "workers": median(workers), "idle": median(idle)} if own else {}

    def summary(self) -> dict[str, float | None]:
        speeds = [self.images / s for s in self.pass_seconds]
        batches = np.asarray(self.batch_seconds) * 1000
        percentile = (lambda q: float(np.percentile(batches, q))) if len(batches) else (lambda q: None)
        return {
            "samples_per_sec": statistics.median(speeds), "samples_per_sec_min": min(speeds),
            "samples_per_sec_max": max(speeds), "step_time_ms_p50": percentile(50),
            "step_time_ms_p95": percentile(95), "step_time_ms_p99": percentile(99),
        }


def time_infer(model: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, batch_size: int, warmup: int,
               repeat: int, synchronize: Callable[[], None]) -> Timing:
    """Each pass runs every full batch of `inputs` (tiled up to one batch if there are fewer images)."""
    if len(inputs) < batch_size:
        inputs = np.concatenate([inputs] * -(-batch_size // len(inputs)))
    batches = [np.ascontiguousarray(inputs[i: i + batch_size])
               for i in range(0, len(inputs) - batch_size + 1, batch_size)]
    for index in range(warmup):
        model(batches[index % len(batches)])
    synchronize()
    timing = Timing(images=len(batches) * batch_size)
    for _ in range(repeat):
        cpu, started = cpu_now(), time.perf_counter()
        for batch in batches:
            start = time.perf_counter()
            model(batch)
            synchronize()
            timing.batch_seconds.append(time.perf_counter() - start)
        timing.pass_seconds.append(time.perf_counter() - started)
        timing.cpu_seconds.append(cpu_since(cpu))
    return timing


def time_decode(paths: list[str], meta: ModelMeta, batch_size: int, workers: int, warmup: int, repeat: int,
                draft: bool = True) -> Timing:
    """Decode, resize and normalise `paths` with the scan's worker pool (one pool per pass, as a scan starts one)."""
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.scan.pipeline import decoded_chunks

    pre = Preprocessor.from_meta(meta, draft=draft)

    def one_pass() -> None:
        for chunk in decoded_chunks(iter(paths), meta, batch_size, workers, draft=draft, provenance=False, pre=pre):
            pixels = chunk.pixels
            if len(pixels):
                pre.normalize(pixels)

    return _time_passes(one_pass, len(paths), warmup, repeat)


def time_scan(folder: str, model: Callable[[np.ndarray], np.ndarray], meta: ModelMeta, batch_size: int,
              workers: int | None, warmup: int, repeat: int, synchronize: Callable[[], None], draft: bool = True,
              threads: int = 1, niceness: int | None = None, provenance: bool = True) -> Timing:
    """The whole scan on `folder` (a `ScanJob`): discover, decode in workers, run the model, write verdict rows.
    `workers` None sizes the decoding processes as `imgcheck scan` does; `threads` is how `model` was loaded;
    `niceness` is the decoders' priority below this process (default: the scan's); `provenance` False skips
    reading provenance, as `--no-provenance` does."""
    from imgcheck.infer.scan.discover import Selection, discover
    from imgcheck.infer.scan.job import ScanJob
    from imgcheck.infer.scan.pipeline import LocalScan

    scanner = LocalScan(model, meta, meta.threshold, batch_size, workers, draft=draft, provenance=provenance,
                        threads=threads, niceness=niceness)
    count = sum(1 for _ in discover([folder], Selection()))
    with tempfile.TemporaryDirectory(prefix="imgcheck-bench-") as scratch:
        out = Path(scratch) / "verdicts.csv"

        job = ScanJob((folder,), out=str(out), provenance=provenance, evaluate=False, quiet=True, force=True)

        def one_pass() -> None:  # what `imgcheck scan FOLDER --quiet` does, with this engine
            job.run(engine=scanner)
            synchronize()

        timing = _time_passes(one_pass, count, warmup, repeat)
    timing.split = scanner.split
    return timing


def _time_passes(one_pass: Callable[[], None], images: int, warmup: int, repeat: int) -> Timing:
    for _ in range(min(warmup, 1)):  # one untimed pass warms the page cache and the imports
        one_pass()
    timing = Timing(images=images)
    for _ in range(repeat):
        cpu, started = cpu_now(), time.perf_counter()
        one_pass()
        timing.pass_seconds.append(time.perf_counter() - started)
        timing.cpu_seconds.append(cpu_since(cpu))
    return timing


def cpu_now() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process, every thread, and by its ended, reaped children."""
    if resource is None:
        return 0.0, 0.0
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def cpu_since(start: tuple[float, float]) -> tuple[float, float]:
    """CPU seconds used since `cpu_now()` returned `start`: (this process, its children)."""
    own, children = cpu_now()
    return own - start[0], children - start[1]


def synthetic_images(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> list[str]:
    """Write `count` JPEGs of `size` (W, H): smooth colour gradients plus noise, about as hard to decode as photos."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for index in range(count):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([x / max(width, 1) * 255 * a, y / max(height, 1) * 255 * b,
                         (x + y) / max(width + height, 1) * 255 * c], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"synthetic_{index:06d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def ready_tensors(paths: list[str], meta: ModelMeta, workers: int) -> np.ndarray:
    """The model inputs of `paths`, decoded once (the infer stage times the model alone on these)."""
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.scan.pipeline import decoded_chunks

    pre = Preprocessor.from_meta(meta)
    pixels = [chunk.pixels for chunk in decoded_chunks(iter(paths), meta, 256, workers, provenance=False, pre=pre)
              if len(chunk.pixels)]
    if not pixels:
        raise ImgcheckError("none of the benchmark images could be decoded.")
    return pre.normalize(np.concatenate(pixels))


def parse_size(text: str) -> tuple[int, int]:
    """`WxH` -> (W, H)."""
    width, sep, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 1:
        raise ValueError(f"expected WxH with positive integers, got {text!r}")
    return size
