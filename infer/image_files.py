"""What counts as an image file and which class a folder names: one list and one rule, shared by the scan, the
trainer and the export parity check.

The image suffixes are Pillow's own registry (`Image.registered_extensions()`, plugins included), so every format
Pillow reads is scanned, less the formats it registers but cannot turn into pixels here (`_UNREADABLE`).
"""

from __future__ import annotations

import functools
import os
import re
import sys

CLASS_NAMES = ("REAL", "FAKE")  # label 0, label 1 (the positive class)
NO_SUFFIX = "(none)"  # the suffix key of a file name without one, in skipped-file counts
_CLASS_FOLDER = re.compile(r"^(?:0_)?(real)$|^(?:1_)?(fake)$", re.IGNORECASE)
# Registered by Pillow, but not images it decodes here: MPEG (it reads the header only; the pixels would be blank)
# and EPS/PS (they need Ghostscript, which imgcheck does not run on strangers' files).
_UNREADABLE = frozenset({"MPEG", "EPS"})
# Formats Pillow reads through another format's opener (MPO files open as JPEG).
_READ_BY_OTHERS = frozenset({"MPO"})


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Every file name ending (lower case, with its dot) of a format Pillow can read: its registry, less save-only
    formats (PDF), stub formats without a handler (BUFR, GRIB, HDF5, WMF off Windows) and `_UNREADABLE`."""
    from PIL import Image

    readable = set()
    for suffix, fmt in Image.registered_extensions().items():
        if fmt in _UNREADABLE:
            continue
        if fmt in Image.OPEN and not _stub_without_handler(Image.OPEN[fmt][0]):
            readable.add(suffix.lower())
        elif fmt in _READ_BY_OTHERS:
            readable.add(suffix.lower())
    return frozenset(readable)


def _stub_without_handler(opener: object) -> bool:
    """True for a Pillow stub format (it identifies files, but decodes them only through a registered handler)
    that has no handler."""
    from PIL import ImageFile

    if not (isinstance(opener, type) and issubclass(opener, ImageFile.StubImageFile)):
        return False
    module = sys.modules.get(opener.__module__)
    return getattr(opener, "_handler", None) is None and getattr(module, "_handler", None) is None


def has_image_suffix(name: str) -> bool:
    """True when `name` ends in an image suffix (any case)."""
    return os.path.splitext(name)[1].lower() in image_suffixes()


def suffix_key(name: str) -> str:
    """The suffix a skipped file is counted under: `.txt` (lower case), or `(none)`."""
    return os.path.splitext(os.path.basename(name))[1].lower() or NO_SUFFIX


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
