"""`imgcheck scan --engine ray`: the same scan on Ray Data, for collections that outgrow one machine.

    paths, listed on the driver with the local rules (minus rows kept by --resume)
      -> ray.data.from_arrow(blocks of {index, path})
      -> map_batches(decode_batch)      Ray tasks; imgcheck's own Preprocessor.load_tiles, not Ray's image reader
      -> map_batches(ModelWorker)       a pool of actors, one model session each (CUDA when the actor has a GPU)
      -> rows back on the driver in input order -> verdict_rows -> the same sink as the local engine

Ray may fuse the decode step into the model actors when both ask for the same resources (CPU only); with GPUs the
decode tasks run apart. Local files must be readable at the same path on every node (a shared filesystem);
`s3://`, `gs://` and other URIs that pyarrow reads work anywhere. imgcheck must be installed on every node.
"""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgcheck.infer.image_files import has_image_suffix
from imgcheck.infer.scan.discover import Selection, SkipSink, discover
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.meta import ModelMeta, parse_meta
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.remote_files import is_uri, read_uri, resolve_uri
from imgcheck.infer.scan.balance import default_batch_size
from imgcheck.infer.scan.domain import DomainRule
from imgcheck.infer.scan.image_facts import ImageFacts
from imgcheck.infer.scan.pipeline import decode_chunk
from imgcheck.infer.scan.scorer import BatchScorer, class_dicts, verdict_rows
from imgcheck.infer.scan.verdict_formats import Row
from imgcheck.infer.version import install_extra

INSTALL_HINT = f"the ray engine needs Ray Data: {install_extra('ray')} (or pip install 'ray[data]')"

# Per worker process: one Preprocessor per (ModelMeta, draft).
_preprocessors: dict[tuple[str, bool], Preprocessor] = {}


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray scan runs."""

    address: str | None = None  # None: start a local Ray instance; "auto" or "ray://HOST:PORT": join a cluster
    num_workers: int | None = None  # model actors [default: the cluster's CPUs, or its GPUs / gpus_per_worker]
    gpus_per_worker: float = 0.0
    decode_tasks: int | None = None  # at most this many decode tasks at once [default: as Ray schedules]
    quiet: bool = False


def import_ray() -> Any:
    """The `ray` module with Ray Data, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise DependencyMissingError(f"{INSTALL_HINT} ({exc})") from None
    return ray


def list_inputs(paths: Iterable[str], selection: Selection, on_skip: SkipSink | None = None) -> Iterator[str]:
    """Every file to scan: local paths exactly as the local engine walks them, URIs through pyarrow's filesystems
    with the same order (files of a folder by name, then its sub-folders) and include/exclude rules. Inside an
    object-store folder a file is chosen by its image extension (reading each object to sniff it would cost a
    request per object); the others go to `on_skip`, as the local walk's do."""
    for path in paths:
        yield from (_list_uri(path, selection, on_skip) if is_uri(path) else discover([path], selection, on_skip))


def _list_uri(uri: str, selection: Selection, on_skip: SkipSink | None = None) -> list[str]:
    from pyarrow import fs as pafs

    filesystem, root = resolve_uri(uri)
    scheme = uri.partition("://")[0]
    try:
        info = filesystem.get_file_info(root)
        if info.type != pafs.FileType.Directory:
            return [uri]  # a file, or missing: the decode step gives it its row
        found = filesystem.get_file_info(pafs.FileSelector(root, recursive=selection.recursive))
    except (OSError, ValueError) as exc:
        raise ImgcheckError(f"cannot list {uri}: {' '.join(str(exc).split())}") from None
    prefix = root.rstrip("/") + "/"
    uris, skipped = {}, {}
    for entry in found:
        if entry.type != pafs.FileType.File:
            continue
        full = f"{scheme}://{entry.path}"
        if selection.wants(full):
            parts = entry.path[len(prefix):].split("/")
            order = tuple((1, part) for part in parts[:-1]) + ((0, parts[-1]),)
            (uris if has_image_suffix(entry.path) else skipped)[full] = order
    for uri_skipped in sorted(skipped, key=skipped.__getitem__) if on_skip is not None else ():
        on_skip(uri_skipped)
    return sorted(uris, key=uris.__getitem__)


def decode_batch(batch: dict[str, np.ndarray], meta_json: str, draft: bool, cwd: str, provenance: bool = True
                 ) -> dict[str, np.ndarray]:
    """Ray task: the local engine's `decode_chunk` over the paths of `batch` (URIs read through pyarrow; relative
    paths from the driver's folder `cwd`, since Ray workers run elsewhere), packed as Ray columns: the pixels per
    row (zeros for an unreadable file, whose one-line reason is in `error`, width and height -1)."""
    key = (meta_json, draft)
    if key not in _preprocessors:
        _preprocessors[key] = Preprocessor.from_meta(parse_meta(meta_json), draft=draft)
    pre = _preprocessors[key]
    paths = [os.fsdecode(bytes(p)) for p in batch["path"]]
    chunk = decode_chunk(paths, pre, provenance,
                         source=lambda path: read_uri(path) if is_uri(path) else os.path.join(cwd, path))
    readable = np.array([not error for error in chunk.errors], bool)
    pixels = np.zeros((len(paths), pre.tiles, pre.height, pre.width, 3), np.uint8)  # (rows, K tiles, H, W, 3)
    pixels[readable] = chunk.pixels.reshape(-1, pre.tiles, pre.height, pre.width, 3)
    sizes = np.array([(-1, -1) if f is None or f.width is None else (f.width, f.height) for f in chunk.facts],
                     np.int64).reshape(-1, 2)
    found = np.array(["" if f is None else f.provenance for f in chunk.facts], object)
    return {"index": batch["index"], "path": batch["path"], "pixels": pixels,
            "error": np.array(chunk.errors, object), "size": sizes, "provenance": found}


class ModelWorker:
    """Ray actor: one model session, created once; scores the readable images of each batch."""

    def __init__(self, model_name: str, model_bytes: bytes | None, model_path: str, device: str,
                 threads: int, keep_classes: bool = False) -> None:
        from imgcheck.infer.models.model_file import ModelFile
        from imgcheck.infer.runtime import load_backend

        if model_bytes is None:  # a model with external data, read where it is (a shared filesystem)
            model_file = ModelFile.open(model_path)
            self.backend = load_backend(model_file, device=device, threads=threads)
        else:  # shipped through the object store: the nodes need no copy; the runtime reads it whole, then it goes
            with tempfile.TemporaryDirectory(prefix="imgcheck-model-") as folder:
                local_copy = os.path.join(folder, model_name)
                with open(local_copy, "wb") as fh:
                    fh.write(model_bytes)
                model_file = ModelFile.open(local_copy)
                self.backend = load_backend(model_file, device=device, threads=threads)
        self.scorer = BatchScorer.for_backend(self.backend, model_file.meta)
        self.keep_classes = keep_classes

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch's columns with `p_fake` (NaN for unreadable rows) and, when classes are kept, `classes`: each
        class's probability per row (NaN for unreadable rows)."""
        readable = np.array([not e for e in batch["error"]], bool)
        p_fake = np.full(len(readable), np.nan, np.float64)
        classes = (np.full((len(readable), len(self.scorer.meta.class_names)), np.nan, np.float64)
                   if self.keep_classes else None)
        if readable.any():
            pixels = batch["pixels"][readable].reshape(-1, *batch["pixels"].shape[2:])
            p_fake[readable], kept = self.scorer.scores(pixels, self.keep_classes)
            if classes is not None:
                classes[readable] = kept
        columns = {"index": batch["index"], "path": batch["path"], "p_fake": p_fake, "error": batch["error"],
                   "size": batch["size"], "provenance": batch["provenance"],
                   "provider": np.array([self.backend.provider] * len(readable), object)}
        if classes is not None:
            columns["classes"] = classes
        return columns


@dataclass
class RayScan:
    """One scan on Ray, with the local engine's interface (`scan.LocalScan`): `rows()` yields rows in input order,
    `provider` names what the actors ran on."""

    model_file: ModelFile
    threshold: float
    batch_size: int
    options: RayOptions
    draft: bool = True
    provenance: bool = True
    keep_classes: bool = False  # rows carry each class's probability (--keep-classes)
    providers: set[str] = field(default_factory=set)
    started_ray: bool = False
    abstain_out_of_domain: bool = False  # out-of-domain rows get UNSURE (--abstain-out-of-domain)
    list_files = staticmethod(list_inputs)  # the local rules, and s3://, gs://, file:// URIs

    @classmethod
    def for_model(cls, model_file: ModelFile, options: RayOptions, *, batch_size: int | None = None,
                  threshold: float | None = None, draft: bool = True, provenance: bool = True,
                  keep_classes: bool = False, abstain_out_of_domain: bool = False) -> RayScan:
        """A Ray scan with `model_file`, checked here first (safety, signature) so a bad model fails before Ray
        starts: the driver opens one CPU session for that, the actors their own."""
        from imgcheck.infer.runtime import load_backend

        load_backend(model_file, device="cpu", threads=1)
        meta = model_file.meta
        batch_size = batch_size or default_batch_size(meta.input_size, meta.tiles)
        return cls(model_file, meta.threshold if threshold is None else threshold, batch_size, options, draft,
                   provenance, keep_classes, abstain_out_of_domain=abstain_out_of_domain)

    @property
    def meta(self) -> ModelMeta:
        return self.model_file.meta

    @property
    def provider(self) -> str:
        return ", ".join(sorted(self.providers)) or "not started"

    def describe(self) -> str:
        return f"on Ray ({self.options.address or 'a local instance'})"

    def rows(self, paths: Iterable[str]) -> Iterator[list[Row]]:
        """Scan `paths` and yield their rows batch by batch, in the order given."""
        items = [os.fsencode(p) for p in paths]
        if not items:
            return
        ray = self._connect()
        names = self.meta.class_names
        domain = DomainRule.of(self.meta, self.abstain_out_of_domain)  # judged here, from the decoded sizes
        try:
            pending: list[tuple[int, str, float, str, ImageFacts | None, dict[str, float] | None]] = []
            expected = 0
            for batch in self._dataset(ray, items).iter_batches(batch_size=self.batch_size, batch_format="numpy"):
                self.providers.update(batch["provider"])
                classes = (class_dicts(batch["classes"], names) if self.keep_classes
                           else itertools.repeat(None))
                for index, path, p, error, size, found, named in zip(
                        batch["index"], batch["path"], batch["p_fake"], batch["error"], batch["size"],
                        batch["provenance"], classes):
                    facts = (ImageFacts(None, None, str(found)) if error  # an ERROR row keeps its provenance
                             else ImageFacts(int(size[0]), int(size[1]), str(found)))
                    heapq.heappush(pending, (int(index), os.fsdecode(bytes(path)), float(p), str(error), facts,
                                             named))
                ready = []
                while pending and pending[0][0] == expected:  # Ray keeps the order; this makes sure of it
                    ready.append(heapq.heappop(pending))
                    expected += 1
                if ready:
                    readable = [r for r in ready if not r[3]]
                    yield verdict_rows([r[1] for r in ready], [r[2] for r in readable], [r[3] for r in ready],
                                       self.threshold, [r[4] for r in ready],
                                       [r[5] for r in readable] if self.keep_classes else None, domain)
            if pending or expected != len(items):
                raise ImgcheckError(f"the Ray scan returned {expected} of {len(items)} rows in order; rerun with "
                                    "--resume to finish")
        finally:
            if self.started_ray:
                ray.shutdown()

    def _connect(self) -> Any:
        import logging

        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.options.address, include_dashboard=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ImgcheckError(f"cannot start or reach Ray at {self.options.address or 'a new local instance'}:"
                                    f" {exc}") from None
            self.started_ray = True
        # Ray configures its loggers in init; imgcheck's own progress bar and summary say what its INFO lines and
        # progress bars would, so they are kept off the terminal (Ray's log files still have everything)
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR if self.options.quiet else logging.WARNING)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        return ray

    def _dataset(self, ray: Any, items: list[bytes]) -> Any:
        options, meta_json = self.options, self.meta.to_json()
        device = "cuda" if options.gpus_per_worker > 0 else "cpu"
        blocks = _blocks(items, 4 * self.batch_size)
        workers = self._actor_count(ray, len(blocks))
        model_file = self.model_file
        external = model_file.carrier == "onnx" and bool(model_file.graph().external_data_locations)
        model_bytes = None if external else model_file.data()  # one file: ship it; else read it where it is
        decode: dict[str, Any] = {}
        if options.decode_tasks:  # TaskPoolStrategy is newer than `concurrency`, which Ray now deprecates
            task_pool = getattr(ray.data, "TaskPoolStrategy", None)
            decode = ({"compute": task_pool(size=options.decode_tasks)} if task_pool
                      else {"concurrency": options.decode_tasks})
        dataset = ray.data.from_arrow(blocks)
        dataset = dataset.map_batches(decode_batch, batch_size=self.batch_size, batch_format="numpy",
                                      fn_kwargs={"meta_json": meta_json, "draft": self.draft, "cwd": os.getcwd(),
                                                 "provenance": self.provenance},
                                      **decode)
        return dataset.map_batches(
            ModelWorker, batch_size=self.batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, num_gpus=options.gpus_per_worker,
            fn_constructor_kwargs={"model_name": model_file.name, "model_bytes": model_bytes,
                                   "model_path": os.path.abspath(model_file.path), "device": device, "threads": 1,
                                   "keep_classes": self.keep_classes})

    def _actor_count(self, ray: Any, blocks: int) -> int:
        """--num-workers, or one actor per CPU of the cluster (per `gpus_per_worker` share of its GPUs), and never
        more actors than the dataset has `blocks` (an idle actor would still load the model). Each actor holds a
        CPU: with --workers decode tasks beside them, the CPUs left must run those tasks, or Ray would wait forever
        for a CPU to schedule them on (as a 2-CPU instance did with 2 actors and --workers 1)."""
        resources = ray.cluster_resources()
        cpus, decode = int(resources.get("CPU", 1)), self.options.decode_tasks or 0
        if self.options.num_workers:
            actors = self.options.num_workers
        elif self.options.gpus_per_worker > 0:
            actors = max(1, int(resources.get("GPU", 0) // self.options.gpus_per_worker))
        else:
            actors = max(1, cpus - decode)
        actors = min(actors, max(1, blocks))
        if decode and actors + decode > cpus:
            raise ImgcheckError(f"{actors} model worker(s) and {decode} decode task(s) (--workers) need "
                                f"{actors + decode} CPUs, and the Ray cluster has {cpus}; lower --num-workers or "
                                "--workers.")
        return actors


def _blocks(paths: list[bytes], rows: int) -> list[Any]:
    """Arrow tables of `rows` (index, path) rows each: compact on the driver (a million paths are one list of bytes
    and these tables, not a million dicts), and enough blocks for Ray to decode them in parallel."""
    import pyarrow as pa

    return [pa.table({"index": pa.array(range(start, min(start + rows, len(paths))), pa.int64()),
                      "path": pa.array(paths[start:start + rows], pa.binary())})
            for start in range(0, len(paths), rows)]
