"""PNG metadata that Pillow refuses, left out so that the pixels still decode.

Pillow refuses a whole PNG for metadata it will not read: a zTXt, iTXt or iCCP chunk that inflates beyond
`PngImagePlugin.MAX_TEXT_CHUNK` (a decompression bomb: 1 MB that inflates to 1 GiB), text chunks that add up to
more than `MAX_TEXT_MEMORY`, or a zTXt or iCCP chunk with an unknown compression method. It raises from
`Image.open` for such a chunk before the pixel data (IDAT) and from `load()` for one after it. Those limits protect
memory and stay as they are (raising them would let a 1 MB file cost a gigabyte). Instead, when Pillow has refused
a PNG, `reopen_without_refused_metadata` walks the file's chunks (length, type, data, CRC), reading every chunk's
header but only metadata chunks' data, inflated a block at a time and never beyond the limit, and opens the file
again through a view of it without the chunks Pillow would refuse (nothing is copied). Each chunk left out is
recorded on the image (`skipped_chunks`), for the provenance column to say so. A PNG that Pillow reads is never
walked: the decoder's fast path pays nothing.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_KINDS = (b"tEXt", b"zTXt", b"iTXt")
ICC_KIND = b"iCCP"
# Why a chunk was left out: it inflates to MAX_TEXT_CHUNK or more; with the text kept before it, it would pass
# MAX_TEXT_MEMORY; Pillow refuses it outright (a compression method that is not zlib's, an iCCP it cannot parse).
OVER_CHUNK_LIMIT, OVER_TEXT_TOTAL, UNKNOWN_COMPRESSION = "chunk limit", "text total", "unknown compression"
_BLOCK = 64 * 1024  # compressed bytes read at a time
_NAME = 100  # bytes of a keyword kept to name its chunk (a finding's detail holds 80 characters)
_SKIPPED = "imgcheck_skipped_chunks"  # the image attribute that lists what was left out


@dataclass(frozen=True)
class SkippedChunk:
    """One metadata chunk left out of a PNG: its type (`zTXt`), its keyword or ICC profile name, and why (one of
    OVER_CHUNK_LIMIT, OVER_TEXT_TOTAL, UNKNOWN_COMPRESSION)."""

    kind: str
    keyword: str
    reason: str


def skipped_chunks(img: Image.Image) -> tuple[SkippedChunk, ...]:
    """The metadata chunks left out when `img` was opened (by `reopen_without_refused_metadata`); () for others."""
    return getattr(img, _SKIPPED, ())


def reopen_without_refused_metadata(stream: BinaryIO) -> Image.Image | None:
    """The PNG in `stream` opened again (not loaded) without the metadata chunks Pillow refuses, which
    `skipped_chunks` of the image lists; None when `stream` is not a seekable PNG or holds no such chunk (whatever
    Pillow refused it for, then, stands). Raises what `Image.open` raises for the rest of the file."""
    try:
        if not stream.seekable():
            return None
        cuts = refused_metadata(stream)
    except (OSError, ValueError):
        return None
    if not cuts:
        return None
    img = Image.open(StreamWithout(stream, [(start, end) for start, end, _ in cuts]), formats=("PNG",))
    setattr(img, _SKIPPED, tuple(chunk for _, _, chunk in cuts))
    return img


def refused_metadata(stream: BinaryIO) -> list[tuple[int, int, SkippedChunk]]:
    """The chunks of the PNG in seekable `stream` that Pillow would refuse to read, each with its byte range (from
    its length field to the end of its CRC) and why; [] for a file that is not a PNG. Text chunks are counted
    against MAX_TEXT_MEMORY in file order, as Pillow counts them, the ones left out not counted; a chunk at the
    limit counts as over it. Memory: one block of compressed data and at most MAX_TEXT_CHUNK bytes of its output at
    a time, whatever a chunk inflates to."""
    chunk_limit, memory_limit = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    stream.seek(0)
    if stream.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
        return []
    found = []
    text_total = 0
    position = len(PNG_SIGNATURE)
    while True:
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8 or header[4:] == b"IEND":
            break
        length, kind = struct.unpack(">I", header[:4])[0], header[4:]
        end = position + 8 + length + 4
        if kind in TEXT_KINDS or kind == ICC_KIND:
            keyword, size = _metadata_size(stream, kind, position + 8, length, chunk_limit)
            reason = (OVER_CHUNK_LIMIT if size is None else UNKNOWN_COMPRESSION if size < 0
                      else OVER_TEXT_TOTAL if kind != ICC_KIND and text_total + size > memory_limit else None)
            if reason is None:
                text_total += size if kind != ICC_KIND else 0
            else:
                found.append((position, end, SkippedChunk(kind.decode("latin-1"), keyword, reason)))
        position = end
    return found


def _metadata_size(stream: BinaryIO, kind: bytes, start: int, length: int, limit: int) -> tuple[str, int | None]:
    """(keyword, size) of the metadata chunk whose `length` bytes of data start at `start`, its fields split as
    Pillow splits them: the size Pillow would keep (0 when it keeps nothing), None when its data inflates to `limit`
    or more, -1 when Pillow refuses it outright (a compression method that is not zlib's, an iCCP it cannot parse)."""
    end = start + length
    nul = _nul_between(stream, start, end)
    stream.seek(start)
    name = stream.read(min((end if nul is None else nul) - start, _NAME)).decode("latin-1")
    if nul is None:  # the keyword runs to the end: Pillow keeps no text (and refuses such an iCCP)
        return name, -1 if kind == ICC_KIND else 0
    if kind == b"tEXt":
        return name, end - nul - 1
    stream.seek(nul + 1)
    if kind == b"iTXt":
        flags = stream.read(2) if end - nul - 1 >= 2 else b""
        if len(flags) < 2:
            return name, 0
        compressed, method = flags
        language = _nul_between(stream, nul + 3, end)
        translated = None if language is None else _nul_between(stream, language + 1, end)
        if translated is None:  # malformed: Pillow keeps no text
            return name, 0
        data = translated + 1
        if not compressed:
            return name, end - data
        if method != 0:  # Pillow skips an iTXt with an unknown method
            return name, 0
    else:  # zTXt, iCCP: the compression method byte follows the keyword
        method = stream.read(1) if nul + 1 < end else b""
        if not method:
            return name, -1 if kind == ICC_KIND else 0
        if method[0] != 0:
            return name, -1
        data = nul + 2
    stream.seek(data)
    return name, _inflated_size(stream, end - data, limit)


def _nul_between(stream: BinaryIO, start: int, end: int) -> int | None:
    """Where the first NUL byte of the stream's bytes [start, end) is, or None; read a block at a time."""
    position = start
    while position < end:
        stream.seek(position)
        block = stream.read(min(_BLOCK, end - position))
        if not block:
            return None
        found = block.find(b"\0")
        if found >= 0:
            return position + found
        position += len(block)
    return None


def _inflated_size(stream: BinaryIO, count: int, limit: int) -> int | None:
    """How many bytes the `count` bytes of zlib data at the stream's position inflate to; None at `limit` or more
    (inflating stops there), 0 for damaged data (Pillow keeps no text for it)."""
    inflater = zlib.decompressobj()
    total = 0
    while count > 0 and not inflater.eof:
        data = stream.read(min(_BLOCK, count))
        if not data:
            break
        count -= len(data)
        try:
            while data:
                total += len(inflater.decompress(data, limit - total))
                if total >= limit:
                    return None
                data = inflater.unconsumed_tail
        except zlib.error:
            return 0
    return total


class StreamWithout(io.RawIOBase):
    """A read-only, seekable view of `stream` with the byte ranges `cuts` (start, end) left out; the stream itself
    is neither copied nor closed."""

    def __init__(self, stream: BinaryIO, cuts: list[tuple[int, int]]) -> None:
        super().__init__()
        size = stream.seek(0, os.SEEK_END)
        self._stream = stream
        self._starts: list[int] = []  # where each kept part starts in the view
        self._parts: list[tuple[int, int]] = []  # (start in the stream, length) of each kept part
        kept = real = 0
        for start, end in sorted(cuts) + [(size, size)]:
            start = min(start, size)
            if start > real:
                self._starts.append(kept)
                self._parts.append((real, start - real))
                kept += start - real
            real = max(real, min(end, size))
        self._size = kept
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self._size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            start, length = self._parts[index]
            offset = self._position - self._starts[index]
            self._stream.seek(start + offset)
            data = self._stream.read(min(len(view) - done, length - offset))
            if not data:
                break
            view[done:done + len(data)] = data
            done += len(data)
            self._position += len(data)
        return done
