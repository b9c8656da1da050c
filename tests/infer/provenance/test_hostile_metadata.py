"""Metadata never costs a verdict, through `imgcheck scan` and `imgcheck.scan` (issue 30, items 1 and 8): PNGs whose
text Pillow refuses (a 1 GiB zTXt bomb before the pixels, an iTXt bomb after them, more text than Pillow keeps in
all) get the verdict of the same image without that text, with a `png:invalid(text over limit: ...)` note; a PNG
whose pixels are broken under a valid C2PA manifest gets an ERROR row that still carries the manifest's finding, and
a signed JPEG cut short an ERROR row with `c2pa:invalid(...)` (the manifest no longer matches the bytes)."""

import csv
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import imgcheck
from hostile_metadata import MANY_TEXT_CHUNKS, broken_pixels, itxt_bomb_after_pixels, plain_png, too_much_text, \
    ztxt_bomb
from imgcheck.infer.cli.root import cli
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.provenance.c2pa_manifest import c2pa_installed
from imgcheck.infer.provenance.read import read_unreadable
from imgcheck.infer.scan.pipeline import decode_chunk
from provenance_fixtures import AI_GENERATED, c2pa_signed, signer

FITS = 67  # chunks of 1,000,000 characters within PngImagePlugin.MAX_TEXT_MEMORY (64 MiB)
NOTES = {
    "ztxt_bomb.png": "png:invalid(text over limit: zTXt parameters)",
    "itxt_bomb.png": "png:invalid(text over limit: iTXt Description)",
    "too_much_text.png": f"png:invalid(text over limit: {MANY_TEXT_CHUNKS - FITS} chunks, first zTXt comment{FITS})",
}
ON_BROKEN_PIXELS = "c2pa:ai-generated(Test Diffusion 2, untrusted signer)"
needs_c2pa = pytest.mark.skipif(not c2pa_installed(), reason="c2pa-python is not installed")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The clean image, each bomb built on it, a PNG with broken pixels under a valid C2PA manifest (signed as it
    is: the manifest's hash covers the broken bytes) and a signed JPEG cut short in its pixel data; without
    c2pa-python, the same broken files unsigned."""
    root = tmp_path_factory.mktemp("hostile_metadata") / "images"
    root.mkdir()
    clean = plain_png()
    (root / "clean.png").write_bytes(clean)
    (root / "ztxt_bomb.png").write_bytes(ztxt_bomb(clean))
    (root / "itxt_bomb.png").write_bytes(itxt_bomb_after_pixels(clean))
    (root / "too_much_text.png").write_bytes(too_much_text(clean))
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    if c2pa_installed():
        key = signer()
        c2pa_signed(root / "broken_c2pa.png", broken_pixels(clean), AI_GENERATED, "Test Diffusion 2", mime="image/png",
                    signing=key)
        signed = c2pa_signed(root / "cut_c2pa.jpg", jpeg.getvalue(), AI_GENERATED, "Test Diffusion 2",
                             signing=key).read_bytes()
    else:
        (root / "broken_c2pa.png").write_bytes(broken_pixels(clean))
        signed = jpeg.getvalue()
    (root / "cut_c2pa.jpg").write_bytes(signed[:signed.rindex(b"\xff\xda") + 300])  # into the pixel data
    return root


def _check_rows(rows, same_p_fake):
    """`rows`: {file name: (p_fake, verdict, error, width, height, provenance)} as text or values."""
    clean = rows["clean.png"]
    assert clean[2] == "" and clean[5] == ""
    for name, note in NOTES.items():
        p_fake, verdict, error, width, height, provenance = rows[name]
        assert (verdict, error, provenance) == (clean[1], "", note), name
        assert same_p_fake(p_fake, clean[0]), name  # the pixels were scored as if the text were not there
        assert (width, height) == (clean[3], clean[4])
    p_fake, verdict, error, width, height, provenance = rows["broken_c2pa.png"]
    assert verdict == "ERROR" and error.startswith("truncated or corrupt image data")
    assert provenance == (ON_BROKEN_PIXELS if c2pa_installed() else "")
    assert not width and not height  # an ERROR row has no size ('' in the CSV, None from the API)
    p_fake, verdict, error, width, height, provenance = rows["cut_c2pa.jpg"]
    assert verdict == "ERROR" and error.startswith("truncated or corrupt image data")
    assert provenance.startswith("c2pa:invalid(") if c2pa_installed() else provenance == ""


def test_the_cli_scores_every_bomb_and_keeps_the_manifest_of_broken_pixels(runner, tiny_files, folder, tmp_path):
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--workers", "1"])  # decoded in a worker: the ERROR row's facts cross a process
    assert result.exit_code == 3, result.output  # the broken images' ERROR rows, and no other
    with open(out, newline="") as fh:
        rows = {os.path.basename(r["path"]): (r["p_fake"], r["verdict"], r["error"], r["width"], r["height"],
                                              r["provenance"]) for r in csv.DictReader(fh)}
    assert len(rows) == 6
    _check_rows(rows, str.__eq__)  # the same six decimals
    findings = json.loads((tmp_path / "v.csv.json").read_text())["provenance"]["findings"]
    assert findings["png:invalid"] == 3
    assert findings.get("c2pa:ai-generated") == (1 if c2pa_installed() else None)  # counted on its ERROR row
    assert findings.get("c2pa:invalid") == (1 if c2pa_installed() else None)


def test_the_api_scores_every_bomb_and_keeps_the_manifest_of_broken_pixels(tiny_files, folder):
    rows = {os.path.basename(r.path): (r.p_fake, r.verdict, r.error, r.width, r.height, r.provenance)
            for r in imgcheck.scan(folder, tiny_files["onnx"], workers=0)}
    assert len(rows) == 6
    _check_rows(rows, lambda p, q: p == pytest.approx(q, abs=1e-6))


def test_the_decode_loop_reads_an_unreadable_files_metadata_only_when_asked(folder):
    pre = Preprocessor.from_meta(ModelMeta(arch="t", input_size=(3, 16, 16), mean=(0, 0, 0), std=(1, 1, 1)))
    path = str(folder / "broken_c2pa.png")
    chunk = decode_chunk([path, str(folder / "clean.png")], pre, provenance=True)
    assert chunk.errors[0] and not chunk.errors[1]
    assert chunk.facts[0] == ((None, None, ON_BROKEN_PIXELS) if c2pa_installed() else None)
    assert chunk.facts[1] == (48, 40, "")
    assert decode_chunk([path], pre, provenance=False).facts == [None]  # --no-provenance reads nothing
    data = (folder / "broken_c2pa.png").read_bytes()
    assert decode_chunk([path], pre, True, source=lambda p: data).facts == chunk.facts[:1]  # a URI's bytes


@needs_c2pa
def test_a_manifest_is_read_even_where_pillow_cannot_open_the_file(tmp_path):
    signed = c2pa_signed(tmp_path / "signed.png", broken_pixels(plain_png()), AI_GENERATED, "Test Diffusion 2",
                         mime="image/png")
    data = bytearray(signed.read_bytes())
    data[12:16] = b"IHDX"  # the header chunk's type broken: Pillow cannot open the file at all
    (tmp_path / "unopenable.png").write_bytes(bytes(data))
    assert read_unreadable(str(tmp_path / "unopenable.png")).startswith("c2pa:")  # c2pa's own verdict on it


def test_reading_an_unreadable_file_never_blocks_or_raises(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert read_unreadable(str(fifo)) == ""  # refused unread: opening it to read would wait for a writer
    assert read_unreadable(str(tmp_path / "missing.png")) == ""
    assert read_unreadable(b"") == read_unreadable(b"not an image") == read_unreadable(object()) == ""
