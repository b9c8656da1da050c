"""Find REAL/FAKE images on disk (or download CIFAKE with kagglehub) and list them as samples.

Two layouts, class folders matched case-insensitively (`REAL`, `fake`, `0_real`, `1_fake`), here or one level down:

* Kaggle's CIFAKE layout, with the splits given: ROOT/train/{REAL,FAKE} and ROOT/test/{REAL,FAKE};
* a flat one: ROOT/REAL and/or ROOT/FAKE (any depth below them), split into train and test by the run's seed.

CIFAKE file names carry the CIFAR-10 category: `NNNN.jpg` is category 1 (airplane), `NNNN (k).jpg` is category k
(2 automobile ... 10 truck). Every sample also carries the name of the source it came from (`--data`'s folder name,
or a `--source NAME=DIR`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imgcheck.infer.evaluate.cifake import parse_cifake_category
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.image_files import CLASS_NAMES, class_of_folder, has_image_suffix, label_from_path
from imgcheck.infer.version import install_extra

SPLITS = ("train", "test")
KAGGLE_HANDLE = "birdy654/cifake-real-and-ai-generated-synthetic-images"


@dataclass(frozen=True)
class Sample:
    """One labelled image: label is the index into CLASS_NAMES; category is the CIFAR category (1-10) or None;
    source names where it came from."""

    path: str
    label: int
    category: int | None = None
    source: str = ""


def resolve_data_root(spec: str, allow_flat: bool = False) -> Path:
    """The dataset root for `--data`: a folder, or "kaggle" to download CIFAKE with kagglehub. Without `allow_flat`
    the folder must hold the Kaggle layout (and the root returned is where it is)."""
    if spec == "kaggle":
        try:
            import kagglehub
        except ImportError:
            raise DependencyMissingError(f"--data kaggle needs kagglehub: {install_extra('train')}")
        return find_split_root(Path(kagglehub.dataset_download(KAGGLE_HANDLE)))
    root = Path(spec)
    if not root.is_dir():
        raise ImgcheckError(f"--data {spec}: no such folder (give a folder with train/ and test/ class folders, or "
                            "with REAL/ and FAKE/, or 'kaggle').")
    return root if allow_flat else find_split_root(root)


def find_split_root(folder: Path) -> Path:
    """`folder` itself, or the one sub-folder beneath it, that holds train/ and test/ class folders."""
    root = split_root_or_none(folder)
    if root is None:
        raise ImgcheckError(
            f"{folder}: expected train/REAL, train/FAKE, test/REAL and test/FAKE folders (the CIFAKE layout), here or "
            "one level down.")
    return root


def split_root_or_none(folder: Path) -> Path | None:
    """Where the Kaggle layout (train/ and test/ class folders) is under `folder`, or None."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if all(_class_folder(candidate / split, name) for split in SPLITS for name in CLASS_NAMES):
            return candidate
    return None


def class_root_or_none(folder: Path) -> Path | None:
    """Where class folders (REAL/ and/or FAKE/) are under `folder` (it, or the one sub-folder holding them), or
    `folder` itself when it is a class folder; None when there are none."""
    if class_of_folder(folder.name) is not None:
        return folder
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if any(_class_folder(candidate, name) for name in CLASS_NAMES):
            return candidate
    return None


def list_split(root: Path, split: str, source: str = "") -> list[Sample]:
    """Every image of one split, sorted by path; categories only when every name is a CIFAKE name."""
    samples = []
    for label, class_name in enumerate(CLASS_NAMES):
        folder = _class_folder(root / split, class_name)
        if folder is None:
            raise ImgcheckError(f"{root / split}: no {class_name} folder.")
        with os.scandir(folder) as entries:  # scandir: no stat per file (CIFAKE has 100,000 in train)
            names = sorted(e.name for e in entries if has_image_suffix(e.name) and e.is_file())
        samples.extend(Sample(os.path.join(folder, name), label, parse_cifake_category(name), source)
                       for name in names)
    if not samples:
        raise ImgcheckError(f"{root / split}: no images found.")
    return without_partial_categories(samples)


def list_labelled(folder: Path, source: str = "") -> list[Sample]:
    """Every image below `folder`, labelled by the nearest class folder on its path (`folder` itself may be one);
    sorted by path. Images under no class folder are an error naming how many."""
    samples, unlabelled = [], 0
    base = folder.parent
    for directory, subfolders, files in os.walk(folder):
        subfolders.sort()
        for name in sorted(files):
            if not has_image_suffix(name):
                continue
            path = os.path.join(directory, name)
            found = label_from_path(Path(os.path.relpath(path, base)).parts[:-1])
            if found is None:
                unlabelled += 1
                continue
            samples.append(Sample(path, found[0], parse_cifake_category(name), source))
    if unlabelled:
        raise ImgcheckError(f"{folder}: {unlabelled:,} image(s) sit under no REAL or FAKE folder; put them in one, or "
                            "name the class folder itself (e.g. --source gen=gen/FAKE).")
    if not samples:
        raise ImgcheckError(f"{folder}: no images found (expected REAL/ and/or FAKE/ folders of images).")
    return without_partial_categories(sorted(samples, key=lambda s: s.path))


def without_partial_categories(samples: list[Sample]) -> list[Sample]:
    """Categories are kept only when every name is a CIFAKE name (else balancing would split on chance names)."""
    if any(s.category is None for s in samples):
        return [Sample(s.path, s.label, None, s.source) for s in samples]
    return samples


def _class_folder(split_dir: Path, class_name: str) -> Path | None:
    if not split_dir.is_dir():
        return None
    label = CLASS_NAMES.index(class_name)
    matches = [p for p in split_dir.iterdir() if p.is_dir() and class_of_folder(p.name) == label]
    return matches[0] if len(matches) == 1 else None
