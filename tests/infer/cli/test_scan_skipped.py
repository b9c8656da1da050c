"""Nothing skipped silently: every format Pillow reads gets a verdict, and the files inside folders that are not
images are counted by suffix in the summary and the sidecar, and named with --list-skipped."""

import csv
import json
import os

from PIL import Image

from imgcheck.infer.cli.root import cli
from pillow_formats import write_every_format


def test_every_pillow_format_is_scanned_and_the_skipped_are_counted(runner, tiny_files, tmp_path):
    root = tmp_path / "collection"
    images = write_every_format(root)
    (root / "a.txt").write_text("notes")
    (root / "deeper").mkdir()
    (root / "deeper" / "b.txt").write_text("more notes")
    Image.new("RGB", (8, 8)).save(root / "deeper" / "c.pdf")
    out, listed = tmp_path / "v.csv", tmp_path / "skipped.txt"
    result = runner.invoke(cli, ["scan", str(root), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--workers", "0", "--list-skipped", str(listed)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["path"] for r in rows) == sorted(images) and {r["verdict"] for r in rows} <= {"REAL", "FAKE"}
    sizes = {os.path.basename(r["path"]): (r["width"], r["height"]) for r in rows}
    assert sizes["image.png"] == sizes["image.qoi"] == sizes["image.sgi"] == ("40", "30")  # icons store their own
    assert all(w.isdigit() and h.isdigit() for w, h in sizes.values())
    assert "skipped" in result.stderr and "3 not images: .txt 2, .pdf 1" in result.stderr
    assert json.loads((tmp_path / "v.csv.json").read_text())["skipped"] == {".txt": 2, ".pdf": 1}
    assert sorted(os.path.relpath(p, root) for p in listed.read_text().splitlines()) == [
        "a.txt", "deeper/b.txt", "deeper/c.pdf"]


def test_an_unwritable_skip_list_is_one_clear_error(runner, tiny_files, tmp_path):
    (tmp_path / "imgs").mkdir()
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv"), "--workers", "0", "--list-skipped",
                                 str(tmp_path / "missing" / "s.txt")])
    assert result.exit_code == 1 and "cannot write --list-skipped" in result.output and "Traceback" not in result.output
