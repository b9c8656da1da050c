"""`imgcheck scan PATH...`: a verdict (REAL, FAKE or ERROR) for every image, streamed to CSV or JSONL."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from imgcheck.infer.commands.labeled import evaluation_options
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.verdicts import OUTPUT_FORMATS


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None,
              help="Model file: .onnx (onnxruntime) or .pt TorchScript (torch) [default: the bundled CIFAKE model].")
@click.option("--out", default="verdicts.csv", show_default=True, help="Output file, or - for stdout.")
@click.option("--format", "output_format", type=click.Choice(list(OUTPUT_FORMATS)), default=None,
              help="Output format [default: from --out's suffix, else csv].")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Descend into sub-folders.")
@click.option("--include", multiple=True, help="Only files whose name or path matches this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files whose name or path matches this glob (repeatable).")
@click.option("--files-from", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default=None,
              help="Read paths to scan, one per line, from this file (- for stdin).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Decoding processes [default: CPU count; 0 decodes in this process].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto tries CUDA, then CPU; the provider that runs is reported.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="FAKE when p_fake >= this [default: the model's own threshold].")
@click.option("--no-draft", is_flag=True, help="Decode large JPEGs at full size (slower; see README).")
@click.option("--resume", is_flag=True, help="Keep the rows already in --out and scan only the remaining files.")
@click.option("--csv-formula-escape/--no-csv-formula-escape", "formula_escape", default=True, show_default=True,
              help="Prefix ' to CSV cells that start with = + - @ tab CR or ', so spreadsheets show hostile file "
                   "names as text (read back by stripping one leading ').")
@click.option("--strict", is_flag=True, help="Exit 1 (not 3) when some files could not be read.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
@evaluation_options
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], model_path: str | None, out: str, output_format: str | None,
         recursive: bool, include: tuple[str, ...], exclude: tuple[str, ...], files_from, batch_size: int,
         workers: int | None, device: str, threshold: float | None, no_draft: bool, resume: bool,
         formula_escape: bool, strict: bool, quiet: bool, labels_file: str | None, metrics_file: str | None,
         metrics_json: bool, report_dir: str | None,
         fail_under: tuple[str, ...], fail_over: tuple[str, ...]) -> None:
    """Scan images (files, folders, globs) and write one verdict row per file.

    Images under REAL/ and FAKE/ folders (or named in --labels) are also scored: a metric table, and
    with --metrics/--json/--report/--fail-under, files, plots and CI gates.

    \b
    Exit codes: 0 every file scanned (and every gate passed); 3 some files got ERROR rows (1 with
    --strict); 4 a --fail-under/--fail-over gate was breached; 1 fatal error.
    """
    from imgcheck.infer.commands.labeled import EvaluationRequest, exit_code, finish_evaluation, make_labeler
    from imgcheck.infer.discover import Selection, discover, read_file_list
    from imgcheck.infer.evaluation import LabeledScores
    from imgcheck.infer.model_files import file_sha256
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.scan import ScanStats, decoded_chunks, open_model, scan_rows, sidecar
    from imgcheck.infer.version import imgcheck_version

    if not paths and files_from is None:
        raise click.UsageError("give PATH... to scan, or --files-from FILE")
    if model_path is None:
        from imgcheck.infer.bundled import bundled_model_path

        model_path = str(bundled_model_path())
    to_stdout = out == "-"
    if resume and to_stdout:
        raise click.UsageError("--resume needs an output file, not stdout")
    if metrics_json and to_stdout:
        raise click.UsageError("--json prints metrics to stdout, so --out - cannot print verdicts there too")
    request = EvaluationRequest.from_options(labels_file, metrics_file, metrics_json, report_dir, fail_under,
                                             fail_over)
    scores = LabeledScores(make_labeler(labels_file))
    fmt = OUTPUT_FORMATS[output_format or ("jsonl" if out.endswith(".jsonl") else "csv")](formula_escape)
    stream_output = to_stdout or _is_special_file(out)  # stdout, /dev/full, a FIFO: no lock, sidecar or resume
    if resume and stream_output:
        raise click.UsageError(f"--resume needs a regular output file; {out} is not one")
    if not stream_output:
        _check_folder_exists(out)
    workers = (os.cpu_count() or 1) if workers is None else workers
    meta, backend = open_model(model_path, device, workers)
    threshold = meta.threshold if threshold is None else threshold
    pre = Preprocessor.from_meta(meta, draft=not no_draft)
    stats = ScanStats()

    inputs = list(paths)
    selection = Selection(recursive, include, exclude)
    sources = [discover(inputs, selection)] if inputs else []
    if files_from is not None:
        sources.append(read_file_list(files_from))

    model_sha256 = file_sha256(model_path)

    def write_sidecar() -> None:  # at the start (it records how the CSV is escaped, for --resume) and at the end
        if not stream_output:
            _write_sidecar(f"{out}.json", sidecar(model_path, model_sha256, meta, backend.provider, threshold, stats,
                                                  out, imgcheck_version(), fmt))

    with _output(out, fmt, resume, stream_output) as (sink, kept):
        write_sidecar()
        stats.resumed = len(kept)
        scores.add(kept)
        done = {row.path for row in kept}
        kept_errors = any(row.verdict == "ERROR" for row in kept)
        del kept
        todo = (p for source in sources for p in source if p not in done)
        from rich.console import Console

        console = Console(stderr=True)
        if not quiet:
            console.print(f"scanning with {Path(model_path).name} ({meta.arch}) on {backend.provider}, "
                          f"threshold {threshold:g}, {workers} decoding worker(s)", soft_wrap=True)
        start = time.perf_counter()
        def count_remaining() -> int | None:  # walks the folders a second time, in a thread, for the ETA
            if files_from is not None:
                return None
            return sum(1 for p in discover(inputs, selection) if p not in done)

        with _progress(console, quiet, count_remaining) as advance:
            chunks = decoded_chunks(todo, meta, batch_size, workers, draft=not no_draft)
            for rows in scan_rows(chunks, backend, pre, threshold, meta):
                _write_rows(sink, rows, out)
                stats.add(rows)
                scores.add(rows)
                stats.seconds = time.perf_counter() - start
                advance(len(rows))
        stats.finished = time.time()
    write_sidecar()
    if not quiet:
        console.print(_summary_table(stats, out))
    model = {"name": Path(model_path).name, "path": os.path.abspath(model_path), "sha256": model_sha256,
             "arch": meta.arch}
    scanned = inputs + ([files_from.name] if files_from else [])
    gates_passed = finish_evaluation(request, scores, threshold, model, scanned, console, quiet)
    code = exit_code(kept_errors or bool(stats.verdicts.get("ERROR")), strict, gates_passed)
    if code:
        ctx.exit(code)


@contextlib.contextmanager
def _output(out: str, fmt, resume: bool, stream_output: bool) -> Iterator[tuple]:  # noqa: ANN001
    """The verdict sink and the rows already done; holds `<out>.lock` while writing a regular file."""
    from imgcheck.infer.verdicts import VerdictSink, open_output

    if stream_output:
        try:
            with contextlib.ExitStack() as stack:
                if out == "-":
                    sys.stdout.flush()
                    stream = sys.stdout.buffer
                else:
                    stream = stack.enter_context(open(out, "wb", buffering=0))
                sink = VerdictSink(stream, fmt)
                sink.write_text(fmt.header())
                yield sink, []
        except OSError as exc:
            raise ImgcheckError(f"cannot write {out}: {exc.strerror or exc}")
        return
    lock = f"{out}.lock"
    _take_lock(lock)
    try:
        try:
            sink, done = open_output(out, fmt, resume, _format_written(out, fmt) if resume else None)
        except (OSError, ValueError) as exc:
            raise ImgcheckError(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}")
        with sink.stream:
            yield sink, done
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)


def _write_rows(sink, rows: list, out: str) -> None:  # noqa: ANN001
    from imgcheck.infer.verdicts import OutputWriteError

    try:
        sink.write(rows)
    except OutputWriteError as exc:
        raise ImgcheckError(f"cannot write {out}: {exc.strerror}. The {exc.rows_kept:,} rows before this batch are "
                            "complete; make room and rerun with --resume to finish.")


def _write_sidecar(path: str, record: dict) -> None:
    from imgcheck.infer.scan import write_json

    try:
        write_json(path, record)
    except OSError as exc:
        raise ImgcheckError(f"cannot write the scan record {path}: {exc.strerror or exc}")


def _format_written(out: str, fmt):  # noqa: ANN001, ANN202
    """The format that wrote `out`, by its sidecar: resume must decode the kept rows as they were escaped. A sidecar
    without the field is from before CSV escaping existed (raw); without a sidecar, assume the current format."""
    import json

    try:
        with open(f"{out}.json") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return fmt
    return type(fmt)(bool(record.get("csv_formula_escape", False))) if isinstance(record, dict) else fmt


def _is_special_file(path: str) -> bool:
    """True for an existing output that is not a regular file (/dev/full, /dev/null, a FIFO)."""
    import stat

    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _check_folder_exists(out: str) -> None:
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ImgcheckError(f"cannot write {out}: the folder {folder} does not exist; create it or choose another "
                            "--out.")


def _take_lock(lock: str) -> None:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and owner != os.getpid() and _alive(owner):
                raise ImgcheckError(f"another imgcheck scan (pid {owner}) is writing {lock[:-5]}; wait for it to "
                                    "finish or choose another --out.")
            with contextlib.suppress(OSError):
                os.unlink(lock)  # left behind by a scan that was killed
            continue
        except OSError as exc:
            raise ImgcheckError(f"cannot write {lock[:-5]}: {exc.strerror or exc}")
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return
    raise ImgcheckError(f"cannot take the lock {lock}")


def _lock_owner(lock: str) -> int | None:
    try:
        with open(lock) as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _progress(console, quiet: bool, count_total):  # noqa: ANN001, ANN202
    """A progress bar on a terminal (files, images/s, elapsed, and ETA once `count_total` has counted)."""
    if quiet or not console.is_terminal:
        yield lambda count: None
        return
    import threading

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from imgcheck.infer.progress import ImagesPerSecondColumn

    with Progress(TextColumn("scan"), BarColumn(), MofNCompleteColumn(), ImagesPerSecondColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task("scan", total=None)

        def count() -> None:
            total = count_total()
            if total is not None:
                progress.update(task, total=total)

        threading.Thread(target=count, daemon=True).start()
        yield lambda count: progress.update(task, advance=count)


def _summary_table(stats, out: str):  # noqa: ANN001, ANN202
    from rich.table import Table

    table = Table(title=f"scan: {out}", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("files", f"{stats.files:,}" + (f" (+{stats.resumed:,} kept from before)" if stats.resumed else ""))
    for verdict in ("REAL", "FAKE", "ERROR"):
        table.add_row(verdict, f"{stats.verdicts.get(verdict, 0):,}")
    for reason, count in stats.errors.most_common(5):
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("speed", f"{stats.images_per_s:,.0f} images/s over {stats.seconds:.1f} s")
    return table
