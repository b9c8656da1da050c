"""PNG files whose metadata Pillow refuses, built in the test that needs them (issue 30, item 1): text bombs before
and after the pixel data, more text than Pillow keeps in all, an ICC profile bomb, an unknown compression method;
and a PNG whose pixel data is broken, for a C2PA manifest to sit on (item 8).

A bomb's zlib stream is made without ever holding what it inflates to: one 1 MiB block of zeros, full-flushed so
that it repeats byte for byte, written as often as needed, then an empty final block and the Adler-32 checksum.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

MIB = 1 << 20
GIB = 1 << 30
MANY_TEXT_CHUNKS = 70  # of 1,000,000 characters each: 70,000,000 > PngImagePlugin.MAX_TEXT_MEMORY (64 MiB)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def plain_png(size: tuple[int, int] = (48, 40), seed: int = 0) -> bytes:
    """An RGB PNG of random pixels, as Pillow writes it (IHDR, IDAT, IEND)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def chunk_at(png: bytes, kind: bytes) -> tuple[int, int]:
    """(offset, data length) of the first `kind` chunk of `png`."""
    position = 8
    while position < len(png):
        length, found = struct.unpack(">I4s", png[position:position + 8])
        if found == kind:
            return position, length
        position += 12 + length
    raise ValueError(f"no {kind!r} chunk")


def with_chunks(png: bytes, chunks: bytes, before: bytes = b"IDAT") -> bytes:
    """`png` with `chunks` inserted before its first `before` chunk: IDAT puts them among the metadata Pillow reads
    when it opens the file, IEND after the pixel data (read when the pixels are loaded)."""
    at, _ = chunk_at(png, before)
    return png[:at] + chunks + png[at:]


@functools.cache
def zeros_deflated(size: int) -> bytes:
    """A valid zlib stream that inflates to `size` zero bytes (a whole number of MiB), about size / 1030 bytes long."""
    compressor = zlib.compressobj(9)
    first = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)  # the zlib header, then a block
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = ((size % 65521) << 16) | 1  # Adler-32 of `size` zero bytes
    return first + block * (size // MIB - 1) + b"\x03\x00" + struct.pack(">I", adler)


def ztxt(keyword: bytes, stream: bytes) -> bytes:
    return chunk(b"zTXt", keyword + b"\0\0" + stream)


def itxt(keyword: bytes, stream: bytes) -> bytes:
    """A compressed iTXt chunk (no language, no translated keyword)."""
    return chunk(b"iTXt", keyword + b"\0\x01\x00\0\0" + stream)


def text(keyword: bytes, value: bytes) -> bytes:
    return chunk(b"tEXt", keyword + b"\0" + value)


def ztxt_bomb(png: bytes) -> bytes:
    """A 1 MB zTXt `parameters` that inflates to 1 GiB, before the pixel data (Pillow refuses it in Image.open)."""
    return with_chunks(png, ztxt(b"parameters", zeros_deflated(GIB)), b"IDAT")


def itxt_bomb_after_pixels(png: bytes) -> bytes:
    """A 1 MB compressed iTXt `Description` that inflates to 1 GiB, after the pixel data (Pillow refuses it in
    load())."""
    return with_chunks(png, itxt(b"Description", zeros_deflated(GIB)), b"IEND")


def too_much_text(png: bytes, count: int = MANY_TEXT_CHUNKS) -> bytes:
    """`count` zTXt chunks of 1,000,000 characters each (1 kB compressed, each under MAX_TEXT_CHUNK), together over
    MAX_TEXT_MEMORY."""
    stream = zlib.compress(b"a" * 1_000_000, 9)
    return with_chunks(png, b"".join(ztxt(b"comment%d" % i, stream) for i in range(count)), b"IDAT")


def icc_bomb(png: bytes) -> bytes:
    """An iCCP profile that inflates to 64 MiB (over MAX_TEXT_CHUNK, which bounds ICC profiles too)."""
    return with_chunks(png, chunk(b"iCCP", b"bomb profile\0\0" + zeros_deflated(64 * MIB)), b"IDAT")


def unknown_compression(png: bytes) -> bytes:
    """A zTXt whose compression method is 1 (only 0, zlib, exists): Pillow refuses the file."""
    return with_chunks(png, chunk(b"zTXt", b"Comment\0\x01" + zlib.compress(b"hello")), b"IDAT")


def broken_pixels(png: bytes) -> bytes:
    """`png` with its pixel data replaced by bytes that are not a deflate stream (CRC kept right): Pillow opens the
    file and fails to decode its pixels."""
    at, length = chunk_at(png, b"IDAT")
    return png[:at] + chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 64) + png[at + 12 + length:]
