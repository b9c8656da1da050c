"""All provenance findings of one opened image, in the column's order: c2pa, xmp, png, exif.

Called on the image the decoder has already opened and loaded, so the metadata costs no second read; only a file
that carries a C2PA manifest store pays for c2pa's Reader. A metadata reader that fails on a hostile file gives no
finding and never costs the image its verdict; a PNG chunk that Pillow refuses (a text bomb) is left out of the
decode and noted as `png:invalid(text over limit: ...)`.

A file whose pixels cannot be decoded keeps its evidence too (`read_unreadable`): its ERROR row carries what its
metadata says, C2PA above all (a manifest is evidence even when the pixels are broken).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from PIL import Image

from imgcheck.infer.image_signatures import open_image, signature_format
from imgcheck.infer.png_chunks import reopen_without_refused_metadata, skipped_chunks
from imgcheck.infer.provenance.c2pa_manifest import bytes_carry_c2pa, c2pa_findings, carries_c2pa, manifest_findings
from imgcheck.infer.provenance.exif import exif_findings
from imgcheck.infer.provenance.findings import Finding, format_provenance
from imgcheck.infer.provenance.png_text import png_findings, skipped_findings, text_chunks
from imgcheck.infer.provenance.xmp import xmp_findings, xmp_packet
from imgcheck.infer.regular_files import open_regular_file

_JPEG_FORMATS = ("JPEG", "MPO")
_EXIF_FORMATS = ("TIFF", "MPO")  # EXIF that Pillow keeps outside info["exif"]
_HEAD = 16  # bytes enough for `signature_format`


def read_findings(img: Image.Image, source: object, loaded: bool = True) -> list[Finding]:
    """Every finding in `img` (opened from `source`: a path, the file's bytes, or the binary stream it was read
    from, which is what a scan passes). `loaded` False: `img` is opened, not loaded, and must stay so (a file whose
    pixels cannot be decoded); PNG text is then what precedes the pixel data.

    Each reader runs only where its metadata can be (a JPEG without APP11, XMP and EXIF costs a few look-ups):
    a scan calls this for every file, and small CIFAKE JPEGs decode in about 150 µs."""
    found: list[Finding] = []
    fmt, info = img.format, img.info
    if fmt in _JPEG_FORMATS:
        candidates = [_c2pa] if any(marker == "APP11" for marker, _ in getattr(img, "applist", ())) else []
    else:
        candidates = [_c2pa]
    if "xmp" in info or fmt == "TIFF":
        candidates.append(_xmp)
    if fmt == "PNG":
        candidates.append(_png if loaded else _png_header)
    if "exif" in info or fmt in _EXIF_FORMATS:
        candidates.append(_exif)
    for read in candidates:
        try:
            found.extend(read(img, source))
        except Exception:  # noqa: BLE001 - hostile metadata must never stop the scan
            continue
    return found


def read_provenance(img: Image.Image, source: object) -> str:
    """The `provenance` column for `img`: its findings as text, '' when there are none."""
    found = read_findings(img, source)
    return format_provenance(found) if found else ""


def read_unreadable(source: object) -> str:
    """The `provenance` column for a file the decoder could not read (`source`: its path, its bytes, or a seekable
    binary stream), read without decoding a pixel: c2pa's Reader on the file's bytes whether or not Pillow can open
    it (the format from the file's signature), and XMP, PNG text before the pixel data and EXIF where Pillow can
    still open it. Never raises: a path that is not a regular file (never read: a FIFO would block), a source that
    is not a file, or a failing reader gives ''."""
    try:
        with _metadata_stream(source) as stream:
            if stream is None:
                return ""
            img = _opened(stream)
            if img is None:
                return format_provenance(_c2pa_alone(stream))
            with img:
                return format_provenance(read_findings(img, stream, loaded=False))
    except Exception:  # noqa: BLE001 - the row is an ERROR already; its metadata must not make it worse
        return ""


def _c2pa(img: Image.Image, source: object) -> list[Finding]:
    return c2pa_findings(img, source) if carries_c2pa(img, source) else []


def _xmp(img: Image.Image, source: object) -> list[Finding]:
    packet = xmp_packet(img)
    return xmp_findings(packet) if packet else []


def _png(img: Image.Image, source: object) -> list[Finding]:
    text = text_chunks(img)
    return (png_findings(text) if text else []) + skipped_findings(skipped_chunks(img))


def _png_header(img: Image.Image, source: object) -> list[Finding]:
    text = text_chunks(img, loaded=False)
    return (png_findings(text) if text else []) + skipped_findings(skipped_chunks(img))


def _exif(img: Image.Image, source: object) -> list[Finding]:
    return exif_findings(img)


@contextlib.contextmanager
def _metadata_stream(source: object) -> Iterator[BinaryIO | None]:
    """`source` as a seekable binary stream at its start (a path opened only if it is a regular file), else None."""
    if isinstance(source, (str, os.PathLike)):
        try:
            stream = open_regular_file(source)
        except OSError:
            yield None
            return
        with stream:
            yield stream
    elif isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif hasattr(source, "read") and hasattr(source, "seekable") and source.seekable():  # type: ignore[attr-defined]
        source.seek(0)  # type: ignore[attr-defined]
        yield source  # type: ignore[misc]
    else:  # an image or array already in memory, or a stream that cannot seek
        yield None


def _opened(stream: BinaryIO) -> Image.Image | None:
    """The image in `stream` opened by Pillow (its header and the metadata before the pixels; nothing decoded),
    without the PNG chunks Pillow refuses; None when Pillow cannot open it."""
    try:
        return open_image(stream)
    except Exception:  # noqa: BLE001 - any failure to open: try without refused metadata, else C2PA alone
        pass
    try:
        return reopen_without_refused_metadata(stream)
    except Exception:  # noqa: BLE001
        return None


def _c2pa_alone(stream: BinaryIO) -> list[Finding]:
    """The C2PA findings of a file Pillow cannot open, its media type from its signature."""
    stream.seek(0)
    fmt = signature_format(stream.read(_HEAD))
    mime = Image.MIME.get(fmt or "")
    if mime is None or not bytes_carry_c2pa(stream):
        return []
    return manifest_findings(mime, stream)
