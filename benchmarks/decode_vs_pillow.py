"""imgcheck's decoding against a plain Pillow loop on the same files and cores, side by side in one run.

    python benchmarks/decode_vs_pillow.py --folder runs/scan_limit/images --folder ../shared/data/photos

The plain loop is what a user would write: `Image.open`, `draft`, `convert("RGB")`, `resize` to the bundled
model's input with its filter, `np.asarray`, batches stacked in worker processes. imgcheck's is the scan's decode
stage (`decoded_chunks`: the same batches and workers, plus what a scan needs and the loop skips: refusing
non-regular files and decompression bombs, EXIF orientation, transparency over white, one-line reasons for broken
files, each file's stored size), without and with provenance. Both run in one process (`workers 0`: the per-image
cost alone) and with one worker per core (as a scan runs them: pool start-up and the copying of batches between
processes included). Passes take turns over `--repeat` rounds after one untimed round; images/s is the median.
The transport row times what handing a batch back through the pool's pipes costs alone: workers return ready
arrays of the batch's shape. Where a batch is large enough for the scan to hand it back in shared memory
(`imgcheck.infer.scan.batch_slots`), a row "batches by pipe" decodes as imgcheck does with that turned off.
Results go to benchmarks/results/decode_vs_pillow.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import harness

_size: tuple[int, int] = (32, 32)  # (W, H), set in each worker by _init
_filter = Image.Resampling.BILINEAR


def _init(size: tuple[int, int], resample: int) -> None:
    global _size, _filter
    _size, _filter = size, Image.Resampling(resample)


def plain_batch(paths: list[str]) -> np.ndarray:
    """The plain Pillow loop over one batch: open, draft, convert, resize, asarray; stacked."""
    width, height = _size
    out = []
    for path in paths:
        with Image.open(path) as img:
            img.draft("RGB", (2 * width, 2 * height))
            out.append(np.asarray(img.convert("RGB").resize(_size, _filter, reducing_gap=None)))
    return np.stack(out)


def empty_batch(paths: list[str]) -> np.ndarray:
    """A ready uint8 batch of the model's shape, decoding nothing: what handing a batch back costs by itself."""
    width, height = _size
    return np.zeros((len(paths), height, width, 3), np.uint8)


def pooled(fn: Callable[[list[str]], np.ndarray], batches: list[list[str]], workers: int,
           init: tuple) -> Iterator[np.ndarray]:
    """`fn` over `batches` in `workers` processes, in order, as the scan hands out its batches
    (`pipeline.ordered_pool_map`: the same window of 2 * workers + 2 batches in flight)."""
    from imgcheck.infer.scan.pipeline import ordered_pool_map

    return ordered_pool_map(fn, batches, workers, _init, init)


def by_pipe(run: Callable[[], int]) -> int:
    """`run()` with the scan's shared batch slots turned off: batches come back pickled through the pool's pipes."""
    import imgcheck.infer.scan.batch_slots as batch_slots

    threshold = batch_slots.SHARED_MEMORY_MIN_BYTES
    batch_slots.SHARED_MEMORY_MIN_BYTES = 1 << 62
    try:
        return run()
    finally:
        batch_slots.SHARED_MEMORY_MIN_BYTES = threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", action="append", required=True, type=Path)
    parser.add_argument("--model", default=None, help="whose input size and filter to decode to [default: bundled]")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "decode_vs_pillow.md")
    args = parser.parse_args()
    from imgcheck.infer.models.bundled import open_model_file
    from imgcheck.infer.preprocess import _PIL_FILTERS
    from imgcheck.infer.scan.balance import available_cores
    from imgcheck.infer.scan.discover import Selection, discover
    from imgcheck.infer.scan.batch_slots import shared_memory_pays
    from imgcheck.infer.scan.pipeline import batched, decoded_chunks

    meta = open_model_file(args.model).meta
    _, height, width = meta.input_size
    init = ((width, height), int(_PIL_FILTERS[meta.interpolation]))
    cores = available_cores()
    rows: list[dict[str, Any]] = []
    for folder in args.folder:
        paths = list(discover([str(folder)], Selection()))
        batches = list(batched(paths, args.batch_size))
        variants: dict[tuple[str, int], Callable[[], int]] = {}
        for workers in (0, cores):
            variants[("plain Pillow loop", workers)] = \
                lambda w=workers: sum(len(b) for b in pooled(plain_batch, batches, w, init))
            for provenance in (False, True):
                name = "imgcheck decode" + (" + provenance" if provenance else "")
                variants[(name, workers)] = lambda w=workers, p=provenance: sum(
                    len(c.pixels) for c in decoded_chunks(iter(paths), meta, args.batch_size, w, provenance=p))
        if shared_memory_pays(args.batch_size * height * width * 3):  # imgcheck's batches come back in shared slots
            variants[("imgcheck decode, batches by pipe", cores)] = lambda: by_pipe(
                lambda: sum(len(c.pixels) for c in decoded_chunks(iter(paths), meta, args.batch_size, cores,
                                                                  provenance=False)))
        variants[("transport only (no decoding)", cores)] = \
            lambda: sum(len(b) for b in pooled(empty_batch, batches, cores, init))
        timers = {key: harness.Timer(warmup=1) for key in variants}  # one untimed round first
        for _ in range(1 + args.repeat):
            for key, run in variants.items():
                with timers[key]:
                    decoded = run()
                if decoded != len(paths):
                    raise SystemExit(f"{key}: decoded {decoded} of {len(paths)} files")
        speeds = {key: timer.rates(len(paths)) for key, timer in timers.items()}
        for (name, workers), values in speeds.items():
            plain = statistics.median(speeds[("plain Pillow loop", workers)])
            speed = statistics.median(values)
            rows.append({"folder": str(folder), "images": len(paths), "decoder": name, "workers": workers,
                         "images_per_s": speed, "rounds": values, "vs_plain": speed / plain})
            print(f"{folder} {name} workers {workers}: {speed:,.1f}/s ({speed / plain:.2f}x plain)", file=sys.stderr)
    body = [f"Decoding to {width}x{height} ({meta.interpolation}, the input of {args.model or 'the bundled model'}), "
            f"batch {args.batch_size}, median of {args.repeat} interleaved rounds after one untimed round. `vs plain` "
            "compares with the plain loop on the same worker count.", "",
            harness.table(["folder", "images", "decoder", "workers", "images/s", "vs plain"],
                          [[r["folder"], f"{r['images']:,}", r["decoder"], r["workers"], f"{r['images_per_s']:,.1f}",
                            f"{r['vs_plain']:.2f}x"] for r in rows], align="lrlrrr")]
    harness.write_result(args.out, "Decoding: imgcheck against a plain Pillow loop", body, {"rows": rows})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
