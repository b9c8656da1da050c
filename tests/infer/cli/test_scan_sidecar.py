"""The scan record `<out>.json`: written when the scan starts (finished null), rewritten when it ends; a record or
metrics file that cannot be written is one clear line and leaves no temporary file."""

import json
import os
import subprocess
import sys
import threading
import time

from imgcheck.infer.cli.root import cli
from synthetic_data import gray_image


def _wait_for(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_record_says_finished_null_while_the_scan_runs_and_a_time_when_it_ends(tiny_files, tmp_path):
    image = gray_image(tmp_path / "imgs" / "a.png", 50)
    fifo = tmp_path / "paths.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "v.csv"
    scan = subprocess.Popen([sys.executable, "-m", "imgcheck.infer", "scan", "--files-from", str(fifo), "--model",
                             str(tiny_files["onnx"]), "--out", str(out), "--workers", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        writer = open(fifo, "w")  # the scan waits on this list: it is running, and cannot finish
        writer.write(f"{image}\n")
        writer.flush()
        record_path = tmp_path / "v.csv.json"
        assert _wait_for(record_path.exists), scan.stderr.read() if scan.poll() is not None else "no record"
        running = json.loads(record_path.read_text())
        assert running["finished"] is None and running["started"] and scan.poll() is None
        writer.close()
        _, stderr = scan.communicate(timeout=120)
    finally:
        if scan.poll() is None:
            scan.kill()
    assert scan.returncode == 0, stderr.decode()
    done = json.loads(record_path.read_text())
    assert done["finished"] is not None and done["counts"]["files"] == 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def _no_temporaries(folder):
    return [name for name in os.listdir(folder) if ".tmp" in name]


def test_an_unwritable_record_is_one_line_and_leaves_no_temporary_file(runner, tiny_files, tmp_path):
    gray_image(tmp_path / "imgs" / "a.png", 50)
    (tmp_path / "v.csv.json").mkdir()  # the record's path is taken by a folder
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv"), "--workers", "0", "--quiet"])
    assert result.exit_code == 1 and "cannot write the scan record" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _no_temporaries(tmp_path) == [] and not (tmp_path / "v.csv.lock").exists()


def test_an_unwritable_metrics_file_is_one_line_and_leaves_no_temporary_file(runner, tiny_files, tmp_path):
    gray_image(tmp_path / "imgs" / "REAL" / "a.png", 50)
    gray_image(tmp_path / "imgs" / "FAKE" / "b.png", 200)
    (tmp_path / "a_file").write_text("a file, not a folder")
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv"), "--metrics", str(tmp_path / "a_file" / "metrics.json"),
                                 "--workers",
                                 "0", "--quiet"])
    assert result.exit_code == 1 and "cannot write" in result.stderr and "metrics.json" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _no_temporaries(tmp_path) == []
    assert (tmp_path / "v.csv").read_text().count("\n") == 3  # the verdicts themselves are complete


def test_a_record_written_concurrently_is_never_seen_half_written(tiny_files, tmp_path):
    """The record is replaced atomically: a reader polling it during a scan always parses a whole JSON object."""
    for i in range(300):
        gray_image(tmp_path / "imgs" / f"{i:03d}.png", i % 256)
    out = tmp_path / "v.csv"
    seen, stop = [], threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                seen.append(json.loads((tmp_path / "v.csv.json").read_text())["finished"])
            except FileNotFoundError:
                pass

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        result = subprocess.run([sys.executable, "-m", "imgcheck.infer", "scan", str(tmp_path / "imgs"), "--model",
                                 str(tiny_files["onnx"]), "--out", str(out), "--workers", "0", "--quiet",
                                 "--batch-size", "16"], capture_output=True, timeout=120)
    finally:
        stop.set()
        reader.join()
    assert result.returncode == 0, result.stderr.decode()
    assert seen and seen[-1] is not None
