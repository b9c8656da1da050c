"""Edges a new user hits first, each with what is true, what to do, and its documented exit code: a reader that
closes stdout, Ctrl-C, an existing output, a missing path, nothing to scan, a device that refuses rows, and a
verdict file two scans wrote at once."""

from __future__ import annotations

import errno
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ExitCode
from imgcheck.infer.scan.job import ScanJob, ScanUsageError
from imgcheck.infer.scan.output import OutputClosed, output_lock, write_rows
from imgcheck.infer.scan.verdict_formats import CsvFormat, VerdictSink
from imgcheck.infer.verdicts import Row
from synthetic_data import noise_images

SCAN = [sys.executable, "-m", "imgcheck.infer", "scan"]


def _args(tiny_files, *more: str) -> list[str]:
    return ["--model", str(tiny_files["onnx"]), "--workers", "0", "--quiet", *more]


def _finish(runner, command: str):  # noqa: ANN001, ANN202 - a CliRunner; its Result
    """Run the `imgcheck scan ...` command a message printed, as printed."""
    words = shlex.split(command)
    assert words[:2] == ["imgcheck", "scan"], command
    return runner.invoke(cli, words[1:])


def test_a_closed_stdout_ends_the_scan_quietly(tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 20)
    scan = subprocess.Popen([*SCAN, str(folder), *_args(tiny_files, "--out", "-", "--batch-size", "1")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    scan.stdout.close()  # `| head` that has already read all it wanted
    _, stderr = scan.communicate(timeout=120)
    assert scan.returncode == ExitCode.OUTPUT_CLOSED == 141, stderr
    for noise in (b"resume", b"Traceback", b"Exception ignored", b"Broken pipe", b"Error"):
        assert noise not in stderr, stderr


def test_a_reader_that_goes_away_mid_scan_ends_it_without_resume_advice():
    class Closed(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # noqa: ANN001
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(OutputClosed) as raised:
        write_rows(VerdictSink(Closed(), CsvFormat()), [Row("a.png", 0.5, "FAKE", "", 32, 32, "")], "-")
    assert raised.value.exit_code == 141 and "resume" not in raised.value.message


def _interrupt_after(monkeypatch, batches: int) -> None:
    """Ctrl-C while the scan writes its batch number `batches` + 1."""
    import imgcheck.infer.scan.job as job_module

    real, calls = job_module.write_rows, []

    def write_then_interrupt(sink, rows, out):  # noqa: ANN001, ANN202
        calls.append(len(rows))
        if len(calls) > batches:
            raise KeyboardInterrupt
        real(sink, rows, out)

    monkeypatch.setattr(job_module, "write_rows", write_then_interrupt)


def test_ctrl_c_says_what_was_written_and_the_command_that_finishes(runner, tiny_files, tmp_path, monkeypatch):
    folder = noise_images(tmp_path / "imgs", 12)
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    args = _args(tiny_files, "--batch-size", "4")
    assert runner.invoke(cli, ["scan", str(folder), *args, "--out", str(whole)]).exit_code == 0
    _interrupt_after(monkeypatch, 2)
    result = runner.invoke(cli, ["scan", str(folder), *args, "--out", str(cut)])
    monkeypatch.undo()
    assert result.exit_code == ExitCode.INTERRUPTED == 130, result.output
    assert f"interrupted: {cut} holds 8 complete rows; to finish the scan, run it again with --resume:" \
        in result.stderr and "Aborted" not in result.stderr
    command = result.stderr.strip().splitlines()[-1].strip()
    assert command == shlex.join(["imgcheck", "scan", str(folder), *args, "--out", str(cut), "--resume"])
    finished = _finish(runner, command)
    assert finished.exit_code == 0, finished.output
    assert cut.read_bytes() == whole.read_bytes()


def test_ctrl_c_on_stdout_says_a_stream_cannot_be_resumed(runner, tiny_files, tmp_path, monkeypatch):
    folder = noise_images(tmp_path / "imgs", 12)
    _interrupt_after(monkeypatch, 1)
    result = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files, "--batch-size", "4"), "--out", "-"])
    assert result.exit_code == 130
    assert "interrupted after 4 rows were written to stdout, which cannot be resumed" in result.stderr
    assert "--resume:" not in result.stderr and "with --out FILE" in result.stderr


def test_ctrl_c_on_a_real_scan_is_finished_by_the_command_it_prints(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 240, (64, 64))
    args = [str(folder), "--model", str(tiny_files["onnx"]), "--batch-size", "4", "--workers", "1", "--quiet"]
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    assert runner.invoke(cli, ["scan", *args, "--out", str(whole)]).exit_code == 0
    # its own process group with Ctrl-C's default action, as a terminal's foreground job (a shell's background job,
    # such as a CI script started with `&`, ignores SIGINT, and a child would inherit that)
    scan = subprocess.Popen([*SCAN, *args, "--out", str(cut)], stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and (not cut.exists() or cut.read_text().count("\n") < 20):
        time.sleep(0.01)
    os.killpg(scan.pid, signal.SIGINT)  # what Ctrl-C sends: the scan and its decoding workers
    _, stderr = scan.communicate(timeout=60)
    assert scan.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr and f"interrupted: {cut} holds" in stderr
    command = stderr.strip().splitlines()[-1].strip()
    assert shlex.split(command)[-1] == "--resume"
    assert _finish(runner, command).exit_code == 0
    assert cut.read_bytes() == whole.read_bytes()


def test_an_existing_output_is_replaced_only_with_force(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 4)
    out = tmp_path / "v.csv"
    assert runner.invoke(cli, ["scan", str(folder), *_args(tiny_files), "--out", str(out)]).exit_code == 0
    written = out.read_bytes()
    again = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files, "--threshold", "1"), "--out", str(out)])
    assert again.exit_code == 1
    assert f"{out} already exists and holds rows (perhaps of an interrupted scan); add --resume to keep them and " \
           "scan only the rest, or --force to replace the file." in again.stderr
    assert out.read_bytes() == written
    forced = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files, "--threshold", "1", "--force"), "--out",
                                 str(out)])
    assert forced.exit_code == 0 and out.read_bytes() != written and out.read_text().count(",REAL,") == 4
    both = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files, "--resume", "--force"), "--out", str(out)])
    assert both.exit_code == 2 and "--resume keeps the rows already in --out and --force replaces them" in both.stderr
    notes = tmp_path / "notes.csv"
    notes.write_text("not a verdict file, and not ours to replace\n")
    refused = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files), "--out", str(notes)])
    assert refused.exit_code == 1 and notes.read_text().startswith("not a verdict file")


def test_a_file_without_rows_is_replaced_freely(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 2)
    empty, header_only = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_bytes(b"")
    assert runner.invoke(cli, ["scan", str(tmp_path / "nothing"), *_args(tiny_files), "--out", str(header_only)]
                         ).exit_code == 2  # (a missing path: nothing is written)
    (tmp_path / "nothing").mkdir()
    assert runner.invoke(cli, ["scan", str(tmp_path / "nothing"), *_args(tiny_files), "--out", str(header_only)]
                         ).exit_code == 5
    assert header_only.read_text().count("\n") == 1  # the header alone
    for out in (empty, header_only):
        assert runner.invoke(cli, ["scan", str(folder), *_args(tiny_files), "--out", str(out)]).exit_code == 0
        assert out.read_text().count("\n") == 3


def test_a_missing_path_is_a_usage_error_before_any_work(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 2)
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "/no/such/path", *_args(tiny_files), "--out", str(out)])
    assert result.exit_code == ExitCode.USAGE == 2
    assert "no such file or folder: /no/such/path; check the path (nothing was scanned)" in result.stderr
    assert not out.exists() and not (tmp_path / "v.csv.json").exists()
    with pytest.raises(ScanUsageError, match="no such file or folder"):
        ScanJob([tmp_path / "gone.png"], out=None).run()
    # a path read from a list that has vanished is a file gone mid-scan: an ERROR row, as before
    listed = tmp_path / "list.txt"
    listed.write_text(f"{tmp_path / 'gone.png'}\n")
    from_list = runner.invoke(cli, ["scan", "--files-from", str(listed), *_args(tiny_files), "--out", str(out)])
    assert from_list.exit_code == 3 and out.read_text().count(",ERROR,") == 1


def test_nothing_to_scan_says_so_and_exits_5(runner, tiny_files, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["scan", str(empty), "--model", str(tiny_files["onnx"]), "--workers", "0",
                                 "--out", str(tmp_path / "a.csv")])
    assert result.exit_code == ExitCode.NOTHING_TO_SCAN == 5
    assert f"nothing to scan in {empty}: no image files. Check the paths" in result.stderr
    assert "speed" not in result.stderr and "images/s" not in result.stderr
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("hi")
    quiet = runner.invoke(cli, ["scan", str(notes), *_args(tiny_files), "--out", str(tmp_path / "b.csv")])
    assert quiet.exit_code == 5  # said under --quiet too: the exit code needs its reason
    assert f"nothing to scan in {notes}: 1 file(s), none of them an image (.txt 1; --list-skipped names them)" \
        in quiet.stderr
    glob = runner.invoke(cli, ["scan", str(empty / "*.png"), *_args(tiny_files), "--out", str(tmp_path / "c.csv")])
    assert glob.exit_code == 5 and "nothing to scan in" in glob.stderr
    # a gated CI scan of an empty folder: the same answer, not "no scanned file has a label"
    gated = runner.invoke(cli, ["scan", str(empty), *_args(tiny_files), "--out", str(tmp_path / "d.csv"),
                                "--metrics", str(tmp_path / "m.json"), "--fail-under", "accuracy=0.9"])
    assert gated.exit_code == 5 and "nothing to scan in" in gated.stderr and "label" not in gated.stderr
    assert not (tmp_path / "m.json").exists()


def test_dev_full_with_jsonl_gives_advice_that_fits_a_device(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 3)
    result = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files), "--out", "/dev/full", "--format", "jsonl"])
    assert result.exit_code == 1
    assert "cannot write /dev/full: No space left on device. 0 rows were written before it failed; /dev/full " \
           "cannot be resumed: scan again with --out FILE" in result.stderr
    assert "rerun with --resume" not in result.stderr and "Traceback" not in result.stderr


def test_resume_drops_rows_of_files_it_would_not_scan_and_says_how_many(runner, tiny_files, tmp_path):
    """What two scans writing one file through two names left behind: a row with a torn path, a row twice."""
    folder = noise_images(tmp_path / "imgs", 12)
    whole, mixed = tmp_path / "whole.csv", tmp_path / "mixed.csv"
    args = _args(tiny_files, "--batch-size", "4")
    assert runner.invoke(cli, ["scan", str(folder), *args, "--out", str(whole)]).exit_code == 0
    lines = whole.read_text().splitlines(keepends=True)
    torn = lines[4].replace("img_003.png", "img_0img_004.png", 1)  # a path no file has
    assert torn != lines[4]
    mixed.write_text("".join(lines[:5] + [torn, lines[2]] + lines[5:9]))
    result = runner.invoke(cli, ["scan", str(folder), *args, "--out", str(mixed), "--resume"])
    assert result.exit_code == 0, result.output
    assert f"--resume dropped 2 row(s) of {mixed} that are not of a file this scan scans" in result.stderr
    assert mixed.read_bytes() == whole.read_bytes()  # one row per file, in order, byte for byte
    counts = json.loads((tmp_path / "mixed.csv.json").read_text())["counts"]
    assert counts["dropped_rows"] == 2 and counts["resumed_rows"] == 8


def test_two_scans_through_a_symlinked_out_cannot_both_write(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 2)
    same, alias = tmp_path / "same.csv", tmp_path / "alias.csv"
    alias.symlink_to(same)
    with output_lock(str(same)):  # a scan writing same.csv
        result = runner.invoke(cli, ["scan", str(folder), *_args(tiny_files), "--out", str(alias)])
    assert result.exit_code == 1
    assert f"another imgcheck scan (pid {os.getpid()}) is writing {alias} (that is, {same})" in result.stderr
    assert same.read_bytes() == b""  # untouched by the refused scan
