"""Hardening: a generated corpus of hostile files scans to completion with provenance on, one row per regular file,
a reason on every ERROR (the kinds are in tests/hostile_corpus.py and in docs/hardening.md)."""

import os
import threading

from hostile_corpus import KINDS, NO_ROW, VERDICT, build_corpus, grow_files

from imgcheck.infer.cli.root import cli
from imgcheck.infer.scan.verdict_formats import CsvFormat


def _rows(out):
    with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return {os.fsencode(row.path): row for row in CsvFormat().decode(fh.read())}


def test_the_corpus_has_at_least_twenty_kinds_of_bad_or_odd_input():
    assert len(KINDS) >= 20 and len({k.name for k in KINDS}) == len(KINDS)


def test_every_hostile_file_gets_one_row_and_every_error_a_reason(runner, tiny_files, tmp_path):
    root = tmp_path / "corpus"
    expected = build_corpus(root)
    missing = tmp_path / "deleted.png"  # listed but gone: an ERROR row, not silence (test_scan_edges: a PATH refused)
    expected[os.fsencode(missing)] = next(k for k in KINDS if k.expect == "file not found")
    listed = tmp_path / "list.txt"
    listed.write_text(f"{missing}\n")
    grower = threading.Thread(target=grow_files, args=(root,))
    grower.start()
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(root), "/dev/null", "--files-from", str(listed), "--model",
                                 str(tiny_files["onnx"]), "--out", str(out), "--workers", "2", "--batch-size", "4"])
    grower.join()
    assert result.exit_code == 3, result.output  # finished, with ERROR rows
    rows = _rows(out)
    device = rows.pop(b"/dev/null")
    assert device.verdict == "ERROR" and device.error == "not a regular file (a character device)"
    assert set(rows) == set(expected), "exactly one row per regular file, nothing for FIFOs without a suffix"
    for path, kind in expected.items():
        row = rows[path]
        if row.verdict == "ERROR":
            assert row.p_fake is None and row.error and "\n" not in row.error
        if kind.expect == VERDICT:
            assert row.verdict in ("REAL", "FAKE") and 0 <= row.p_fake <= 1, (kind.name, row)
            assert row.width and row.height, (kind.name, row)
        elif kind.expect not in ("either", NO_ROW):
            assert row.verdict == "ERROR" and kind.expect in row.error, (kind.name, row)
        if kind.provenance is not None:  # provenance is on: hostile metadata never costs the row
            assert row.provenance.startswith(kind.provenance) and (kind.provenance or not row.provenance), \
                (kind.name, row)
    assert not [p for p in root.rglob("*.rest")], "the growing file finished growing"


def test_a_fifo_without_a_suffix_is_skipped_and_never_opened(tmp_path):
    from imgcheck.infer.scan.discover import Selection, discover

    os.mkfifo(tmp_path / "pipe")  # opening it for reading would wait for a writer forever
    os.mkfifo(tmp_path / "pipe.png")
    found = []
    walker = threading.Thread(target=lambda: found.extend(discover([str(tmp_path)], Selection())), daemon=True)
    walker.start()
    walker.join(10)
    assert not walker.is_alive(), "discover blocked on a FIFO"
    assert found == [str(tmp_path / "pipe.png")]


def test_model_files_that_are_not_models_exit_1_with_one_line(runner, tiny_files, tmp_path):
    good = tiny_files["onnx"].read_bytes()
    next(k for k in KINDS if k.expect == VERDICT).make(tmp_path)  # the ordinary PNG
    image = next(tmp_path.glob("*.png"))
    broken = {"empty.onnx": b"", "text.onnx": b"not a model\n", "noise.onnx": os.urandom(4096),
              "half.onnx": good[: len(good) // 2], "cut_end.onnx": good[:-16], "zeros.onnx": bytes(len(good)),
              "trailing_junk.onnx": good + good[:100]}
    for name, data in broken.items():
        model = tmp_path / name
        model.write_bytes(data)
        for command in (["scan", str(image), "--model", str(model), "--out", str(tmp_path / "v.csv")],
                        ["info", str(model)], ["bench", str(model), "--stages", "infer"]):
            result = runner.invoke(cli, command)
            message = result.stderr.strip()
            assert result.exit_code == 1, (name, command[0], result.output)
            assert message.startswith("Error:") and "Traceback" not in message and len(message.splitlines()) <= 2, \
                (name, command[0], message)
