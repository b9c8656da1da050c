"""A generated corpus of bad and odd files, and what a scan must make of each (issue: Hardening).

`build_corpus(root)` writes every kind under `root` and returns the kinds; each says which files it made and
the expected outcome: a verdict (REAL or FAKE), an ERROR row whose reason contains a given text, or no row
at all (not a regular file found inside a folder, or a folder). The hardening table in docs/hardening.md lists the
same kinds.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

VERDICT = "verdict"  # a REAL or FAKE row with p_fake
NO_ROW = "no row"  # not scanned


@dataclass(frozen=True)
class Kind:
    """One kind of hostile input: `make(root)` writes it and returns the paths it made (bytes for odd names)."""

    name: str
    make: Callable[[Path], list[bytes]]
    expect: str  # VERDICT, NO_ROW, or a text the ERROR reason contains
    provenance: str | None = None  # what the provenance column must start with ('' for empty); None: not checked


def _pixels(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(path: Path, img: Image.Image, fmt: str, **options) -> list[bytes]:
    img.save(path, fmt, **options)
    return [os.fsencode(path)]


def _write(path: Path | bytes, data: bytes) -> list[bytes]:
    with open(path, "wb") as fh:
        fh.write(data)
    return [os.fsencode(path)]


def _jpeg_bytes(height: int = 64, width: int = 64, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_pixels(height, width, 1)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes, extra: bytes = b"",
         bad_crc: bytes = b"") -> bytes:
    """A PNG written by hand, for what Pillow's encoder will not produce (48-bit RGB, bad CRCs, lying sizes);
    `bad_crc` names the chunk (IHDR or IDAT) whose CRC is wrong."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)

    def crc(kind: bytes) -> int | None:
        return 0xDEADBEEF if kind == bad_crc else None

    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header, crc(b"IHDR")) + extra
            + _png_chunk(b"IDAT", zlib.compress(raw_rows), crc(b"IDAT")) + _png_chunk(b"IEND", b""))


def _rgb48_png(path: Path) -> list[bytes]:
    rows = np.random.default_rng(2).integers(0, 65536, (16, 16, 3), dtype=np.uint16).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return _write(path, _png(16, 16, 16, 2, raw))


def _bad_crc_png(chunk: bytes) -> Callable[[Path], list[bytes]]:
    raw = b"".join(b"\x00" + row.tobytes() for row in _pixels(16, 16, 3))
    return lambda path: _write(path, _png(16, 16, 8, 2, raw, bad_crc=chunk))


def _lying_size_png(path: Path) -> list[bytes]:
    """IHDR claims 100000 x 100000 pixels; the file is a few bytes."""
    return _write(path, _png(100_000, 100_000, 8, 2, b"\x00" * 64))


def _huge_exif_png(path: Path) -> list[bytes]:
    exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x00" + os.urandom(4 << 20)  # an empty IFD, then 4 MB of junk
    raw = b"".join(b"\x00" + row.tobytes() for row in _pixels(16, 16, 4))
    return _write(path, _png(16, 16, 8, 2, raw, extra=_png_chunk(b"eXIf", exif)))


def _huge_exif_jpeg(path: Path) -> list[bytes]:
    img = Image.fromarray(_pixels(32, 32, 5))
    exif = img.getexif()
    exif[0x010E] = "x" * 65_000  # ImageDescription: the largest EXIF block one JPEG segment holds
    exif[0x0112] = 6  # orientation: rotate
    return _save(path, img, "JPEG", exif=exif.tobytes())


def _huge_icc_jpeg(path: Path) -> list[bytes]:
    icc = b"\x00\x10\x00\x00not a real profile" + os.urandom(2 << 20)  # 2 MB, split over 32 APP2 segments
    return _save(path, Image.fromarray(_pixels(32, 32, 6)), "JPEG", icc_profile=icc)


C2PA_STORE_UUID = bytes.fromhex("6332706100110010800000aa00389b71")  # the JUMBF type of a C2PA manifest store


def _with_segment(marker: int, payload: bytes) -> bytes:
    """A JPEG with one extra marker segment (APPn) right after SOI."""
    data = _jpeg_bytes(32, 32)
    return data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _xmp_bomb_jpeg(path: Path) -> list[bytes]:
    """XMP that would expand to a gigabyte through nested entities (defusedxml refuses it)."""
    entities = '<!ENTITY a0 "' + "x" * 100 + '">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 8))
    xmp = (f'<?xml version="1.0"?><!DOCTYPE x [{entities}]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a7;'
           "</x:xmpmeta>").encode()
    return _write(path, _with_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp))


def _forged_c2pa_jpeg(path: Path) -> list[bytes]:
    """An APP11 segment that starts like a C2PA manifest store, then garbage: c2pa's Reader rejects it."""
    payload = (b"JP\x02\x11\x00\x00\x00\x01\x00\x00\x00\x30jumb\x00\x00\x00\x1ejumd" + C2PA_STORE_UUID
               + os.urandom(256))
    return _write(path, _with_segment(0xEB, payload))


def _text_png(chunks: dict[str, bytes]) -> Callable[[Path], list[bytes]]:
    raw = b"".join(b"\x00" + row.tobytes() for row in _pixels(16, 16, 10))
    extra = b"".join(_png_chunk(b"tEXt", key.encode() + b"\x00" + value) for key, value in chunks.items())
    return lambda path: _write(path, _png(16, 16, 8, 2, raw, extra=extra))


def _animated(path: Path, fmt: str) -> list[bytes]:
    frames = [Image.fromarray(_pixels(24, 24, seed)) for seed in range(4)]
    return _save(path, frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)


def _growing_file(path: Path) -> list[bytes]:
    """Starts as the first half of a PNG; `grow_files` appends the rest while the scan runs."""
    buffer = io.BytesIO()
    Image.fromarray(_pixels(512, 512, 7)).save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()
    _write(path.with_name(path.name + ".rest"), data[len(data) // 2:])
    return _write(path, data[: len(data) // 2])


def grow_files(root: Path, step: int = 4096) -> None:
    """Append each growing file's rest in small steps (run in a thread beside the scan)."""
    import time

    for rest in sorted(root.rglob("*.rest")):
        target, data = rest.with_name(rest.name[:-5]), rest.read_bytes()
        for offset in range(0, len(data), step):
            with open(target, "ab") as fh:
                fh.write(data[offset:offset + step])
            time.sleep(0.001)
        rest.unlink()


def _fifo(path: Path) -> list[bytes]:
    os.mkfifo(path)
    return [os.fsencode(path)]


def _symlink(target: str | Path, path: Path) -> list[bytes]:
    os.symlink(target, path)
    return [os.fsencode(path)]


def _symlink_loop(path: Path) -> list[bytes]:
    path.mkdir()
    os.symlink(path, path / "loop")
    return []


def _folder_named_like_an_image(path: Path) -> list[bytes]:
    path.mkdir()
    return []


def _odd_name(name: bytes) -> Callable[[Path], list[bytes]]:
    def make(root: Path) -> list[bytes]:
        path = os.fsencode(root) + b"/" + name
        buffer = io.BytesIO()
        Image.fromarray(_pixels(32, 32, 8)).save(buffer, "PNG")
        return _write(path, buffer.getvalue())

    return make


def _in(name: str, make: Callable[[Path], list[bytes]]) -> Callable[[Path], list[bytes]]:
    return lambda root: make(root / name)


KINDS: tuple[Kind, ...] = (
    Kind("ordinary PNG", _in("ordinary.png", lambda p: _save(p, Image.fromarray(_pixels(32, 32)), "PNG")), VERDICT),
    Kind("empty file", _in("empty.jpg", lambda p: _write(p, b"")), "empty file"),
    Kind("truncated JPEG", _in("truncated.jpg", lambda p: _write(p, _jpeg_bytes()[:600])), "truncated or corrupt"),
    Kind("JPEG cut after 20 bytes", _in("header_only.jpg", lambda p: _write(p, _jpeg_bytes()[:20])),
         "not an image format"),
    Kind("text with an image suffix", _in("text.jpg", lambda p: _write(p, b"this is not an image\n")),
         "not an image format"),
    Kind("PDF with an image suffix", _in("document.png", lambda p: _write(p, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n")),
         "not an image format"),
    Kind("4 MB of random bytes", _in("noise.jpg", lambda p: _write(p, os.urandom(4 << 20))), "not an image format"),
    Kind("decompression bomb (96 MP PNG, 12 kB)",
         _in("bomb.png", lambda p: _save(p, Image.new("1", (12_000, 8_000)), "PNG")), "image too large"),
    Kind("PNG header claiming 100000 x 100000", _in("lying_size.png", _lying_size_png), "image too large"),
    Kind("PNG with a bad header CRC", _in("bad_crc_header.png", _bad_crc_png(b"IHDR")), "not an image format"),
    # Pillow does not check the CRC of pixel data; the pixels themselves are intact, so the file is scanned.
    Kind("PNG with a bad pixel-data CRC", _in("bad_crc_pixels.png", _bad_crc_png(b"IDAT")), VERDICT),
    Kind("1 x 1 image", _in("one_pixel.png", lambda p: _save(p, Image.fromarray(_pixels(1, 1)), "PNG")), VERDICT),
    Kind("1 x 100000 image",
         _in("strip.png", lambda p: _save(p, Image.fromarray(_pixels(1, 100_000)), "PNG")), VERDICT),
    Kind("16-bit greyscale PNG", _in("grey16.png", lambda p: _save(
        p, Image.fromarray(np.random.default_rng(9).integers(0, 65536, (16, 16), dtype=np.uint16)), "PNG")),
        VERDICT),
    Kind("48-bit RGB PNG", _in("rgb48.png", _rgb48_png), VERDICT),
    Kind("CMYK JPEG", _in("cmyk.jpg", lambda p: _save(p, Image.fromarray(_pixels(32, 32)).convert("CMYK"), "JPEG")),
         VERDICT),
    Kind("progressive JPEG", _in("progressive.jpg", lambda p: _write(p, _jpeg_bytes(progressive=True))), VERDICT),
    Kind("animated GIF", _in("animated.gif", lambda p: _animated(p, "GIF")), VERDICT),
    Kind("animated WebP", _in("animated.webp", lambda p: _animated(p, "WEBP")), VERDICT),
    Kind("JPEG with a 65 kB EXIF block", _in("huge_exif.jpg", _huge_exif_jpeg), VERDICT),
    Kind("PNG with a 4 MB EXIF chunk", _in("huge_exif.png", _huge_exif_png), VERDICT),
    Kind("JPEG with a 2 MB ICC profile", _in("huge_icc.jpg", _huge_icc_jpeg), VERDICT),
    Kind("JPEG with an XMP entity bomb", _in("xmp_bomb.jpg", _xmp_bomb_jpeg), VERDICT, ""),
    Kind("JPEG with a forged C2PA segment", _in("forged_c2pa.jpg", _forged_c2pa_jpeg), VERDICT, "c2pa:invalid("),
    Kind("PNG with C2PA's magic bytes in a text chunk", _in("c2pa_decoy.png", _text_png(
        {"Comment": C2PA_STORE_UUID * 4})), VERDICT, ""),
    Kind("PNG with a 4 MB ComfyUI workflow", _in("huge_workflow.png", _text_png(
        {"workflow": b'{"nodes": [' + b'{"id": 1, "type": "KSampler"},' * 140_000 + b"{}]}"})), VERDICT,
        "png:ai-generated(ComfyUI)"),
    Kind("palette PNG with transparency", _in("palette.png", lambda p: _save(
        p, Image.fromarray(_pixels(16, 16)).convert("P"), "PNG", transparency=0)), VERDICT),
    Kind("file that grows while it is read", _in("growing.png", _growing_file), "either"),
    Kind("name with a newline", _odd_name(b"new\nline.png"), VERDICT),
    Kind("name that is not UTF-8", _odd_name(b"latin1-\xe9\xff.png"), VERDICT),
    Kind("name that starts a spreadsheet formula", _odd_name(b"=HYPERLINK(1).png"), VERDICT),
    Kind("FIFO with an image suffix", _in("pipe.jpg", _fifo), "not a regular file"),
    Kind("FIFO without a suffix", _in("pipe", _fifo), NO_ROW),
    Kind("link to /dev/zero", _in("zero.jpg", lambda p: _symlink("/dev/zero", p)), "not a regular file"),
    Kind("broken symlink", _in("broken_link.png", lambda p: _symlink(p.parent / "gone.png", p)), "file not found"),
    Kind("symlink loop between folders", _in("loop", _symlink_loop), NO_ROW),
    Kind("folder named like an image", _in("folder.jpg", _folder_named_like_an_image), NO_ROW),
)


def build_corpus(root: Path) -> dict[bytes, Kind]:
    """Write every kind under `root`; map each file that should get a row (as bytes) to its kind."""
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[bytes, Kind] = {}
    for kind in KINDS:
        for path in kind.make(root):
            if kind.expect != NO_ROW:
                expected[path] = kind
    return expected
