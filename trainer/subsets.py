"""Balanced, seeded subsets; the validation split; and dropping train images that duplicate test images."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from imgcheck.infer.evaluate.cifake import CIFAR_CATEGORIES
from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.data import CLASS_NAMES, Sample


def group_key(sample: Sample) -> tuple[int, int]:
    """The balancing group of a sample: (label, category), category 0 when unknown."""
    return sample.label, sample.category or 0


def balanced_subset(samples: Sequence[Sample], size: int | None, rng: np.random.Generator) -> list[Sample]:
    """`size` samples drawn without replacement, equally from every (class, category) group.

    With CIFAKE's 10 categories, 25,000 means 1,250 per class per category. When `size` does not divide
    evenly, the first groups (in label, category order) take one more. None returns every sample.
    """
    if size is None:
        return sorted(samples, key=lambda s: s.path)
    groups = _groups(samples)
    per_group, remainder = divmod(size, len(groups))
    chosen: list[Sample] = []
    for rank, key in enumerate(sorted(groups)):
        members = groups[key]
        wanted = per_group + (rank < remainder)
        if wanted > len(members):
            raise ImgcheckError(
                f"cannot draw {size:,} balanced samples: group {describe_group(key)} has {len(members):,} images but "
                f"{wanted:,} are needed. Ask for at most {len(groups) * min(map(len, groups.values())):,}, or 'all'."
            )
        picks = rng.choice(len(members), size=wanted, replace=False)
        chosen.extend(members[i] for i in sorted(picks))
    return sorted(chosen, key=lambda s: s.path)


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
    """Sample counts per readable group name, e.g. {"FAKE/cat": 250}."""
    counts: dict[str, int] = defaultdict(int)
    for sample in samples:
        counts[describe_group(group_key(sample))] += 1
    return dict(sorted(counts.items()))


def describe_group(key: tuple[int, int]) -> str:
    """'FAKE/cat' for (1, 4); 'REAL' when there is no category."""
    label, category = key
    return f"{CLASS_NAMES[label]}/{CIFAR_CATEGORIES[category - 1]}" if category else CLASS_NAMES[label]


def _groups(samples: Sequence[Sample]) -> dict[tuple[int, int], list[Sample]]:
    groups: dict[tuple[int, int], list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.path):
        groups[group_key(sample)].append(sample)
    if len({label for label, _ in groups}) < len(CLASS_NAMES):
        raise ImgcheckError("the training data needs images of both classes, REAL and FAKE.")
    return groups


def _file_hash(path: str) -> bytes:
    with open(path, "rb") as fh:
        return hashlib.blake2b(fh.read(), digest_size=16).digest()
