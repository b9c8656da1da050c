"""Ground-truth labels for scanned files: from REAL/FAKE folders in the path, or from a `path,label` CSV.

A file is labeled by the nearest folder above it whose name is a class name in any case (`REAL`, `fake`),
optionally with a numeric prefix (`0_real`, `1_fake`). A file under no such folder, and absent from the
labels CSV, is unlabeled: it is reported, never guessed.

Each labeled file may also belong to subgroups: `folder` (the folder directly beneath the class folder,
for example one generator per folder) and `category` (the CIFAR-10 category of a CIFAKE file name).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass

from imgcheck.infer.evaluate.cifake import CIFAR_CATEGORIES, parse_cifake_category
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.image_files import label_from_path

_LABEL_VALUES = {"real": 0, "0": 0, "fake": 1, "1": 1}


@dataclass(frozen=True)
class Label:
    """A file's ground truth: `fake` is 1 for FAKE (the positive class), 0 for REAL; `groups` maps a subgroup
    kind (`folder`, `category`) to the file's group of that kind."""

    fake: int
    groups: tuple[tuple[str, str], ...] = ()


def label_from_folders(path: str) -> Label | None:
    """The label given by the nearest REAL/FAKE folder in `path`, with the file's subgroups; None if none."""
    parts = re.split(r"[/\\]+", path)
    folders = parts[:-1]
    found = label_from_path(folders)
    if found is None:
        return None
    label, index = found
    groups = [("folder", folders[index + 1])] if index + 1 < len(folders) else []
    return Label(label, tuple(groups) + _category_group(parts[-1]))


def _category_group(name: str) -> tuple[tuple[str, str], ...]:
    category = parse_cifake_category(name)
    return (("category", CIFAR_CATEGORIES[category - 1]),) if category else ()


class LabelFile:
    """Labels read from a CSV of `path,label` rows (label REAL/FAKE in any case, or 0/1; a header is optional).

    A scanned path matches a CSV path when both name the same file: as written, relative to the current
    folder, or relative to the CSV's own folder.
    """

    def __init__(self, csv_path: str) -> None:
        self.source = csv_path
        self._labels: dict[str, int] = {}
        base = os.path.dirname(os.path.abspath(csv_path))
        try:
            with open(csv_path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                records = list(csv.reader(fh))
        except OSError as exc:
            raise ImgcheckError(f"--labels {csv_path}: cannot read it ({exc.strerror or exc}).")
        for line, record in enumerate(records, start=1):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) < 2:
                raise ImgcheckError(f"--labels {csv_path}, line {line}: expected `path,label`, got {record!r}.")
            path, value = record[0], record[1].strip().lower()
            if value not in _LABEL_VALUES:
                if line == 1:
                    continue  # a header row such as `path,label`
                raise ImgcheckError(f"--labels {csv_path}, line {line}: label must be REAL, FAKE, 0 or 1, "
                                    f"got {record[1]!r}.")
            self._labels[path] = _LABEL_VALUES[value]
            self._labels.setdefault(_key(path), _LABEL_VALUES[value])
            if not os.path.isabs(path):
                self._labels.setdefault(_key(os.path.join(base, path)), _LABEL_VALUES[value])
        if not self._labels:
            raise ImgcheckError(f"--labels {csv_path}: no `path,label` rows found.")

    def __len__(self) -> int:
        return len(self._labels)

    def get(self, path: str) -> int | None:
        """The label of the scanned `path`, or None when the CSV does not name it."""
        if path in self._labels:
            return self._labels[path]
        return self._labels.get(_key(path))


def _key(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


class Labeler:
    """Labels scanned paths from a LabelFile when given one, else from the folders in each path."""

    def __init__(self, label_file: LabelFile | None = None) -> None:
        self.label_file = label_file

    @property
    def source(self) -> str:
        return f"file {self.label_file.source}" if self.label_file else "folders (REAL/FAKE)"

    def __call__(self, path: str) -> Label | None:
        from_folders = label_from_folders(path)
        if self.label_file is None:
            return from_folders
        fake = self.label_file.get(path)
        if fake is None:
            return None
        groups = from_folders.groups if from_folders else _category_group(re.split(r"[/\\]+", path)[-1])
        return Label(fake, groups)

