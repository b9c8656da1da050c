"""What a folder walk scans: every format in Pillow's registry, and every other file handed to `on_skip`."""

import os

import pytest
from PIL import Image

from imgcheck.infer.image_files import NO_SUFFIX, has_image_suffix, image_suffixes, suffix_key
from imgcheck.infer.scan.discover import Selection, discover
from pillow_formats import write_every_format

def test_the_suffixes_are_pillows_registry_less_what_it_cannot_decode():
    suffixes = image_suffixes()
    for suffix in (".jpg", ".png", ".psd", ".jp2", ".j2k", ".qoi", ".sgi", ".pcx", ".icns", ".dds", ".tga", ".mpo",
                   ".fits", ".xbm", ".xpm", ".blp", ".ftc"):
        assert suffix in suffixes, suffix
    for suffix in (".pdf", ".palm", ".mpg", ".mpeg", ".eps", ".ps", ".h5", ".bufr", ".grib", ".wmf", ".txt"):
        assert suffix not in suffixes, suffix  # save-only, header-only, Ghostscript, stubs without a handler
    assert has_image_suffix("A.PSD") and not has_image_suffix("notes.txt")


def test_suffix_keys():
    assert suffix_key("a/B.TXT") == ".txt" and suffix_key("a/README") == NO_SUFFIX == suffix_key(".hidden")


def test_every_format_is_scanned_and_the_rest_reported_as_skipped(tmp_path):
    root = tmp_path / "pillow"
    images = write_every_format(root)
    (root / "notes.txt").write_text("a")
    (root / "sub").mkdir()
    (root / "sub" / "more.txt").write_text("b")
    Image.new("RGB", (8, 8)).save(root / "sub" / "doc.pdf")  # a format Pillow only writes
    (root / "sub" / "skip_me.png").write_bytes(b"")
    os.mkfifo(root / "pipe")  # never opened to sniff
    skipped = []
    found = list(discover([str(root)], Selection(exclude=("skip_me.png",)), skipped.append))
    assert sorted(found) == sorted(images) and len(images) >= 13
    # the excluded file is the user's choice, not a skip
    assert sorted(os.path.relpath(p, root) for p in skipped) == ["notes.txt", "pipe", "sub/doc.pdf", "sub/more.txt"]


@pytest.mark.parametrize("recursive", [True, False])
def test_without_a_sink_nothing_changes(tmp_path, recursive):
    write_every_format(tmp_path / "x")
    (tmp_path / "x" / "notes.txt").write_text("a")
    selection = Selection(recursive=recursive)
    skipped = []
    assert list(discover([str(tmp_path / "x")], selection)) == list(discover([str(tmp_path / "x")], selection,
                                                                             skipped.append))
    assert [os.path.basename(p) for p in skipped] == ["notes.txt"]
