import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.runtime.onnx import CPU, CUDA, providers_for
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.runtime import load_backend
from imgcheck.infer.scan.verdict_formats import FIELDS, CsvFormat, JsonlFormat, Row

SCAN = [sys.executable, "-m", "imgcheck.infer", "scan"]


def _image(path, size=(32, 32), seed=0, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _folder(root, count=12):
    for i in range(count):
        _image(root / ("REAL" if i % 2 else "FAKE") / f"img_{i:03d}.png", seed=i)
    return root


def _read_csv(path):
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return list(csv.reader(fh))


def test_scan_writes_one_row_per_image_and_a_sidecar(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs")
    (folder / "notes.txt").write_text("not scanned")
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    rows = _read_csv(out)
    assert tuple(rows[0]) == FIELDS and len(rows) == 13
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])  # FAKE/ before REAL/, names sorted
    for path, p_fake, verdict, error, width, height, provenance, domain in rows[1:]:
        assert len(p_fake.split(".")[1]) == 6 and error == ""
        assert verdict == ("FAKE" if float(p_fake) >= 0.42 else "REAL")  # the model's own threshold
        assert (width, height, provenance) == ("32", "32", "")  # the stored size; plain PNGs claim nothing
        assert domain == "ok"  # the model's own input size
    side = json.loads((tmp_path / "v.csv.json").read_text())
    assert side["counts"]["files"] == 12 and side["counts"]["ERROR"] == 0
    assert side["skipped"] == {".txt": 1} and "skipped" in result.stderr and ".txt 1" in result.stderr
    assert side["provider"] == CPU and side["threshold"] == 0.42 and len(side["model"]["sha256"]) == 64
    assert side["model"]["meta"]["arch"] == "tiny" and side["images_per_s"] > 0
    assert not (tmp_path / "v.csv.lock").exists()


def _bad_corpus(root):
    """Every kind of bad input the scan must survive, and the reason each one gets."""
    root.mkdir()
    _image(root / "good.png")
    (root / "empty.jpg").write_bytes(b"")
    data = (root / "good.png").read_bytes()
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    (root / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (root / "text.jpg").write_text("this is not an image")
    (root / "document.png").write_bytes(b"%PDF-1.4\n% a pdf with an image suffix")
    bomb = io.BytesIO()
    Image.new("1", (12_000, 8_000)).save(bomb, "PNG")  # 96 MP, a few kB on disk
    (root / "bomb.png").write_bytes(bomb.getvalue())
    os.symlink(root / "gone.png", root / "broken_link.png")
    (root / "sub").mkdir()
    os.symlink(root, root / "sub" / "loop")  # a directory symlink loop
    del data
    return {
        "good.png": "", "empty.jpg": "empty file", "truncated.jpg": "truncated or corrupt",
        "text.jpg": "not an image format", "document.png": "not an image format", "bomb.png": "image too large",
        "broken_link.png": "file not found",
    }


def test_bad_inputs_become_error_rows_and_the_scan_goes_on(runner, tiny_files, tmp_path):
    expected = _bad_corpus(tmp_path / "bad")
    out = tmp_path / "v.csv"
    missing = tmp_path / "deleted_after_listing.png"
    files_from = tmp_path / "list.txt"
    files_from.write_text(f"{missing}\n")
    result = runner.invoke(cli, ["scan", str(tmp_path / "bad"), "--files-from", str(files_from), "--model",
                                 str(tiny_files["onnx"]), "--out", str(out), "--workers", "0"])
    assert result.exit_code == 3, result.output
    rows = {os.path.basename(r[0]): r for r in _read_csv(out)[1:]}
    expected["deleted_after_listing.png"] = "file not found"
    assert set(rows) == set(expected)  # the loop is walked once, nothing twice
    for name, reason in expected.items():
        path, p_fake, verdict, error, width, height, provenance, domain = rows[name]
        if reason:
            assert verdict == "ERROR" and p_fake == "" and reason in error and "\n" not in error, name
            assert width == height == provenance == domain == ""
        else:
            assert verdict in ("REAL", "FAKE") and error == ""
    assert json.loads((tmp_path / "v.csv.json").read_text())["counts"]["ERROR"] == 7
    strict = runner.invoke(cli, ["scan", str(tmp_path / "bad"), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "s.csv"), "--workers", "0", "--strict", "--quiet"])
    assert strict.exit_code == 1


def test_permission_denied_is_an_error_row(tmp_path, monkeypatch):
    from imgcheck.infer.errors import ImageDecodeError
    from imgcheck.infer.preprocess import decode_image

    path = _image(tmp_path / "locked.png")  # chmod 000 does not stop root, so the refusal is simulated
    real_open = os.open

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("imgcheck.infer.regular_files.os.open", guarded_open)
    with pytest.raises(ImageDecodeError, match="permission denied"):
        decode_image(path)


def test_hostile_names_round_trip_through_csv_and_jsonl(runner, tiny_files, tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    names = ["a,b.png", 'quote"d.png', "new\nline.png", "=SUM(A1).png"]
    for i, name in enumerate(names):
        _image(folder / name, seed=i)
    raw = os.fsencode(folder) + b"/bad-\xff\xfe.png"
    with open(raw, "wb") as fh:
        fh.write((folder / names[0]).read_bytes())
    expected = sorted([str(folder / n) for n in names] + [os.fsdecode(raw)])
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"v.{fmt}"
        result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                     "--workers", "0", "--quiet"])
        assert result.exit_code == 0, result.output
        with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            rows = (CsvFormat() if fmt == "csv" else JsonlFormat()).decode(fh.read())
        assert sorted(r.path for r in rows) == expected
        assert all(os.path.exists(os.fsencode(r.path)) for r in rows)


def test_onnx_and_torchscript_give_the_same_verdicts(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs")
    results = {}
    for carrier in ("onnx", "torchscript"):
        out = tmp_path / f"{carrier}.csv"
        assert runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files[carrier]), "--out", str(out),
                                   "--workers", "0", "--quiet"]).exit_code == 0
        results[carrier] = _read_csv(out)[1:]
    assert len(results["onnx"]) == len(results["torchscript"]) == 12
    for a, b in zip(results["onnx"], results["torchscript"], strict=True):
        assert a[0] == b[0] and a[2] == b[2] and abs(float(a[1]) - float(b[1])) <= 1e-4


def test_order_is_deterministic_and_workers_change_nothing(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", count=40)
    outputs = []
    for workers in ("0", "2", "2"):
        out = tmp_path / f"v{len(outputs)}.csv"
        assert runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                   "--workers", workers, "--batch-size", "7", "--quiet"]).exit_code == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_stdout_output_and_threshold_override(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", count=4)
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", "-",
                                 "--threshold", "0", "--workers", "0", "--quiet"])
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(FIELDS) and {r[2] for r in rows[1:]} == {"FAKE"}


def test_usage_errors(runner, tiny_files, tmp_path):
    assert runner.invoke(cli, ["scan", "--model", str(tiny_files["onnx"])]).exit_code == 2
    bad_model = tmp_path / "m.onnx"
    bad_model.write_text("nope")
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(bad_model), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "not a valid ONNX model" in result.stderr


def test_provider_choice():
    assert providers_for("auto", [CPU]) == [CPU]
    assert providers_for("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert providers_for("cpu", [CUDA, CPU]) == [CPU]
    assert providers_for("cuda", [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(ImgcheckError, match="--device cuda: this onnxruntime has no CUDA provider"):
        providers_for("cuda", [CPU])


def test_device_cuda_without_cuda_is_a_clear_error(runner, tiny_files, tmp_path):
    import onnxruntime

    if CUDA in onnxruntime.get_available_providers():
        pytest.skip("this machine's onnxruntime has CUDA")
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(tiny_files["onnx"]), "--device", "cuda"])
    assert result.exit_code == 1 and "no CUDA provider" in result.stderr


def test_a_live_lock_refuses_and_a_stale_one_does_not(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", count=2)
    out = tmp_path / "v.csv"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from imgcheck.infer.scan.output import output_lock\n"
                               "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
                               str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # another scan, writing v.csv
        result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out)])
        assert result.exit_code == 1 and f"another imgcheck scan (pid {holder.pid}) is writing" in result.stderr
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, and the kernel lets go of the lock
        holder.wait()
    assert (tmp_path / "v.csv.lock").exists()
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out), "--resume",
                                 "--workers", "0", "--quiet"])  # the lock's owner is dead now
    assert result.exit_code == 0 and len(_read_csv(out)) == 3


def test_resume_repairs_a_torn_row(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", count=10)
    whole, torn = tmp_path / "whole.csv", tmp_path / "torn.csv"
    args = ["--model", str(tiny_files["onnx"]), "--workers", "0", "--quiet"]
    assert runner.invoke(cli, ["scan", str(folder), "--out", str(whole), *args]).exit_code == 0
    text = whole.read_text()
    torn.write_text(text[: text.index("\n", len(text) // 2) + 9])  # cut inside a row
    assert runner.invoke(cli, ["scan", str(folder), "--out", str(torn), "--resume", *args]).exit_code == 0
    assert torn.read_bytes() == whole.read_bytes()
    assert json.loads((tmp_path / "torn.csv.json").read_text())["counts"]["resumed_rows"] >= 4


def test_killed_scan_resumes_to_the_uninterrupted_result(tiny_files, tmp_path):
    folder = tmp_path / "many"
    for i in range(600):
        _image(folder / f"{i // 100}" / f"{i:04d}.png", size=(64, 64), seed=i)
    args = [str(folder), "--model", str(tiny_files["onnx"]), "--batch-size", "8", "--workers", "1", "--quiet"]
    whole, killed = tmp_path / "whole.csv", tmp_path / "killed.csv"
    subprocess.run([*SCAN, *args, "--out", str(whole)], check=True)
    process = subprocess.Popen([*SCAN, *args, "--out", str(killed)])
    deadline = time.time() + 60
    while time.time() < deadline and (not killed.exists() or killed.read_text().count("\n") < 100):
        time.sleep(0.02)
    workers = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert workers, "the scan decodes in a worker process"
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
        time.sleep(0.05)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}") and _state(pid) != "Z"], \
        "decoding workers must not outlive a killed scan"
    partial = killed.read_text().count("\n")
    assert 1 < partial < 601, "the kill must land mid-scan"
    assert (tmp_path / "killed.csv.lock").exists()  # left behind by the killed process
    subprocess.run([*SCAN, *args, "--out", str(killed), "--resume"], check=True)
    assert killed.read_bytes() == whole.read_bytes()


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(child) for child in fh.read().split()]


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_jsonl_rows_have_the_same_fields(runner, tiny_files, tmp_path):
    folder = _folder(tmp_path / "imgs", count=3)
    out = tmp_path / "v.jsonl"
    assert runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                               "--workers", "0", "--quiet"]).exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and all(tuple(line) == FIELDS for line in lines)


def test_draft_decoding_of_large_jpegs_barely_moves_p_fake(tiny_files, tmp_path):
    from imgcheck.infer.models.model_file import read_meta
    from imgcheck.infer.preprocess import Preprocessor

    meta = read_meta(tiny_files["onnx"])
    model = load_backend(ModelFile.open(tiny_files["onnx"]))
    rng = np.random.default_rng(0)
    for i in range(4):  # camera-size photos: smooth content plus sensor-like noise
        base = np.kron(rng.integers(0, 256, (30, 40, 3)), np.ones((100, 100, 1)))
        pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"photo{i}.jpg", quality=90)
    paths = sorted(tmp_path.glob("photo*.jpg"))
    full = Preprocessor.from_meta(meta, draft=False)
    draft = Preprocessor.from_meta(meta, draft=True)
    full_p = model(np.stack([full(p) for p in paths]))
    draft_p = model(np.stack([draft(p) for p in paths]))
    assert np.abs(full_p - draft_p).max() <= 0.01
    assert np.abs(np.stack([full.load_pixels(p) for p in paths]).astype(int)
                  - np.stack([draft.load_pixels(p) for p in paths])).mean() <= 3


def test_csv_decode_rejects_damage_in_the_middle():
    csv_format = CsvFormat()
    text = csv_format.header() + csv_format.encode([Row("a", 0.5, "FAKE"), Row("b", None, "ERROR", "x")])
    assert [r.path for r in csv_format.decode(text)] == ["a", "b"]
    with pytest.raises(ValueError, match="damaged"):
        csv_format.decode(text.replace("a,0.500000,FAKE", "a,zz,FAKE"))


_REPORT_PEAK_RSS = """
import atexit, sys
def report():
    status = open("/proc/self/status").read()
    print("VmHWM_KB=" + status.split("VmHWM:")[1].split()[0], file=sys.stderr)
atexit.register(report)
from imgcheck.infer.cli.root import cli
cli(sys.argv[1:], prog_name="imgcheck")
"""


@pytest.mark.slow
def test_memory_stays_flat_as_the_number_of_files_grows(tiny_files, tmp_path):
    folder = tmp_path / "flat"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    for i in range(8000):
        sub = folder / f"{i // 1000}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.jpg").write_bytes(buffer.getvalue())

    def peak_rss_mb(*paths):
        # VmHWM of the scanning process itself (ru_maxrss would also count the forked pytest before exec);
        # one decoding worker, so decoded batches cross into this process
        result = subprocess.run([sys.executable, "-c", _REPORT_PEAK_RSS, "scan", *map(str, paths), "--model",
                                 str(tiny_files["onnx"]), "--workers", "1", "--out", str(tmp_path / "v.csv"),
                                 "--force", "--quiet"],  # each measurement replaces the last one's rows
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return int(result.stderr.split("VmHWM_KB=")[1].split()[0]) / 1024

    small = peak_rss_mb(folder / "0")  # 1,000 files
    large = peak_rss_mb(folder)  # 8,000 files
    assert large - small < 8, f"peak RSS grew from {small:.0f} MB to {large:.0f} MB"
