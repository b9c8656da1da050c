"""The range of stored image sizes of a set of files, read from their headers only: what a trainer records as
ModelMeta `provenance.train_image_sizes`."""

from __future__ import annotations

import os
from collections.abc import Iterable

SizeRange = tuple[tuple[int, int], tuple[int, int]]  # ((min H, min W), (max H, max W))


def image_size_range(paths: Iterable[str | os.PathLike]) -> SizeRange | None:
    """((min H, min W), (max H, max W)) over the files Pillow can open (each side on its own; unreadable files are
    left out); None when none can be opened. Only headers are read: 100,000 small JPEGs take a few seconds."""
    from imgcheck.infer.image_signatures import open_image

    low_h = low_w = high_h = high_w = None
    for path in paths:
        try:
            with open(path, "rb") as stream, open_image(stream) as img:
                width, height = img.size
        except Exception:  # noqa: BLE001 - an unreadable training file says nothing about sizes
            continue
        if low_h is None:
            low_h, high_h, low_w, high_w = height, height, width, width
        else:
            low_h, high_h = min(low_h, height), max(high_h, height)
            low_w, high_w = min(low_w, width), max(high_w, width)
    if low_h is None:
        return None
    return (low_h, low_w), (high_h, high_w)
