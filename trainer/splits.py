"""A run's data: the train, validation and test draws from the sources, and each split's samples, targets and
(cached) pixels, with the batches training and evaluation read from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgcheck.infer.image_sizes import image_size_range
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.data import Sample
from imgcheck.trainer.dataset import (cached_pixels, crop_batches, decode_native, file_batches, memory_batches,
                                      tile_batches)
from imgcheck.trainer.run_reporter import RunReporter
from imgcheck.trainer.sources import SourceSpec, load_pools
from imgcheck.trainer.subsets import balanced_subset, count_groups, drop_duplicates_of, split_validation


@dataclass
class Split:
    """One split's samples, their targets, and their decoded pixels (None when not cached)."""

    samples: list[Sample]
    targets: np.ndarray
    pixels: np.ndarray | None

    def batches(self, cfg: TrainConfig, pre: Preprocessor, order: np.ndarray, batch_size: int,
                generator: torch.Generator | None = None) -> Any:
        """Training batches in `order`: cached pixels, random crops of cached native images, or decoded files."""
        if cfg.fit == "crop":
            return crop_batches(self.pixels, self.targets, order, batch_size, pre, generator)
        if self.pixels is not None:
            return memory_batches(self.pixels, self.targets, order, batch_size)
        return file_batches(self.samples, pre, order, batch_size, cfg.workers)

    def in_order(self, cfg: TrainConfig, pre: Preprocessor, order: np.ndarray | None = None) -> Any:
        """Evaluation batches in sample order, or of the samples `order` picks (a crop model: each image's tiles,
        as a scan makes them)."""
        order = np.arange(len(self.samples)) if order is None else order
        if cfg.fit == "crop":
            return tile_batches(self.pixels, self.targets, order, cfg.eval_batch_size, pre)
        return self.batches(cfg, pre, order, cfg.eval_batch_size)


def load_splits(cfg: TrainConfig, pre: Preprocessor, reporter: RunReporter) -> tuple[dict[str, Any], Split, Split, Split]:
    """The run's train, validation and test splits (drawn, balanced and seeded as the config says; pixels decoded
    into the cache when there is one), and what summary.json says of the data."""
    rng = np.random.default_rng(cfg.seed)
    pools = load_pools(cfg.data, [SourceSpec.parse(s) for s in cfg.sources], cfg.test_fraction, rng)
    root, all_train, all_test = pools.root, pools.train, pools.test
    removed: list[Sample] = []
    if cfg.dedupe:
        all_train, removed = drop_duplicates_of(all_train, all_test)
        reporter.status(f"--dedupe: dropped {len(removed):,} training images byte-identical to a test image")
    held_out = [s for s in all_train if s.source in cfg.val_sources]
    train_pool = balanced_subset([s for s in all_train if s.source not in cfg.val_sources], cfg.train_size, rng)
    test = balanced_subset(all_test, cfg.test_size, rng)
    train, val = split_validation(train_pool, cfg.val_fraction, rng)
    val = sorted(val + held_out_validation(held_out, len(val) // 2, rng), key=lambda s: s.path)
    splits = {}
    cache_dir = disk_cache_dir(cfg)
    for name, samples in (("train", train), ("val", val), ("test", test)):
        pixels = None
        if cfg.fit == "crop" and samples:
            with reporter.decode_progress(name, len(samples)) as on_batch:
                pixels = decode_native(samples, pre, cfg.max_side, on_batch)
            small = sum(min(p.shape[:2]) * 2 < min(pre.height, pre.width) for p in pixels)
            if small:
                reporter.status(f"--fit crop: {small:,} of {len(samples):,} {name} images are smaller than half the "
                                f"{pre.height}x{pre.width} input; they are padded by reflection")
        elif cfg.cache != "none" and samples:
            with reporter.decode_progress(name, len(samples)) as on_batch:
                pixels = cached_pixels(samples, pre, cache_dir, cfg.workers, on_batch)
        splits[name] = Split(samples, np.asarray([s.label for s in samples], np.float32), pixels)
    info = {
        "root": str(root),
        "train": len(train), "val": len(val), "test": len(test),
        "available": {"train": len(all_train) + len(removed), "test": len(all_test)},
        "dedupe_removed": len(removed) if cfg.dedupe else None,
        "sources": {name: {"layout": layout, **{split: sum(s.source == name for s in samples) for split, samples in
                                                 (("train", train), ("val", val), ("test", test))}}
                    for name, layout in pools.layouts.items()},
        "groups": {"train": count_groups(train), "val": count_groups(val), "test": count_groups(test)},
        "image_sizes": image_size_range(s.path for s in train),  # ModelMeta: what scans compare their images to
    }
    return info, splits["train"], splits["val"], splits["test"]


def disk_cache_dir(cfg: TrainConfig) -> str | None:
    """Where --cache disk keeps decoded pixels (and a probe's features); None for the other caches."""
    return (cfg.cache_dir or str(Path(cfg.out) / "cache")) if cfg.cache == "disk" else None


def held_out_validation(held_out: list[Sample], per_source: int, rng: np.random.Generator) -> list[Sample]:
    """Leave-one-generator-out: from each held-out source's training images, a draw of `per_source` (half the
    ordinary validation draw, or all it has; balanced when the source has both classes) to join the validation
    split; none of them ever trains."""
    chosen: list[Sample] = []
    for name in sorted({s.source for s in held_out}):
        members = sorted((s for s in held_out if s.source == name), key=lambda s: s.path)
        count = min(per_source, len(members))
        if len({s.label for s in members}) == 2:
            chosen += balanced_subset(members, count, rng)
        else:  # a generator's fakes alone: a seeded draw
            chosen += [members[i] for i in sorted(rng.choice(len(members), size=count, replace=False))]
    return chosen
