"""`imgcheck scan` reads provenance by default: every fixture kind in one folder (C2PA signed in the test with a
throwaway chain, XMP, PNG text, EXIF, a plain JPEG), the summary's counts per claim, the sidecar's counts and
library versions, --no-provenance, JSONL, decoding workers, a missing c2pa-python, and --resume's guard."""

import csv
import json
import os
import sys

import pytest

from imgcheck.infer.cli.root import cli
from provenance_fixtures import (A1111_PARAMETERS, AI_GENERATED, CAPTURE, COMFYUI_PROMPT, COMFYUI_WORKFLOW,
                                 a1111_user_comment, c2pa_signed, jpeg_bytes, jpeg_with_exif, jpeg_with_xmp,
                                 png_with_text, signer, tamper_pixels, xmp_packet)

pytest.importorskip("c2pa")

EXPECTED = {
    "c2pa_ai.jpg": "c2pa:ai-generated(Test Diffusion 2, untrusted signer)",
    "c2pa_camera.jpg": "c2pa:camera(Test Camera, untrusted signer)",
    "c2pa_tampered.jpg": "c2pa:invalid(assertion.dataHash.mismatch)",
    "xmp.jpg": "xmp:ai-generated(Adobe Firefly)",
    "a1111.png": "png:ai-generated(AUTOMATIC1111)",
    "comfyui.png": "png:ai-generated(ComfyUI)",
    "a1111.jpg": "exif:ai-generated(AUTOMATIC1111)",
    "software.jpg": "exif:ai-generated(Midjourney v6)",
    "camera.jpg": "exif:camera(Canon EOS 5D Mark IV)",
    "plain.jpg": "",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance") / "photos"
    key = signer()
    c2pa_signed(root / "c2pa_ai.jpg", jpeg_bytes(), AI_GENERATED, "Test Diffusion 2", signing=key)
    c2pa_signed(root / "c2pa_camera.jpg", jpeg_bytes(), CAPTURE, "Test Camera", signing=key)
    tamper_pixels(c2pa_signed(root / "c2pa_tampered.jpg", jpeg_bytes((128, 96), (90, 90, 90)), AI_GENERATED,
                              "Test Diffusion 2", signing=key))
    jpeg_with_xmp(root / "xmp.jpg", xmp_packet(AI_GENERATED, "Adobe Firefly"))
    png_with_text(root / "a1111.png", {"parameters": A1111_PARAMETERS})
    png_with_text(root / "comfyui.png", {"prompt": COMFYUI_PROMPT, "workflow": COMFYUI_WORKFLOW})
    jpeg_with_exif(root / "a1111.jpg", user_comment=a1111_user_comment())
    jpeg_with_exif(root / "software.jpg", software="Midjourney v6")
    jpeg_with_exif(root / "camera.jpg", make="Canon", model="Canon EOS 5D Mark IV")
    (root / "plain.jpg").write_bytes(jpeg_bytes())
    return root


def _scan(runner, tiny_files, folder, out, *extra):
    return runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                               "--workers", "0", *extra])


def _column(out):
    with open(out, newline="") as fh:
        return {os.path.basename(r["path"]): r for r in csv.DictReader(fh)}


def test_every_source_and_claim_is_in_the_provenance_column(runner, tiny_files, folder, tmp_path):
    out = tmp_path / "v.csv"
    result = _scan(runner, tiny_files, folder, out)
    assert result.exit_code == 0, result.output
    rows = _column(out)
    assert {name: row["provenance"] for name, row in rows.items()} == EXPECTED
    assert all(row["verdict"] in ("REAL", "FAKE") for row in rows.values())  # the pixel verdict stays the model's
    assert (rows["c2pa_tampered.jpg"]["width"], rows["c2pa_tampered.jpg"]["height"]) == ("128", "96")
    assert "ai-generated 6, camera 2, invalid 1" in result.stderr  # files per claim, in the summary
    record = json.loads((tmp_path / "v.csv.json").read_text())["provenance"]
    assert record["checked"] and record["files_with_findings"] == 9
    assert record["claims"] == {"ai-generated": 6, "ai-edited": 0, "camera": 2, "invalid": 1}
    assert record["findings"]["c2pa:ai-generated"] == 1 and record["findings"]["png:ai-generated"] == 2
    assert record["libraries"]["c2pa-python"] and record["libraries"]["pillow"] and record["libraries"]["defusedxml"]
    assert "untrusted signer" in record["c2pa"]


def test_decoding_workers_and_jsonl_give_the_same_findings(runner, tiny_files, folder, tmp_path):
    out = tmp_path / "v.jsonl"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {os.path.basename(d["path"]): d["provenance"] for d in lines} == EXPECTED
    assert all(isinstance(d["width"], int) for d in lines)


def test_no_provenance_leaves_the_column_empty_and_says_so(runner, tiny_files, folder, tmp_path):
    out = tmp_path / "v.csv"
    result = _scan(runner, tiny_files, folder, out, "--no-provenance")
    assert result.exit_code == 0, result.output
    assert {row["provenance"] for row in _column(out).values()} == {""}
    assert {row["width"] for row in _column(out).values()} >= {"64", "128"}  # sizes are always read
    assert "not checked (--no-provenance)" in result.stderr
    assert json.loads((tmp_path / "v.csv.json").read_text())["provenance"]["checked"] is False
    resumed = _scan(runner, tiny_files, folder, out, "--resume")
    assert resumed.exit_code == 1 and "scanned with provenance off" in resumed.output
    assert "Traceback" not in resumed.output


def test_without_c2pa_python_the_scan_says_so_once_and_reads_the_rest(runner, tiny_files, folder, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # as if c2pa-python were not installed
    out = tmp_path / "v.csv"
    result = _scan(runner, tiny_files, folder, out)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("C2PA skipped") == 1
    found = {name: row["provenance"] for name, row in _column(out).items()}
    assert found == {**EXPECTED, "c2pa_ai.jpg": "", "c2pa_camera.jpg": "", "c2pa_tampered.jpg": ""}
    record = json.loads((tmp_path / "v.csv.json").read_text())["provenance"]
    assert record["c2pa"] == "not checked: c2pa-python is not installed"
