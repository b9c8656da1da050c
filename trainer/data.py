"""Find a REAL/FAKE dataset on disk (or download CIFAKE with kagglehub) and list its samples.

Layout (Kaggle's CIFAKE layout): ROOT/train/{REAL,FAKE} and ROOT/test/{REAL,FAKE}, class folders matched
case-insensitively. CIFAKE file names carry the CIFAR-10 category: `NNNN.jpg` is category 1 (airplane),
`NNNN (k).jpg` is category k (2 automobile ... 10 truck).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imgcheck.infer.evaluate.cifake import parse_cifake_category
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.image_files import CLASS_NAMES, class_of_folder, has_image_suffix

SPLITS = ("train", "test")
KAGGLE_HANDLE = "birdy654/cifake-real-and-ai-generated-synthetic-images"


@dataclass(frozen=True)
class Sample:
    """One labelled image: label is the index into CLASS_NAMES; category is the CIFAR category (1-10) or None."""

    path: str
    label: int
    category: int | None = None


def resolve_data_root(spec: str) -> Path:
    """The dataset root for `--data`: a folder, or "kaggle" to download CIFAKE with kagglehub."""
    if spec == "kaggle":
        try:
            import kagglehub
        except ImportError:
            raise DependencyMissingError("--data kaggle needs kagglehub: pip install 'imgcheck[train]'")
        return find_split_root(Path(kagglehub.dataset_download(KAGGLE_HANDLE)))
    root = Path(spec)
    if not root.is_dir():
        raise ImgcheckError(f"--data {spec}: no such folder (give a folder with train/ and test/, or 'kaggle').")
    return find_split_root(root)


def find_split_root(folder: Path) -> Path:
    """`folder` itself, or the one sub-folder beneath it, that holds train/ and test/ class folders."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if all(_class_folder(candidate / split, name) for split in SPLITS for name in CLASS_NAMES):
            return candidate
    raise ImgcheckError(
        f"{folder}: expected train/REAL, train/FAKE, test/REAL and test/FAKE folders (the CIFAKE layout), here or "
        "one level down."
    )


def list_split(root: Path, split: str) -> list[Sample]:
    """Every image of one split, sorted by path; categories only when every name is a CIFAKE name."""
    samples = []
    for label, class_name in enumerate(CLASS_NAMES):
        folder = _class_folder(root / split, class_name)
        if folder is None:
            raise ImgcheckError(f"{root / split}: no {class_name} folder.")
        with os.scandir(folder) as entries:  # scandir: no stat per file (CIFAKE has 100,000 in train)
            names = sorted(e.name for e in entries if has_image_suffix(e.name)
                           and e.is_file())
        samples.extend(Sample(os.path.join(folder, name), label, parse_cifake_category(name)) for name in names)
    if not samples:
        raise ImgcheckError(f"{root / split}: no images found.")
    if any(s.category is None for s in samples):
        samples = [Sample(s.path, s.label, None) for s in samples]
    return samples


def _class_folder(split_dir: Path, class_name: str) -> Path | None:
    if not split_dir.is_dir():
        return None
    label = CLASS_NAMES.index(class_name)
    matches = [p for p in split_dir.iterdir() if p.is_dir() and class_of_folder(p.name) == label]
    return matches[0] if len(matches) == 1 else None
