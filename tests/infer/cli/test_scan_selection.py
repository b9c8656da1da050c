"""Which files a scan reads: folders (recursive or not), globs, --include/--exclude, --files-from, and files without
an image suffix chosen by their magic bytes."""

import csv
import io
import os

import pytest
from PIL import Image

from imgcheck.infer.cli.root import cli
from synthetic_data import gray_image


@pytest.fixture
def tree(tmp_path):
    """root/a.png, root/b.jpg, root/notes.txt, root/IMG_0001 (a JPEG without suffix), root/blob (text without
    suffix), root/sub/c.png, root/sub/deeper/d.webp, root/sub/skip_me.png."""
    root = tmp_path / "root"
    gray_image(root / "a.png", 10)
    Image.new("RGB", (32, 32), "red").save(root / "b.jpg")
    (root / "notes.txt").write_text("not an image")
    Image.new("RGB", (32, 32), "blue").save(root / "IMG_0001", format="JPEG")
    (root / "blob").write_text("no suffix, no image")
    gray_image(root / "sub" / "c.png", 20)
    (root / "sub" / "deeper").mkdir()
    Image.new("RGB", (32, 32), "green").save(root / "sub" / "deeper" / "d.webp")
    gray_image(root / "sub" / "skip_me.png", 30)
    return root


def _scanned(runner, tiny_files, tmp_path, *args, input=None, exit_code=0):
    out = tmp_path / "v.csv"  # each scan replaces the last one's (--force)
    result = runner.invoke(cli, ["scan", *map(str, args), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--force", "--workers", "0", "--quiet"], input=input)
    assert result.exit_code == exit_code, result.output
    rows = list(csv.reader(io.StringIO(out.read_text())))[1:]
    return [os.path.relpath(row[0], tmp_path) for row in rows]


def test_a_folder_is_walked_recursively_in_order_and_magic_bytes_pick_suffixless_images(runner, tiny_files, tmp_path,
                                                                                        tree):
    assert _scanned(runner, tiny_files, tmp_path, tree) == [
        "root/IMG_0001", "root/a.png", "root/b.jpg", "root/sub/c.png", "root/sub/skip_me.png",
        "root/sub/deeper/d.webp"]


def test_no_recursive_stays_in_the_folder(runner, tiny_files, tmp_path, tree):
    assert _scanned(runner, tiny_files, tmp_path, tree, "--no-recursive") == [
        "root/IMG_0001", "root/a.png", "root/b.jpg"]


def test_include_and_exclude_match_names_or_paths(runner, tiny_files, tmp_path, tree):
    assert _scanned(runner, tiny_files, tmp_path, tree, "--include", "*.png") == [
        "root/a.png", "root/sub/c.png", "root/sub/skip_me.png"]
    assert _scanned(runner, tiny_files, tmp_path, tree, "--include", "*.png", "--exclude", "skip_*") == [
        "root/a.png", "root/sub/c.png"]
    assert _scanned(runner, tiny_files, tmp_path, tree, "--exclude", "*/sub/*") == [
        "root/IMG_0001", "root/a.png", "root/b.jpg"]


def test_a_glob_pattern_is_expanded(runner, tiny_files, tmp_path, tree):
    assert _scanned(runner, tiny_files, tmp_path, f"{tree}/sub/*.png") == ["root/sub/c.png", "root/sub/skip_me.png"]


def test_files_from_stdin_and_files_named_explicitly_are_always_scanned(runner, tiny_files, tmp_path, tree):
    listed = f"{tree / 'sub' / 'c.png'}\n{tree / 'notes.txt'}\n\n{tree / 'a.png'}\n"
    paths = _scanned(runner, tiny_files, tmp_path, "--files-from", "-", input=listed, exit_code=3)
    assert paths == ["root/sub/c.png", "root/notes.txt", "root/a.png"]  # as listed; the text file: an ERROR row
    assert _scanned(runner, tiny_files, tmp_path, tree / "blob", exit_code=3) == ["root/blob"]
