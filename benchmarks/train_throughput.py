"""Training throughput of `cnn` on CPU with the decode cache on and off, side by side in one run.

    python benchmarks/train_throughput.py --data data/cifake --images 5000 --repeats 3

Each repeat runs one training epoch per mode, modes interleaved so that machine noise hits all of them;
the table reports the median images/s (with min-max) and the ratio to the cached mode. The cache's
one-time decode cost is measured separately. Results go to benchmarks/results/train_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import torch

import harness
from imgcheck.infer.models.architectures import build_model, default_meta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.data import list_split, resolve_data_root
from imgcheck.trainer.dataset import decode_all, file_batches, memory_batches
from imgcheck.trainer.loop import Trainer
from imgcheck.trainer.subsets import balanced_subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/cifake", help="CIFAKE root (tar xzf ../shared/data/cifake.tar.gz -C data/)")
    parser.add_argument("--images", type=int, default=5000, help="balanced training images per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the decode-every-epoch mode")
    args = parser.parse_args()

    samples = balanced_subset(list_split(resolve_data_root(args.data), "train"), args.images, np.random.default_rng(0))
    meta = default_meta("cnn")
    pre = Preprocessor.from_meta(meta)
    targets = np.asarray([s.label for s in samples], np.float32)

    with harness.Timer() as decoding:
        pixels = decode_all(samples, pre, workers=0)
    decode_seconds = decoding.last

    modes = {
        "cache (memory)": lambda order: memory_batches(pixels, targets, order, args.batch_size),
        "no cache, 0 workers": lambda order: file_batches(samples, pre, order, args.batch_size, 0),
        f"no cache, {args.workers} workers": lambda order: file_batches(samples, pre, order, args.batch_size, args.workers),
    }
    speeds: dict[str, list[float]] = {name: [] for name in modes}
    for repeat in range(args.repeats + 1):  # repeat 0 warms up (allocator, thread pools) and is discarded
        for name, batches in modes.items():
            torch.manual_seed(repeat)
            trainer = Trainer(build_model("cnn"), pre, torch.device("cpu"))
            optimizer = torch.optim.Adam(trainer.model.parameters(), lr=1e-4)
            generator = torch.Generator().manual_seed(repeat)
            order = torch.randperm(len(samples), generator=generator).numpy()
            stats = trainer.train_epoch(optimizer, batches(order), "none", generator)
            if repeat:
                speeds[name].append(stats["images_per_s"])
            print(f"repeat {repeat} {name}: {stats['images_per_s']:,.0f} img/s", file=sys.stderr)

    base = statistics.median(speeds["cache (memory)"])
    rows = [{"mode": name, "median_images_per_s": statistics.median(v), "min": min(v), "max": max(v),
             "ratio_to_cache": statistics.median(v) / base} for name, v in speeds.items()]
    record = {"images": len(samples), "batch_size": args.batch_size, "repeats": args.repeats,
              "decode_once_seconds": decode_seconds, "decode_once_images_per_s": len(samples) / decode_seconds,
              "torch_threads": torch.get_num_threads(), "rows": rows}
    body = [
        f"torch with {record['torch_threads']} threads. {len(samples):,} balanced CIFAKE training images, batch "
        f"{args.batch_size}, one epoch per mode per repeat, {args.repeats} repeats after a warm-up, modes interleaved.",
        "",
        harness.table(["mode", "median images/s", "min-max", "ratio to cache"],
                      [[r["mode"], f"{r['median_images_per_s']:,.0f}", f"{r['min']:,.0f}-{r['max']:,.0f}",
                        f"{r['ratio_to_cache']:.2f}"] for r in rows]),
        "", f"The cache costs one decode pass first: {decode_seconds:.1f} s for {len(samples):,} images "
        f"({record['decode_once_images_per_s']:,.0f} images/s, in-process), then every epoch reads uint8 pixels from memory.",
    ]
    print(harness.write_result(harness.RESULTS / "train_throughput.md",
                               "Training throughput: `cnn` on CPU, decode cache on and off", body, record), end="")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
