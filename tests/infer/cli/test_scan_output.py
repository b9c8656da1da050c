"""Where scan rows go when things go wrong: a full disk, a missing folder, a device, hostile cell text."""

import json
import os
import resource
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.cli.root import cli
from imgcheck.infer.scan.verdict_formats import CsvFormat
from synthetic_data import noise_images

SCAN = [sys.executable, "-m", "imgcheck.infer", "scan"]


def _folder(root, count):
    return noise_images(root, count, (16, 16), "image_with_a_long_name_{:04d}.png")


def _decode(path):
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return CsvFormat().decode(fh.read())


def test_dev_full_is_a_clear_error_that_leaves_nothing_in_dev(runner, tiny_files, tmp_path):
    result = runner.invoke(cli, ["scan", str(_folder(tmp_path / "imgs", 3)), "--model", str(tiny_files["onnx"]),
                                 "--out", "/dev/full", "--workers", "0", "--quiet"])
    assert result.exit_code == 1
    assert "cannot write /dev/full: No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists("/dev/full.lock") and not os.path.exists("/dev/full.json")


def test_an_output_in_a_missing_folder_is_a_clear_error(runner, tiny_files, tmp_path):
    out = tmp_path / "no" / "such" / "folder" / "v.csv"
    result = runner.invoke(cli, ["scan", str(_folder(tmp_path / "imgs", 1)), "--model", str(tiny_files["onnx"]),
                                 "--out", str(out), "--workers", "0"])
    assert result.exit_code == 1
    assert f"the folder {out.parent} does not exist; create it or choose another --out" in result.stderr


def _limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes past it fail with EFBIG

    return apply


def test_a_disk_that_fills_up_keeps_whole_rows_and_resume_finishes(tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", 120)
    args = [str(folder), "--model", str(tiny_files["onnx"]), "--batch-size", "4", "--workers", "1", "--quiet"]
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    subprocess.run([*SCAN, *args, "--out", str(whole)], check=True)
    failed = subprocess.run([*SCAN, *args, "--out", str(cut)], capture_output=True, text=True,
                            preexec_fn=_limit_file_size(6000))
    assert failed.returncode == 1, failed.stderr
    assert "cannot write" in failed.stderr and "File too large" in failed.stderr
    assert "rerun with --resume" in failed.stderr and "Traceback" not in failed.stderr
    text = cut.read_text()
    kept = _decode(cut)
    assert text.endswith("\n") and 0 < len(kept) < 120 and len(kept) % 4 == 0, "whole batches, no torn row"
    assert f"The {len(kept):,} rows before this batch are complete" in failed.stderr
    subprocess.run([*SCAN, *args, "--out", str(cut), "--resume"], check=True)
    assert cut.read_bytes() == whole.read_bytes()


def test_a_full_tmpfs_fails_clearly_with_valid_rows(tiny_files, tmp_path):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare with user namespaces to mount a private tmpfs")
    folder = _folder(tmp_path / "imgs", 200)
    mount, copy = tmp_path / "tiny_disk", tmp_path / "copy.csv"
    mount.mkdir()
    scan = " ".join([*SCAN, str(folder), "--model", str(tiny_files["onnx"]), "--batch-size", "8", "--workers", "1",
                     "--quiet", "--out", str(mount / "v.csv")])
    script = (f"mount -t tmpfs -o size=12k tmpfs {mount} && "
              f"{{ {scan}; echo $? > {tmp_path}/rc; cp {mount}/v.csv {copy}; }}")
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                            capture_output=True, text=True)
    assert (tmp_path / "rc").read_text().strip() == "1", result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    kept = _decode(copy)
    assert copy.read_text().endswith("\n") and 0 < len(kept) < 200 and len(kept) % 8 == 0


def test_formula_cells_are_neutralised_and_resume_reads_either_mode(runner, tiny_files, tmp_path, monkeypatch):
    folder = tmp_path / "names"
    folder.mkdir()
    names = ["=HYPERLINK(1).png", "+1.png", "-x.png", "@cmd.png", "'quoted.png", "plain.png"]
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / name)
    monkeypatch.chdir(folder)
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    base = ["scan", "--files-from", str(tmp_path / "list.txt"), "--model", str(tiny_files["onnx"]), "--workers", "0",
            "--quiet"]
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert runner.invoke(cli, [*base, "--out", str(safe)]).exit_code == 0
    assert runner.invoke(cli, [*base, "--out", str(raw), "--no-csv-formula-escape"]).exit_code == 0
    safe_cells = [line.split(",")[0] for line in safe.read_text().splitlines()[1:]]
    raw_cells = [line.split(",")[0] for line in raw.read_text().splitlines()[1:]]
    assert raw_cells == names
    assert safe_cells == ["'" + n for n in names[:5]] + ["plain.png"]
    assert json.loads((tmp_path / "safe.csv.json").read_text())["csv_formula_escape"] is True
    assert json.loads((tmp_path / "raw.csv.json").read_text())["csv_formula_escape"] is False
    # resuming in the other mode decodes the kept rows as they were written and rewrites them in the new mode
    written = {"safe": safe.read_bytes(), "raw": raw.read_bytes()}
    for out, flag, expected in ((safe, "--no-csv-formula-escape", "raw"), (raw, "--csv-formula-escape", "safe")):
        result = runner.invoke(cli, [*base, "--out", str(out), "--resume", flag])
        assert result.exit_code == 0 and out.read_bytes() == written[expected]
        assert json.loads((tmp_path / f"{out.name}.json").read_text())["counts"]["resumed_rows"] == 6
