"""One small image per format Pillow both writes and reads here, each under its registered suffix (some formats
need an optional codec: those without it are left out)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, features

WRITABLE = {"png": "PNG", "gif": "GIF", "tif": "TIFF", "webp": "WEBP", "bmp": "BMP", "qoi": "QOI", "pcx": "PCX",
            "sgi": "SGI", "tga": "TGA", "dds": "DDS", "icns": "ICNS", "ico": "ICO", "ppm": "PPM", "jp2": "JPEG2000",
            "avif": "AVIF", "mpo": "MPO"}
_CODECS = {"jp2": "jpg_2000", "avif": "avif", "webp": "webp"}


def write_every_format(folder: Path, size: tuple[int, int] = (40, 30)) -> list[str]:
    """Write folder/image.SUFFIX for each writable format; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, fmt in WRITABLE.items():
        if suffix in _CODECS and not features.check(_CODECS[suffix]):
            continue
        path = folder / f"image.{suffix}"
        Image.new("RGB", size, (200, 10, 10)).save(path, fmt)
        written.append(str(path))
    return written
