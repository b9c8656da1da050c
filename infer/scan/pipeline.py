"""The scan pipeline: discover -> decode in worker processes -> model on batches -> rows in input order.

`run_scan(request, engine, sink)` is the library function behind `imgcheck scan`, `calibrate`, `bench`'s scan
stage and the Python API (`imgcheck.scan`): the request says what to scan, the engine (`LocalScan` here, or
`ray_engine.RayScan`) how, and the sink receives each batch's rows.

Workers decode the next batches while the model runs on the current one; at most `2 * workers + 2`
batches are in flight, so memory stays flat however many files there are; large batches come back through shared
memory (`batch_slots`). Unless told how many, the first batch is decoded and scored in this process, timed, and the
workers are sized from the two costs (`balance`). Rows are flushed after every batch, so a killed scan loses at
most the batch it was writing (and `--resume` repairs that).
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.image_files import suffix_key
from imgcheck.infer.meta import ModelMeta, parse_meta
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.provenance.versions import library_versions
from imgcheck.infer.preprocess import PixelSource, Preprocessor
from imgcheck.infer.scan.balance import (Split, available_cores, choose_workers, default_batch_size,
                                         default_threads)
from imgcheck.infer.scan.batch_slots import BatchSlots, lend_to_workers, shared_memory_pays, write_inherited
from imgcheck.infer.scan.discover import Selection, SkipSink, discover
from imgcheck.infer.scan.domain import SizeCheck
from imgcheck.infer.scan.image_facts import FactsProbe, ImageFacts
from imgcheck.infer.scan.provenance_counts import ProvenanceCounts
from imgcheck.infer.scan.scorer import BatchScorer
from imgcheck.infer.scan.verdict_formats import OutputFormat, Row
from imgcheck.infer.scan.walk import walk_ahead


class Chunk(NamedTuple):
    """One decoded batch: its paths, the uint8 model inputs of the readable ones (K tiles each, consecutive; K = 1
    for resize models), the error per path ('' when readable), and the facts per path (for an unreadable one, None or
    its provenance alone)."""

    paths: list[str]
    pixels: np.ndarray
    errors: list[str]
    facts: list[ImageFacts | None]


T = TypeVar("T")
R = TypeVar("R")
# Decoding workers run at this lower priority: the model's threads then take the cores whenever they have work, and
# the decoders fill every gap (benchmarks/results/scan_limit.md measures it against equal priority).
DECODER_NICENESS = 10
_worker_preprocessor: Preprocessor | None = None
_worker_provenance = True


def _init_worker(meta_json: str, draft: bool, provenance: bool = True, niceness: int = 0) -> None:
    global _worker_preprocessor, _worker_provenance
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the scan answers it
    if niceness:
        os.nice(niceness)
    _worker_preprocessor = Preprocessor.from_meta(parse_meta(meta_json), draft=draft)
    _worker_provenance = provenance


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this worker when the scan process dies, even by SIGKILL: a forked worker
    blocked on the task queue would otherwise wait forever."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def decode_chunk(paths: list[Any], pre: Preprocessor | None = None, provenance: bool | None = None,
                 source: Callable[[Any], PixelSource] | None = None) -> Chunk:
    """Decode `paths` to the model's uint8 inputs (`Preprocessor.load_tiles`) and each file's facts (size, and
    provenance unless `provenance` is False); an unreadable file gets its one-line reason instead. `source` maps a
    path to what is read (a URI's bytes, a path in another folder); by default the path itself, or any input
    `load_tiles` takes (the Python API's images and arrays). An unreadable file's facts are None, or its provenance
    alone where its metadata still gives some (a C2PA manifest on broken pixels: `FactsProbe.unreadable`). The one
    decode loop of every engine."""
    pre = pre or _worker_preprocessor
    provenance = _worker_provenance if provenance is None else provenance
    pixels, errors, facts = [], [], []
    for path in paths:
        probe = FactsProbe(provenance)
        read = None
        try:
            read = path if source is None else source(path)
            pixels.append(pre.load_tiles(read, probe))
            errors.append("")
            facts.append(probe.facts)
        except ImageDecodeError as exc:
            errors.append(exc.reason)
            facts.append(probe.unreadable(read))
    stacked = np.concatenate(pixels) if pixels else np.empty((0, pre.height, pre.width, 3), np.uint8)
    return Chunk(paths, stacked, errors, facts)


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def pool_window(workers: int) -> int:
    """How many items a pool of `workers` has in flight at most: enough to keep every worker busy while results
    wait to be consumed, few enough that memory stays flat."""
    return 2 * workers + 2


def ordered_pool_map(fn: Callable[[T], R], items: Iterable[T], workers: int,
                     initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[R]:
    """`fn` over `items` in `workers` processes, results in input order, with at most `pool_window(workers)` items
    in flight (so memory stays flat however many there are). `workers` 0 runs `initializer` and `fn` here. The
    next item is drawn from `items` only after the previous result was consumed."""
    if workers == 0:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, items)
        return
    window = pool_window(workers)
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        pending: collections.deque[Future[R]] = collections.deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def decoded_chunks(paths: Iterable[str], meta: ModelMeta, batch_size: int, workers: int, draft: bool = True,
                   provenance: bool = True, niceness: int | None = None, pre: Preprocessor | None = None
                   ) -> Iterator[Chunk]:
    """Decoded batches in input order; `workers` processes decode ahead (0 = in this process, with `pre`, the
    caller's Preprocessor of `meta` and `draft`, made here if not given), at `niceness` (default DECODER_NICENESS)
    above this process's."""
    pre = pre or Preprocessor.from_meta(meta, draft=draft)
    if workers == 0:
        for batch in batched(paths, batch_size):
            yield decode_chunk(batch, pre, provenance)
        return
    niceness = DECODER_NICENESS if niceness is None else niceness
    initargs = (meta.to_json(), draft, provenance, niceness)
    slot_bytes = batch_size * pre.tiles * pre.height * pre.width * 3  # ModelMeta holds tiles at 1 for resize
    if not shared_memory_pays(slot_bytes):
        yield from ordered_pool_map(decode_chunk, batched(paths, batch_size), workers, _init_worker, initargs)
        return
    slots = BatchSlots(pool_window(workers), slot_bytes)
    lend_to_workers(slots)  # before the pool forks its workers (at the first batch)
    try:
        tasks = ((batch, slots.take()) for batch in batched(paths, batch_size))
        for chunk, slot, shape in ordered_pool_map(decode_chunk_to_slot, tasks, workers, _init_worker, initargs):
            if shape is None:
                slots.release(slot)
                yield chunk
            else:
                yield chunk._replace(pixels=slots.copy_out(slot, shape))
    finally:
        lend_to_workers(None)
        slots.close()


def decode_chunk_to_slot(task: tuple[list[str], int]) -> tuple[Chunk, int, tuple[int, ...] | None]:
    """In a worker: `decode_chunk` of the task's paths with the pixels written into its shared slot; returns the
    chunk without them, the slot and their shape (None, and the pixels in the chunk, when they do not fit)."""
    paths, slot = task
    chunk = decode_chunk(paths)
    if not write_inherited(slot, chunk.pixels):
        return chunk, slot, None
    return chunk._replace(pixels=chunk.pixels[:0]), slot, chunk.pixels.shape


@dataclass
class ScanStats:
    """Counts and timing of one scan, for the summary table and the sidecar. `files`, `verdicts` and `errors` count
    the rows scanned now; `provenance` and `sizes` also the rows a --resume kept (`add_kept`), so they describe the
    whole output file; `skipped` counts, by suffix, the files inside folders that are not images."""

    started: float = field(default_factory=time.time)
    finished: float | None = None
    files: int = 0
    resumed: int = 0
    dropped: int = 0  # rows a --resume dropped from the file (torn, of other inputs, or repeated)
    verdicts: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0
    provenance: ProvenanceCounts = field(default_factory=ProvenanceCounts)
    sizes: SizeCheck = field(default_factory=lambda: SizeCheck(None))
    skipped: collections.Counter = field(default_factory=collections.Counter)

    def add(self, rows: list[Row]) -> None:
        self.files += len(rows)
        for row in rows:
            self.verdicts[row.verdict] += 1
            if row.error:
                self.errors[error_kind(row.error)] += 1
        self.add_kept(rows)

    def add_kept(self, rows: list[Row]) -> None:
        """Count rows kept from an earlier run (--resume) in the provenance and size counts."""
        self.provenance.add(rows)
        self.sizes.add(rows)

    def skip(self, path: str) -> None:
        """Count one file skipped inside a folder, under its suffix."""
        self.skipped[suffix_key(path)] += 1

    @property
    def images_per_s(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0


def error_kind(reason: str) -> str:
    """The reason without its details: 'truncated or corrupt image data: ...' -> 'truncated or corrupt image data'."""
    return reason.split(":")[0].split(" (")[0]


class ScanEngine(Protocol):
    """What `imgcheck scan` needs from an engine: `LocalScan` below, or `ray_engine.RayScan`."""

    threshold: float  # FAKE when p_fake >= this
    keep_classes: bool  # each row carries the probability of every class (--keep-classes)
    abstain_out_of_domain: bool  # an image far outside the training sizes gets UNSURE (--abstain-out-of-domain)

    @property
    def provider(self) -> str: ...  # where the model ran, for the sidecar

    def list_files(self, paths: Iterable[str], selection: Selection, on_skip: SkipSink | None = None
                   ) -> Iterator[str]: ...

    def describe(self) -> str: ...  # "on CPUExecutionProvider, 2 decoding worker(s)", for the status line

    def rows(self, paths: Iterable[str]) -> Iterator[list[Row]]: ...  # each batch's rows, in input order


@dataclass(frozen=True)
class ScanRequest:
    """What to scan: PATH arguments (files, folders, globs) with the selection rules for folders, plus paths read
    from a list (`--files-from`); `skip` holds paths already done (a resumed scan's kept rows)."""

    paths: tuple[str, ...] = ()
    selection: Selection = Selection()
    files_from: Iterable[str] | None = None
    skip: frozenset[str] = frozenset()

    def files(self, engine: ScanEngine, on_skip: SkipSink | None = None) -> Iterator[str]:
        """Every path to scan, in order: the PATH arguments as the engine lists them, then the listed ones;
        `on_skip` gets each file inside a folder that is skipped for not being an image."""
        sources: list[Iterable[str]] = ([engine.list_files(list(self.paths), self.selection, on_skip)]
                                        if self.paths else [])
        if self.files_from is not None:
            sources.append(self.files_from)
        return (p for source in sources for p in source if p not in self.skip)


Sink = Callable[[list[Row]], None]


def scan_batches(request: ScanRequest, engine: ScanEngine, on_skip: SkipSink | None = None,
                 on_total: Callable[[int], None] | None = None) -> Iterator[list[Row]]:
    """The rows of `request`, batch by batch, in input order. With `on_total` the folders are walked ahead of the
    scan, in a thread, and `on_total` gets the number of files to scan as soon as the walk ends (for a progress
    bar's ETA): the folders are still walked once."""
    files = request.files(engine, on_skip)
    return engine.rows(files if on_total is None else walk_ahead(files, on_total))


def run_scan(request: ScanRequest, engine: ScanEngine, sink: Sink, stats: ScanStats | None = None,
             on_skip: SkipSink | None = None, on_total: Callable[[int], None] | None = None) -> ScanStats:
    """Scan `request` with `engine`, handing each batch's rows to `sink`; returns the counts and timing. Files
    skipped inside folders are counted in the stats and handed to `on_skip` too (--list-skipped); `on_total` is
    `scan_batches`'."""
    stats = stats or ScanStats()

    def skipped(path: str) -> None:
        stats.skip(path)
        if on_skip is not None:
            on_skip(path)

    start = time.perf_counter()
    for rows in scan_batches(request, engine, skipped, on_total):
        sink(rows)
        stats.add(rows)
        stats.seconds = time.perf_counter() - start
    stats.finished = time.time()
    return stats


@dataclass
class LocalScan:
    """The local engine: `workers` processes decode batches ahead (0: in this process; None: as many as the first
    batch's costs call for, `balance.choose_workers`) while one model session on this machine, with `threads`
    intra-op threads, scores them. `rows()` yields each batch's rows in input order; `split` then says how the
    cores were shared."""

    model: Callable[[np.ndarray], np.ndarray]  # a backend: normalized float32 batch -> p_fake
    meta: ModelMeta
    threshold: float
    batch_size: int
    workers: int | None
    draft: bool = True
    provenance: bool = True  # read each file's provenance findings (its size is always read)
    threads: int = 1  # the runtime's intra-op threads (how `model` was loaded), for the split's record
    cores: int = field(default_factory=available_cores)
    niceness: int | None = None  # the decoding workers' priority below this process (None: DECODER_NICENESS)
    split: Split | None = None  # set once rows() has decided it
    keep_classes: bool = False  # rows carry each class's probability (a per-class model's; --keep-classes)
    abstain_out_of_domain: bool = False  # out-of-domain rows get UNSURE (--abstain-out-of-domain)
    list_files = staticmethod(discover)  # what to scan, from paths, folders and globs

    def __post_init__(self) -> None:
        self.scorer = BatchScorer.for_backend(self.model, self.meta, self.draft)

    @classmethod
    def for_model(cls, model_file: ModelFile, *, device: str = "auto", workers: int | None = None,
                  threads: int | None = None, batch_size: int | None = None, threshold: float | None = None,
                  draft: bool = True, provenance: bool = True, keep_classes: bool = False,
                  abstain_out_of_domain: bool = False) -> LocalScan:
        """The local engine for `model_file`: its runtime gets `threads` threads (default: every core), the
        decoding workers are `workers` (default: chosen from the first batch), and a batch is `batch_size` images
        (default: `balance.default_batch_size` of the model's input)."""
        from imgcheck.infer.runtime import load_backend

        cores = available_cores()
        threads = default_threads(cores, threads)
        backend = load_backend(model_file, device=device, threads=threads)
        meta = model_file.meta
        batch_size = batch_size or default_batch_size(meta.input_size, meta.tiles)
        return cls(backend, meta, meta.threshold if threshold is None else threshold, batch_size, workers, draft,
                   provenance, threads, cores, keep_classes=keep_classes,
                   abstain_out_of_domain=abstain_out_of_domain)

    @property
    def provider(self) -> str:
        """Where the model runs (onnxruntime's provider, or torch's device)."""
        return self.scorer.provider

    def describe(self) -> str:
        workers = "decoding workers sized after the first batch" if self.workers is None \
            else f"{self.workers} decoding worker(s)"
        return f"on {self.provider}, {self.threads} runtime thread(s), {workers}"

    def rows(self, paths: Iterable[str]) -> Iterator[list[Row]]:
        """Scan `paths` and yield their rows batch by batch, in the order given."""
        pre = self.scorer.pre
        paths = iter(paths)
        workers = self.workers
        if workers is None:
            first = list(itertools.islice(paths, self.batch_size))
            if not first:
                return
            started = time.perf_counter()
            chunk = decode_chunk(first, pre, self.provenance)
            decoded = time.perf_counter()
            rows = self._score(chunk)
            readable = sum(1 for error in chunk.errors if not error)
            self.split = choose_workers(self.cores, (decoded - started) / len(first),
                                        (time.perf_counter() - decoded) / max(1, readable), self.threads)
            yield rows
            workers = self.split.workers
        else:
            self.split = Split(workers, self.threads, reason="as given (--workers)")
        for chunk in decoded_chunks(paths, self.meta, self.batch_size, workers, self.draft, self.provenance,
                                    self.niceness, pre):
            yield self._score(chunk)

    def _score(self, chunk: Chunk) -> list[Row]:
        """The rows of one decoded batch."""
        return self.scorer.rows(chunk.paths, chunk.pixels, chunk.errors, self.threshold, chunk.facts,
                                self.keep_classes, self.abstain_out_of_domain)


def sidecar(model_file: ModelFile, provider: str, threshold: float, stats: ScanStats, out: str, version: str,
            fmt: OutputFormat, engine: str = "local", split: Split | None = None) -> dict[str, Any]:
    """The `<out>.json` record of a scan (`finished` is null while it runs; `split` is how a local scan shared the
    cores, null before it has decided or for Ray)."""
    def iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat()

    return {
        "output": out, "model": {"path": os.path.abspath(model_file.path), "sha256": model_file.sha256(),
                                 "meta": model_file.meta.to_dict()},
        "engine": engine, "provider": provider, "split": None if split is None else split.record(),
        "threshold": threshold, "format": fmt.name, "classes": list(fmt.class_names),
        "csv_formula_escape": fmt.name == "csv" and fmt.formula_escape,
        "counts": {"files": stats.files, "resumed_rows": stats.resumed, "dropped_rows": stats.dropped,
                   **{v: stats.verdicts.get(v, 0) for v in ("REAL", "FAKE", "ERROR")},
                   **({"UNSURE": stats.verdicts.get("UNSURE", 0)} if stats.sizes.abstain else {})},
        "errors": dict(stats.errors.most_common()),
        "skipped": dict(stats.skipped.most_common()),
        "provenance": stats.provenance.record(library_versions()),
        "domain": stats.sizes.record(),
        "images_per_s": stats.images_per_s, "seconds": stats.seconds,
        "started": iso(stats.started), "finished": iso(stats.finished), "imgcheck_version": version,
    }
