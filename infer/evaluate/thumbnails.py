"""Thumbnails for the gallery: each image decoded through the one safe decode path (size limit, first frame, EXIF
orientation, RGB), shrunk to fit a square and saved as a small JPEG inside the report folder."""

from __future__ import annotations

import os
from collections.abc import Iterable

from PIL import Image

from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.preprocess import decode_image

THUMBNAIL_SIDE = 160
THUMBNAIL_FOLDER = "thumbs"


def write_thumbnails(folder: str, paths: Iterable[str], side: int = THUMBNAIL_SIDE) -> dict[str, str | None]:
    """Write one thumbnail per distinct path into `folder`/thumbs; returns {path: file name relative to `folder`,
    or None when the image can no longer be read (deleted, changed, unreadable)}."""
    target = os.path.join(folder, THUMBNAIL_FOLDER)
    os.makedirs(target, exist_ok=True)
    written: dict[str, str | None] = {}
    for path in paths:
        if path in written:
            continue
        name = f"{THUMBNAIL_FOLDER}/{len(written):05d}.jpg"
        try:
            img = decode_image(_source(path), draft_size=(side, side))
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
            img.save(os.path.join(folder, name), "JPEG", quality=82)
            written[path] = name
        except ImageDecodeError:
            written[path] = None
    return written


def _source(path: str) -> str | bytes:
    """A local path as it is; an `s3://`, `gs://` or `file://` URI (a Ray scan's input) read through pyarrow."""
    from imgcheck.infer.remote_files import is_uri, read_uri

    if is_uri(path):
        return read_uri(path)
    return path
