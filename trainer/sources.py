"""What a run trains and tests on: `--data` in either layout, plus `--source NAME=DIR` folders, each image kept
with the name of its source.

A source in the Kaggle layout (train/ and test/ class folders) keeps its own splits; any other is split into train
and test by the run's seed, `--test-fraction` of each (class, category) group going to test, so every source is
present in the test split and scored there on its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.data import (Sample, class_root_or_none, list_labelled, list_split, resolve_data_root,
                                   split_root_or_none)


@dataclass(frozen=True)
class SourceSpec:
    """One `--source NAME=DIR`."""

    name: str
    folder: str

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        name, sep, folder = text.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ImgcheckError(f"--source {text!r}: expected NAME=DIR, e.g. --source ddpm=gen/ddpm/FAKE")
        return cls(name.strip(), folder.strip())


@dataclass
class Pools:
    """Every training and test image of a run, before the balanced draws; and how each source was laid out."""

    train: list[Sample]
    test: list[Sample]
    layouts: dict[str, str]  # source -> "splits given" or "split by seed"
    root: Path  # --data's folder (its name is the first source's)


def load_pools(data: str, sources: list[SourceSpec] | tuple[SourceSpec, ...], test_fraction: float,
               rng: np.random.Generator) -> Pools:
    """List `--data` and every `--source`, split those without their own splits, and check both classes exist."""
    root = resolve_data_root(data, allow_flat=True)
    folders = [("cifake" if data == "kaggle" else root.resolve().name, root)]
    for spec in sources:
        folder = Path(spec.folder)
        if not folder.is_dir():
            raise ImgcheckError(f"--source {spec.name}={spec.folder}: no such folder.")
        folders.append((spec.name, folder))
    names = [name for name, _ in folders]
    if len(set(names)) != len(names):
        raise ImgcheckError(f"source names must differ; got {', '.join(names)} (--data counts as {names[0]!r}).")
    train: list[Sample] = []
    test: list[Sample] = []
    layouts: dict[str, str] = {}
    for name, folder in folders:
        split_root = split_root_or_none(folder)
        if split_root is not None:
            train += list_split(split_root, "train", name)
            test += list_split(split_root, "test", name)
            layouts[name] = "splits given"
            continue
        class_root = class_root_or_none(folder)
        if class_root is None:
            raise ImgcheckError(f"{folder}: no REAL or FAKE folder here or one level down (source {name!r}), and "
                                "no train/ and test/ class folders.")
        samples = list_labelled(class_root, name)
        kept, held = split_by_group(samples, test_fraction, rng)
        train += kept
        test += held
        layouts[name] = "split by seed"
    for split, samples in (("training", train), ("test", test)):
        missing = [c for label, c in enumerate(("REAL", "FAKE")) if not any(s.label == label for s in samples)]
        if missing:
            raise ImgcheckError(f"no {' or '.join(missing)} images in the {split} split of any source "
                                f"({', '.join(names)}); every run needs both classes.")
    return Pools(train, test, layouts, root)


def split_by_group(samples: list[Sample], fraction: float, rng: np.random.Generator) -> tuple[list[Sample],
                                                                                                list[Sample]]:
    """(train, test): `fraction` of every (class, category) group, rounded, to test (at least one image of a group
    with two or more)."""
    if not 0 < fraction < 1:
        raise ImgcheckError(f"--test-fraction must be between 0 and 1, got {fraction}")
    groups: dict[tuple[int, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.label, sample.category or 0)].append(sample)
    train, test = [], []
    for key in sorted(groups):
        members = groups[key]
        count = min(len(members) - 1, max(1, round(fraction * len(members)))) if len(members) > 1 else 0
        chosen = set(rng.choice(len(members), size=count, replace=False).tolist())
        for index, sample in enumerate(members):
            (test if index in chosen else train).append(sample)
    return sorted(train, key=lambda s: s.path), sorted(test, key=lambda s: s.path)
