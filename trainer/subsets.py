"""Balanced, seeded subsets; the validation split; and dropping train images that duplicate test images."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from imgcheck.infer.evaluate.cifake import CIFAR_CATEGORIES
from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.data import CLASS_NAMES, Sample


def group_key(sample: Sample) -> tuple[int, str, int]:
    """The balancing group of a sample: (label, source, category), category 0 when unknown."""
    return sample.label, sample.source, sample.category or 0


def balanced_subset(samples: Sequence[Sample], size: int | None, rng: np.random.Generator) -> list[Sample]:
    """`size` samples drawn without replacement: half from each class; within a class equally from each source;
    within a source equally from each of its categories.

    With CIFAKE's 10 categories, 25,000 means 1,250 per class per category; adding a second FAKE source gives each
    FAKE source half of the FAKE draw, however many categories either has. When `size` does not divide evenly, the
    first groups (in label, source, category order) take one more. None returns every sample.
    """
    if size is None:
        return sorted(samples, key=lambda s: s.path)
    groups = _groups(samples)
    quotas = _quotas(sorted(groups), size)
    chosen: list[Sample] = []
    for key in sorted(groups):
        members = groups[key]
        wanted = quotas[key]
        if wanted > len(members):
            raise ImgcheckError(
                f"cannot draw {size:,} balanced samples: group {describe_group(key)} has {len(members):,} images but "
                f"{wanted:,} are needed. Ask for at most {_largest_draw(groups):,}, or 'all'."
            )
        picks = rng.choice(len(members), size=wanted, replace=False)
        chosen.extend(members[i] for i in sorted(picks))
    return sorted(chosen, key=lambda s: s.path)


def _quotas(keys: list[tuple[int, str, int]], size: int) -> dict[tuple[int, str, int], int]:
    """How many of `size` each (label, source, category) group gives: `size` shared equally among the classes, a
    class's share among its sources, a source's among its categories; at each level the remainder goes to the
    first."""
    quotas: dict[tuple[int, str, int], int] = {}

    def share(members: list[tuple[int, str, int]], total: int, level: int) -> None:
        if level == 3:
            quotas[members[0]] = total
            return
        parts: dict[object, list[tuple[int, str, int]]] = defaultdict(list)
        for key in members:
            parts[key[level]].append(key)
        each, remainder = divmod(total, len(parts))
        for rank, part in enumerate(sorted(parts)):
            share(parts[part], each + (rank < remainder), level + 1)

    share(keys, size, 0)
    return quotas


def _largest_draw(groups: dict[tuple[int, str, int], list[Sample]]) -> int:
    """The largest size whose quotas every group can fill."""
    low, high = 0, sum(len(m) for m in groups.values())
    while low < high:  # quotas grow with size: bisect for the last size that fits
        middle = (low + high + 1) // 2
        quotas = _quotas(sorted(groups), middle)
        if all(quotas[key] <= len(members) for key, members in groups.items()):
            low = middle
        else:
            high = middle - 1
    return low


def split_validation(samples: Sequence[Sample], fraction: float, rng: np.random.Generator) -> tuple[list[Sample], list[Sample]]:
    """Carve a balanced validation split (`fraction` of the samples) off a training set: (train, val)."""
    if fraction <= 0:
        return sorted(samples, key=lambda s: s.path), []
    val = balanced_subset(samples, round(fraction * len(samples)), rng)
    held_out = {s.path for s in val}
    return [s for s in sorted(samples, key=lambda s: s.path) if s.path not in held_out], val


def drop_duplicates_of(train: Sequence[Sample], reference: Iterable[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Split `train` into (kept, removed): removed images are byte-identical to some image in `reference`."""
    reference_hashes = {_file_hash(s.path) for s in reference}
    kept, removed = [], []
    for sample in train:
        (removed if _file_hash(sample.path) in reference_hashes else kept).append(sample)
    return kept, removed


def count_groups(samples: Iterable[Sample]) -> dict[str, int]:
    """Sample counts per readable group name, e.g. {"FAKE/cat": 250}; with several sources {"ddpm:FAKE": 300}."""
    samples = list(samples)
    several = len({s.source for s in samples}) > 1
    counts: dict[str, int] = defaultdict(int)
    for sample in samples:
        counts[describe_group(group_key(sample), with_source=several)] += 1
    return dict(sorted(counts.items()))


def describe_group(key: tuple[int, str, int], with_source: bool = True) -> str:
    """'FAKE/cat' for (1, source, 4), 'REAL' when there is no category; prefixed 'source:' when `with_source`."""
    label, source, category = key
    name = f"{CLASS_NAMES[label]}/{CIFAR_CATEGORIES[category - 1]}" if category else CLASS_NAMES[label]
    return f"{source}:{name}" if with_source and source else name


def _groups(samples: Sequence[Sample]) -> dict[tuple[int, str, int], list[Sample]]:
    groups: dict[tuple[int, str, int], list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.path):
        groups[group_key(sample)].append(sample)
    if len({key[0] for key in groups}) < len(CLASS_NAMES):
        raise ImgcheckError("the training data needs images of both classes, REAL and FAKE.")
    return groups


def _file_hash(path: str) -> bytes:
    with open(path, "rb") as fh:
        return hashlib.blake2b(fh.read(), digest_size=16).digest()
