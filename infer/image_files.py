"""What counts as an image file and which class a folder names: one list and one rule, shared by the scan, the
trainer and the export parity check."""

from __future__ import annotations

import os
import re

# File name endings read as images (inside folders; files named explicitly are always read).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif",
                            ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga", ".avif", ".heic"})
CLASS_NAMES = ("REAL", "FAKE")  # label 0, label 1 (the positive class)
_CLASS_FOLDER = re.compile(r"^(?:0_)?(real)$|^(?:1_)?(fake)$", re.IGNORECASE)


def has_image_suffix(name: str) -> bool:
    """True when `name` ends in an image suffix (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def class_of_folder(name: str) -> int | None:
    """The label a folder name gives: 0 for REAL, 1 for FAKE (any case, optionally `0_real` / `1_fake`), else None."""
    match = _CLASS_FOLDER.match(name)
    if match is None:
        return None
    return int(match.group(2) is not None)


def label_from_path(parts: list[str] | tuple[str, ...]) -> tuple[int, int] | None:
    """(label, index of the class folder) from the nearest class folder among the folders `parts` (the file name
    excluded), or None when no folder names a class."""
    for index in range(len(parts) - 1, -1, -1):
        label = class_of_folder(parts[index])
        if label is not None:
            return label, index
    return None
