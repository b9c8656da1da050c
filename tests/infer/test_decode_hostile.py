"""Metadata never costs the pixels (issue 30, item 1): a PNG that Pillow refuses for a text or ICC chunk over its
limits decodes to the same pixels as without the chunk, with the chunk listed as left out; memory stays bounded for
a 1 GiB text bomb; a PNG Pillow reads is never walked; a PNG broken in its pixels is still an error."""

import io
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from PIL import PngImagePlugin

from hostile_metadata import (GIB, MANY_TEXT_CHUNKS, broken_pixels, icc_bomb, itxt_bomb_after_pixels, plain_png,
                              text, too_much_text, unknown_compression, with_chunks, zeros_deflated, ztxt_bomb)
from imgcheck.infer import png_chunks
from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.png_chunks import (OVER_CHUNK_LIMIT, OVER_TEXT_TOTAL, UNKNOWN_COMPRESSION, SkippedChunk,
                                       StreamWithout)
from imgcheck.infer.preprocess import decode_image
from imgcheck.infer.provenance.read import read_provenance
from provenance_fixtures import A1111_PARAMETERS

CLEAN = plain_png()


def _decoded(data: bytes) -> tuple[np.ndarray, tuple[SkippedChunk, ...], str]:
    """The pixels, the chunks left out, and the provenance column the decoder's inspect callback reads."""
    seen = {}

    def inspect(img, size, stream):
        seen["skipped"] = png_chunks.skipped_chunks(img)
        seen["provenance"] = read_provenance(img, stream)

    pixels = np.asarray(decode_image(data, inspect=inspect))
    return pixels, seen["skipped"], seen["provenance"]


def test_the_bomb_streams_are_what_they_claim():
    stream = zeros_deflated(64 << 20)
    inflater = zlib.decompressobj()
    total = sum(len(inflater.decompress(stream[i:i + 4096])) for i in range(0, len(stream), 4096))
    assert total == 64 << 20 and inflater.eof and not inflater.unused_data  # valid, checksum included
    assert len(zeros_deflated(GIB)) < 1.1e6  # the 1 GiB bomb is a 1 MB chunk


@pytest.mark.parametrize("build, kind, keyword, reason, note", [
    (ztxt_bomb, "zTXt", "parameters", OVER_CHUNK_LIMIT, "png:invalid(text over limit: zTXt parameters)"),
    (itxt_bomb_after_pixels, "iTXt", "Description", OVER_CHUNK_LIMIT,
     "png:invalid(text over limit: iTXt Description)"),
    (icc_bomb, "iCCP", "bomb profile", OVER_CHUNK_LIMIT, "png:invalid(ICC profile over limit: iCCP bomb profile)"),
    (unknown_compression, "zTXt", "Comment", UNKNOWN_COMPRESSION, "png:invalid(unknown compression: zTXt Comment)"),
], ids=["ztxt-before-idat", "itxt-after-idat", "iccp", "unknown-method"])
def test_a_refused_chunk_is_left_out_and_the_pixels_decode(build, kind, keyword, reason, note):
    pixels, skipped, provenance = _decoded(build(CLEAN))
    assert np.array_equal(pixels, _decoded(CLEAN)[0])
    assert skipped == (SkippedChunk(kind, keyword, reason),)
    assert provenance == note


def test_text_beyond_the_total_keeps_what_fits_and_notes_the_rest():
    pixels, skipped, provenance = _decoded(too_much_text(CLEAN))
    assert np.array_equal(pixels, _decoded(CLEAN)[0])
    fits = PngImagePlugin.MAX_TEXT_MEMORY // 1_000_000  # 67 chunks of 1,000,000 characters fit in 64 MiB
    assert [c.keyword for c in skipped] == [f"comment{i}" for i in range(fits, MANY_TEXT_CHUNKS)]
    assert {c.reason for c in skipped} == {OVER_TEXT_TOTAL}
    assert provenance == f"png:invalid(text over limit: {MANY_TEXT_CHUNKS - fits} chunks, first zTXt comment{fits})"


def test_the_other_text_is_still_read():
    data = with_chunks(ztxt_bomb(CLEAN), text(b"parameters", A1111_PARAMETERS.encode()), b"IDAT")
    _, _, provenance = _decoded(data)
    assert provenance == "png:ai-generated(AUTOMATIC1111);png:invalid(text over limit: zTXt parameters)"


def test_a_path_and_a_stream_decode_the_same(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(itxt_bomb_after_pixels(CLEAN))
    expected = _decoded(CLEAN)[0]
    assert np.array_equal(np.asarray(decode_image(str(path))), expected)
    with open(path, "rb") as fh:
        assert np.array_equal(np.asarray(decode_image(fh)), expected)


def test_a_png_pillow_reads_is_never_walked(monkeypatch):
    def walked(stream):
        raise AssertionError("the fast path walked the chunks")

    monkeypatch.setattr(png_chunks, "refused_metadata", walked)
    data = with_chunks(CLEAN, text(b"Comment", b"x" * 100_000), b"IDAT")
    assert np.array_equal(np.asarray(decode_image(data)), _decoded(CLEAN)[0])


def test_broken_pixels_stay_an_error_even_with_a_bomb():
    with pytest.raises(ImageDecodeError, match="truncated or corrupt image data"):
        decode_image(broken_pixels(CLEAN))
    with pytest.raises(ImageDecodeError, match="truncated or corrupt image data"):
        decode_image(broken_pixels(ztxt_bomb(CLEAN)))


def test_a_stream_without_its_cuts_reads_and_seeks_like_the_bytes_left():
    data = bytes(range(256)) * 4
    cuts = [(10, 20), (15, 30), (500, 600), (1000, 2000)]
    expected = data[:10] + data[30:500] + data[600:1000]
    view = StreamWithout(io.BytesIO(data), cuts)
    assert view.read() == expected
    assert view.seek(5) == 5 and view.read(10) == expected[5:15]
    assert view.seek(-3, os.SEEK_END) == len(expected) - 3 and view.read(100) == expected[-3:]
    assert view.seek(2, os.SEEK_CUR) == len(expected) + 2 and view.read(4) == b""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status are Linux's")
def test_a_gigabyte_text_bomb_decodes_within_a_bounded_address_space(tmp_path):
    """The bomb is decoded, its provenance read, under an address-space limit 512 MiB above what the process holds
    once warmed up: inflating the chunk (1 GiB) would fail."""
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    before.write_bytes(ztxt_bomb(CLEAN))
    after.write_bytes(itxt_bomb_after_pixels(CLEAN))
    clean = tmp_path / "clean.png"
    clean.write_bytes(CLEAN)
    script = textwrap.dedent(f"""
        import resource
        from imgcheck.infer.preprocess import decode_image
        from imgcheck.infer.scan.image_facts import FactsProbe

        def decode(path):
            probe = FactsProbe(True)
            decode_image(path, inspect=probe)
            return probe.facts.provenance

        decode({str(clean)!r})  # every import and first-use cost paid before the limit
        with open("/proc/self/status") as fh:
            held = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (held + (512 << 20), held + (512 << 20)))
        try:
            bytearray(1 << 30)
        except MemoryError:
            print("limit holds")
        print(decode({str(before)!r}))
        print(decode({str(after)!r}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["limit holds", "png:invalid(text over limit: zTXt parameters)",
                                          "png:invalid(text over limit: iTXt Description)"]
