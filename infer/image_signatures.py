"""Open an image with Pillow, trying first the format its leading bytes name.

`Image.open` tries its plugins in registration order (AVIF, BLP, BMP, ... once every plugin is loaded), and several
of them parse the header rather than check a signature, so a small JPEG pays for a dozen failed openers before the
JPEG one: a sixth to a quarter of the time to decode a 32x32 CIFAKE file (benchmarks/results/open_by_signature.md).
A file whose signature names one of the common formats is opened with that plugin first; if it refuses, and for
every other file, Pillow tries every plugin in its own order, exactly as before.
"""

from __future__ import annotations

from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

# (offset, bytes, Pillow format): the file signatures of the formats a scan meets most.
_SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),  # MPO files start so too; Pillow's JPEG opener returns them as MPO
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WEBP"),  # after b"RIFF" and the chunk size
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
)
_HEAD = 12


def signature_format(head: bytes) -> str | None:
    """The Pillow format whose signature `head` (a file's first bytes) starts with, or None."""
    for offset, magic, fmt in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic and (fmt != "WEBP" or head.startswith(b"RIFF")):
            return fmt
    return None


def open_image(stream: BinaryIO) -> Image.Image:
    """`Image.open(stream)`, with the plugin the file's signature names tried first. Raises what Image.open raises.
    Only a seekable stream is sniffed (Image.open reads from byte 0 again either way)."""
    fmt = None
    try:
        if stream.seekable():
            fmt = signature_format(stream.read(_HEAD))
            stream.seek(0)
    except (AttributeError, OSError, ValueError):
        fmt = None
    if fmt is not None:
        try:
            return Image.open(stream, formats=(fmt,))
        except UnidentifiedImageError:
            pass  # not the format its first bytes suggest: let every plugin try
    return Image.open(stream)
