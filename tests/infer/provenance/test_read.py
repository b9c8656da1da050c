"""All findings of one image, in the column's order, from the image the decoder opened; a failing reader costs
nothing, and without c2pa-python the other sources are still read."""

import sys

import pytest
from PIL import Image

from imgcheck.infer.provenance import read
from imgcheck.infer.provenance.c2pa_manifest import c2pa_installed
from imgcheck.infer.provenance.read import read_provenance
from provenance_fixtures import AI_GENERATED, c2pa_signed, jpeg_bytes, jpeg_with_exif, jpeg_with_xmp, xmp_packet


def _with_exif_and_xmp(tmp_path):
    camera = jpeg_with_exif(tmp_path / "cam.jpg", make="Canon", model="Canon EOS R5")
    data = camera.read_bytes()
    path = jpeg_with_xmp(tmp_path / "both.jpg", xmp_packet(AI_GENERATED, "Adobe Firefly"))
    xmp = path.read_bytes()
    path.write_bytes(xmp[:xmp.index(b"\xff\xdb")] + data[2:data.index(b"\xff\xdb")] + xmp[xmp.index(b"\xff\xdb"):])
    return path


def test_findings_come_in_source_order(tmp_path):
    path = _with_exif_and_xmp(tmp_path)
    with Image.open(path) as img:
        img.load()
        assert read_provenance(img, str(path)) == "xmp:ai-generated(Adobe Firefly);exif:camera(Canon EOS R5)"


def test_a_reader_that_fails_costs_only_its_own_findings(tmp_path, monkeypatch):
    path = _with_exif_and_xmp(tmp_path)

    def broken(img):
        raise RuntimeError("hostile metadata")

    monkeypatch.setattr(read, "_xmp", broken)
    with Image.open(path) as img:
        assert read_provenance(img, str(path)) == "exif:camera(Canon EOS R5)"


def test_without_c2pa_python_the_other_sources_are_still_read(tmp_path, monkeypatch):
    pytest.importorskip("c2pa")
    signed = c2pa_signed(tmp_path / "signed.jpg", jpeg_bytes(), AI_GENERATED, "Gen")
    both = jpeg_with_xmp(tmp_path / "both.jpg", xmp_packet(AI_GENERATED, "Adobe Firefly"))
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now fails, as when it is not installed
    assert not c2pa_installed()
    with Image.open(signed) as img:
        assert read_provenance(img, str(signed)) == ""
    with Image.open(both) as img:
        assert read_provenance(img, str(both)) == "xmp:ai-generated(Adobe Firefly)"
