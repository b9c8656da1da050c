"""`ScanJob`: the library object behind `imgcheck scan`. It writes what the CLI writes, reads the model file once
and walks the folders once."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

import imgcheck
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ExitCode
from imgcheck.infer.scan.job import ScanJob, ScanReporter, ScanUsageError
from synthetic_data import gray_image

REAL_LEVELS = (20, 60, 100, 140)
FAKE_LEVELS = (120, 170, 210, 230)


def _labeled_set(root: Path) -> Path:
    for level in REAL_LEVELS:
        gray_image(root / "REAL" / f"r{level}.png", level)
    for level in FAKE_LEVELS:
        gray_image(root / "FAKE" / f"f{level}.png", level)
    (root / "REAL" / "broken.png").write_bytes(b"not a png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_the_api_writes_what_the_cli_writes(runner, brightness_model: Path, tmp_path: Path) -> None:
    folder = _labeled_set(tmp_path / "set")
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    cli_out.mkdir()
    api_out.mkdir()
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(brightness_model), "--workers", "0",
                                 "--out", str(cli_out / "v.csv"), "--metrics", str(cli_out / "m.json"),
                                 "--report", str(cli_out / "report"), "--list-skipped", str(cli_out / "skipped.txt")])
    assert result.exit_code == ExitCode.SCAN_ERRORS, result.output  # broken.png gets an ERROR row
    done = imgcheck.ScanJob([folder], brightness_model, out=str(api_out / "v.csv"), metrics=str(api_out / "m.json"),
                            report=str(api_out / "report"), list_skipped=str(api_out / "skipped.txt"),
                            workers=0).run()
    assert (api_out / "v.csv").read_bytes() == (cli_out / "v.csv").read_bytes()
    assert (api_out / "skipped.txt").read_bytes() == (cli_out / "skipped.txt").read_bytes()
    cli_metrics, api_metrics = (json.loads((out / "m.json").read_text()) for out in (cli_out, api_out))
    assert api_metrics["metrics"] == cli_metrics["metrics"]
    assert api_metrics["groups"] == cli_metrics["groups"]
    assert done.metrics["metrics"] == api_metrics["metrics"]
    cli_record, api_record = (json.loads((out / "v.csv.json").read_text()) for out in (cli_out, api_out))
    assert api_record["counts"] == cli_record["counts"] == {"files": 9, "resumed_rows": 0, "dropped_rows": 0, "REAL": 4, "FAKE": 4,
                                                           "ERROR": 1}
    assert api_record["model"] == cli_record["model"]
    assert done.report == str(api_out / "report" / "index.html") and os.path.isfile(done.report)
    assert (cli_out / "report" / "index.html").is_file()
    assert done.exit_code == ExitCode.SCAN_ERRORS
    assert done.stats.skipped == {".txt": 1}


def test_gates_and_strict_set_the_exit_code(brightness_model: Path, tmp_path: Path) -> None:
    folder = _labeled_set(tmp_path / "set")
    gated = ScanJob([folder], brightness_model, out=str(tmp_path / "a.csv"), workers=0,
                    fail_under=("accuracy=0.99",)).run()
    assert gated.exit_code == ExitCode.GATE_FAILED and len(gated.gate_failures) == 1
    strict = ScanJob([folder], brightness_model, out=str(tmp_path / "b.csv"), workers=0, strict=True).run()
    assert strict.exit_code == ExitCode.ERROR


def test_contradictory_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanUsageError, match="--resume needs an output file"):
        ScanJob([tmp_path], out="-", resume=True).run()
    with pytest.raises(ScanUsageError, match="need --engine ray"):
        ScanJob([tmp_path], num_workers=2).run()
    with pytest.raises(ScanUsageError, match="give PATH"):
        ScanJob([]).run()


class _CountingReporter(ScanReporter):
    """A reporter whose progress wants the total, as a terminal's bar does."""

    def __init__(self) -> None:
        self.totals: list[int] = []
        self.advanced = 0

    @contextlib.contextmanager
    def progress(self):  # noqa: ANN201
        reporter = self

        class Handle:
            wants_total = True

            def advance(self, count: int) -> None:
                reporter.advanced += count

            def set_total(self, total: int) -> None:
                reporter.totals.append(total)

        yield Handle()


@pytest.fixture
def audited():  # noqa: ANN201 - yields the list the audit hook appends (event, path) to while recording
    events: list[tuple[str, str]] = []
    recording = [False]

    def hook(event: str, args: tuple) -> None:
        if recording[0] and event in ("open", "os.scandir") and args and isinstance(args[0], (str, bytes, Path)):
            events.append((event, os.path.abspath(os.fsdecode(args[0]))))

    sys.addaudithook(hook)  # hooks cannot be removed; this one records only inside the test
    recording[0] = True
    yield events
    recording[0] = False


def test_one_scan_reads_the_model_once_and_walks_the_folders_once(brightness_model: Path, tmp_path: Path,
                                                                  audited, monkeypatch) -> None:
    folder = _labeled_set(tmp_path / "set")
    (folder / "REAL" / "deeper").mkdir()
    gray_image(folder / "REAL" / "deeper" / "r30.png", 30)
    import onnxruntime

    built_from = []
    original = onnxruntime.InferenceSession

    def recording_session(source, *args, **kwargs):  # noqa: ANN001, ANN202
        built_from.append(type(source))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    reporter = _CountingReporter()
    result = ScanJob([folder], brightness_model, out=str(tmp_path / "v.csv"), workers=0).run(reporter)
    model = os.path.abspath(brightness_model)
    model_opens = [path for event, path in audited if event == "open" and path == model]
    # one open sniffs the header and metadata; one read gives the hash, the graph facts and the session's bytes
    assert len(model_opens) == 2, model_opens
    assert built_from == [bytes]  # onnxruntime never opened the file itself
    walked = [path for event, path in audited if event == "os.scandir"]
    assert sorted(walked) == sorted({str(folder), str(folder / "REAL"), str(folder / "REAL" / "deeper"),
                                     str(folder / "FAKE")})  # each folder once, though the bar learned the total
    assert reporter.totals == [10] and reporter.advanced == 10 == result.stats.files


def test_a_walk_error_reaches_the_scan(brightness_model: Path, tmp_path: Path) -> None:
    """A file named on the command line that cannot be read (a broken link) is an ERROR row, as without the walk-ahead
    thread; a path that names nothing at all is refused before any work."""
    reporter = _CountingReporter()
    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    result = ScanJob([tmp_path / "broken.png"], brightness_model, out=str(tmp_path / "v.csv"), workers=0,
                     evaluate=False).run(reporter)
    assert result.stats.verdicts == {"ERROR": 1}
    with pytest.raises(ScanUsageError, match="no such file or folder"):
        ScanJob([tmp_path / "missing.png"], brightness_model, out=str(tmp_path / "w.csv"), workers=0).run(reporter)


def test_keep_classes_is_checked_against_the_model_and_a_given_engine(tmp_path: Path) -> None:
    from class_models import class_model, color_images
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.scan.pipeline import LocalScan

    color_images(tmp_path / "imgs", [(10, 20, 30)])
    model_file = ModelFile.open(class_model(tmp_path / "classes.onnx"))
    job = ScanJob(tmp_path / "imgs", model_file, out=str(tmp_path / "v.csv"), keep_classes=True, workers=0)
    plain_engine = LocalScan.for_model(model_file, workers=0)
    with pytest.raises(ScanUsageError, match="the engine given has keep_classes=False and this job keep_classes=True"):
        job.run(engine=plain_engine, model_file=model_file)
    result = job.run(engine=LocalScan.for_model(model_file, workers=0, keep_classes=True), model_file=model_file)
    assert result.exit_code == ExitCode.OK
    assert (tmp_path / "v.csv").read_text().splitlines()[0].endswith(',p:=midjourney,"p:da""lle"')
    assert json.loads((tmp_path / "v.csv.json").read_text())["classes"][0] == "REAL"
