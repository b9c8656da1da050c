"""`imgcheck scan PATH...`: a verdict (REAL, FAKE or ERROR) for every image, streamed to CSV or JSONL."""

from __future__ import annotations

import collections
import contextlib
import os

import click

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.evaluation import evaluation_options
from imgcheck.infer.cli.options import quiet_option, scan_options
from imgcheck.infer.scan.verdict_formats import OUTPUT_FORMATS


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None,
              help="Model file: ONNX, TorchScript or a training checkpoint [default: the bundled CIFAKE model].")
@click.option("--out", default="verdicts.csv", show_default=True, help="Output file, or - for stdout.")
@click.option("--format", "output_format", type=click.Choice(list(OUTPUT_FORMATS)), default=None,
              help="Output format [default: from --out's suffix, else csv].")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Descend into sub-folders.")
@click.option("--include", multiple=True, help="Only files whose name or path matches this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files whose name or path matches this glob (repeatable).")
@click.option("--files-from", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default=None,
              help="Read paths to scan, one per line, from this file (- for stdin).")
@scan_options
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine's processes; ray: Ray Data tasks and actors (needs the `ray` extra).")
@click.option("--ray-address", default=None,
              help="With --engine ray: auto or ray://HOST:PORT joins a cluster [default: start a local instance].")
@click.option("--num-workers", type=click.IntRange(min=1), default=None,
              help="With --engine ray: model actors [default: one per CPU of the cluster, or per GPU share].")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --engine ray: GPUs per model actor; above 0 the actors run CUDA.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="FAKE when p_fake >= this [default: the model's own threshold].")
@click.option("--resume", is_flag=True, help="Keep the rows already in --out and scan only the remaining files.")
@click.option("--csv-formula-escape/--no-csv-formula-escape", "formula_escape", default=True, show_default=True,
              help="Prefix ' to CSV cells that start with = + - @ tab CR or ', so spreadsheets show hostile file "
                   "names as text (read back by stripping one leading ').")
@click.option("--strict", is_flag=True, help="Exit 1 (not 3) when some files could not be read.")
@click.option("--provenance/--no-provenance", default=True, show_default=True,
              help="Read what each file's metadata says of its origin (C2PA, XMP, PNG text, EXIF) into the "
                   "provenance column.")
@click.option("--list-skipped", type=click.Path(dir_okay=False), default=None,
              help="Write the paths of the files skipped inside folders (not images), one per line, to this file.")
@quiet_option
@evaluation_options
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], model_path: str | None, out: str, output_format: str | None,
         recursive: bool, include: tuple[str, ...], exclude: tuple[str, ...], files_from, batch_size: int,
         workers: int | None, threads: int | None, device: str, no_draft: bool, engine: str,
         ray_address: str | None,
         num_workers: int | None, gpus_per_worker: float, threshold: float | None, resume: bool,
         formula_escape: bool, strict: bool, provenance: bool, list_skipped: str | None, quiet: bool,
         labels_file: str | None, metrics_file: str | None, metrics_json: bool, report_dir: str | None,
         report_limit: int, fail_under: tuple[str, ...], fail_over: tuple[str, ...]) -> None:
    """Scan images (files, folders, globs) and write one verdict row per file, with its size and what
    its metadata says of its origin (provenance). Files inside folders that are not images are
    counted by suffix in the summary (--list-skipped names them).

    Images under REAL/ and FAKE/ folders (or named in --labels) are also scored: a metric table, and
    with --metrics/--json/--fail-under, files and CI gates (--quiet without any of these skips the
    metrics). --report DIR writes a gallery of any scan, ranked by p_fake (with the metric plots when
    labeled).

    \b
    With --engine ray the same scan runs on Ray Data (a local instance, or a cluster with
    --ray-address) and writes the same rows; PATH may then also be an s3://, gs:// or file://
    URI.

    \b
    Exit codes: 0 every file scanned (and every gate passed); 3 some files got ERROR rows (1 with
    --strict); 4 a --fail-under/--fail-over gate was breached; 1 fatal error.
    """
    from imgcheck.infer.cli.evaluation import EvaluationRequest, exit_code, finish_evaluation, make_labeler
    from imgcheck.infer.cli.scan_summary import (C2PA_SKIPPED, report_context, skip_list, summary_table,
                                                 write_scan_report)
    from imgcheck.infer.evaluate.gallery import Gallery
    from imgcheck.infer.evaluate.labeled_scores import LabeledScores
    from imgcheck.infer.models.bundled import open_model_file
    from imgcheck.infer.provenance.c2pa_manifest import c2pa_installed
    from imgcheck.infer.scan.discover import Selection, read_file_list
    from imgcheck.infer.scan.domain import SizeCheck, TrainingSizes
    from imgcheck.infer.scan.output import (check_folder_exists, check_resume_provenance, is_special_file,
                                            open_verdict_output, write_rows, write_sidecar)
    from imgcheck.infer.scan.pipeline import LocalScan, ScanEngine, ScanRequest, ScanStats, run_scan, sidecar
    from imgcheck.infer.int8_cpu import signed_int8_warning
    from imgcheck.infer.scan.provenance_counts import ProvenanceCounts
    from imgcheck.infer.system import cpu_flags
    from imgcheck.infer.version import imgcheck_version

    if not paths and files_from is None:
        raise click.UsageError("give PATH... to scan, or --files-from FILE")
    to_stdout = out == "-"
    if resume and to_stdout:
        raise click.UsageError("--resume needs an output file, not stdout")
    if metrics_json and to_stdout:
        raise click.UsageError("--json prints metrics to stdout, so --out - cannot print verdicts there too")
    evaluation = EvaluationRequest.from_options(labels_file, metrics_file, metrics_json, report_dir, fail_under,
                                                fail_over)
    scores = LabeledScores(make_labeler(labels_file))
    evaluate = evaluation.wanted(quiet)  # else no labeled row is recorded, so no metrics are computed
    fmt = OUTPUT_FORMATS[output_format or ("jsonl" if out.endswith(".jsonl") else "csv")](formula_escape)
    stream_output = to_stdout or is_special_file(out)  # stdout, /dev/full, a FIFO: no lock, sidecar or resume
    if resume and stream_output:
        raise click.UsageError(f"--resume needs a regular output file; {out} is not one")
    if not stream_output:
        check_folder_exists(out)
    if resume:
        check_resume_provenance(out, provenance)
    if threads is not None and engine == "ray":
        raise click.UsageError("--threads applies to the local engine; Ray's model actors take --num-workers")
    ray_options = _ray_options(engine, device, ray_address, num_workers, gpus_per_worker, workers, quiet)
    model_file = open_model_file(model_path)
    scanner: ScanEngine
    if ray_options is None:
        scanner = LocalScan.for_model(model_file, device=device, workers=workers, threads=threads,
                                      batch_size=batch_size, threshold=threshold, draft=not no_draft,
                                      provenance=provenance)
    else:
        from imgcheck.infer.scan.ray_engine import RayScan

        scanner = RayScan.for_model(model_file, ray_options, batch_size=batch_size, threshold=threshold,
                                    draft=not no_draft, provenance=provenance)
    threshold = scanner.threshold
    stats = ScanStats(provenance=ProvenanceCounts(checked=provenance, c2pa=c2pa_installed()),
                      sizes=SizeCheck(TrainingSizes.of(model_file.meta)))
    gallery = Gallery(report_limit, _label_of(scores.labeler)) if report_dir else None
    kept_verdicts: collections.Counter = collections.Counter()

    def record_scan() -> None:  # at the start (it records how the CSV is escaped, for --resume) and at the end
        if not stream_output:
            write_sidecar(f"{out}.json", sidecar(model_file, scanner.provider, threshold, stats, out,
                                                 imgcheck_version(), fmt, engine, getattr(scanner, "split", None)))

    console = stderr_console()
    if provenance and not stats.provenance.c2pa:
        console.print(C2PA_SKIPPED, soft_wrap=True, highlight=False)
    if ray_options is None and model_file.format.name == "onnx-int8":  # Ray's workers may run on other CPUs
        int8_warning = signed_int8_warning(model_file.graph().signed_int8_weights, scanner.provider, cpu_flags())
        if int8_warning:
            console.print(f"[yellow]warning:[/] {int8_warning}", soft_wrap=True, highlight=False)
    with open_verdict_output(out, fmt, resume, stream_output) as (sink, kept), skip_list(list_skipped) as on_skip:
        record_scan()
        stats.resumed = len(kept)
        stats.add_kept(kept)
        if evaluate:
            scores.add(kept)
        if gallery is not None:
            gallery.add(kept)
        kept_verdicts.update(row.verdict for row in kept)
        kept_errors = any(row.verdict == "ERROR" for row in kept)
        request = ScanRequest(tuple(paths), Selection(recursive, include, exclude),
                              read_file_list(files_from) if files_from is not None else None,
                              frozenset(row.path for row in kept))
        del kept
        if not quiet:
            console.print(f"scanning with {model_file.name} ({model_file.meta.arch}) {scanner.describe()}, "
                          f"threshold {threshold:g}", soft_wrap=True)

        def count_remaining() -> int | None:  # walks the folders a second time, in a thread, for the ETA
            if files_from is not None:
                return None
            return sum(1 for _ in ScanRequest(request.paths, request.selection, None, request.skip).files(scanner))

        with _progress(console, quiet, count_remaining) as advance:
            def write(rows) -> None:  # noqa: ANN001 - a batch of Row
                write_rows(sink, rows, out)
                if evaluate:
                    scores.add(rows)
                if gallery is not None:
                    gallery.add(rows)
                advance(len(rows))

            run_scan(request, scanner, write, stats, on_skip)
    record_scan()
    if not quiet:
        console.print(summary_table(stats, out))
    for line in stats.sizes.warnings():
        console.print(f"[yellow]warning:[/] {line}", soft_wrap=True, highlight=False)
    model = {"name": model_file.name, "path": os.path.abspath(model_file.path), "sha256": model_file.sha256(),
             "arch": model_file.meta.arch}
    scanned = list(paths) + ([getattr(files_from, "name", "-")] if files_from else [])
    gates_passed, document = finish_evaluation(evaluation, scores, threshold, model, scanned, console, quiet)
    if gallery is not None:
        context = report_context(model, threshold, scanned, stats, kept_verdicts)
        index = write_scan_report(report_dir, context, gallery, document, scores)
        if not quiet:
            console.print(f"report: {index}", soft_wrap=True, highlight=False)
    code = exit_code(kept_errors or bool(stats.verdicts.get("ERROR")), strict, gates_passed)
    if code:
        ctx.exit(code)


def _label_of(labeler):  # noqa: ANN001, ANN202 - a Labeler; (path) -> 1 FAKE, 0 REAL, None
    """The gallery's view of the labels: 1 for FAKE, 0 for REAL, None when unlabeled."""
    def label_of(path: str) -> int | None:
        label = labeler(path)
        return None if label is None else label.fake

    return label_of


def _ray_options(engine: str, device: str, address: str | None, num_workers: int | None, gpus_per_worker: float,
                 decode_tasks: int | None, quiet: bool):  # noqa: ANN202
    """RayOptions for `--engine ray` (None for the local engine), after checking the options agree."""
    if engine != "ray":
        if address or num_workers or gpus_per_worker:
            raise click.UsageError("--ray-address, --num-workers and --gpus-per-worker need --engine ray")
        return None
    from imgcheck.infer.scan.ray_engine import RayOptions, import_ray

    if device == "cuda" and not gpus_per_worker:
        raise click.UsageError("--engine ray --device cuda needs --gpus-per-worker above 0")
    if device == "cpu" and gpus_per_worker:
        raise click.UsageError("--device cpu contradicts --gpus-per-worker; leave one out")
    import_ray()  # a clear error before any work when the extra is missing
    return RayOptions(address, num_workers, gpus_per_worker, decode_tasks, quiet)


@contextlib.contextmanager
def _progress(console, quiet: bool, count_total):  # noqa: ANN001, ANN202
    """A progress bar on a terminal (files, images/s, elapsed, and ETA once `count_total` has counted)."""
    if quiet or not console.is_terminal:
        yield lambda count: None
        return
    import threading

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from imgcheck.infer.cli.progress_columns import ImagesPerSecondColumn

    with Progress(TextColumn("scan"), BarColumn(), MofNCompleteColumn(), ImagesPerSecondColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task("scan", total=None)

        def count() -> None:
            total = count_total()
            if total is not None:
                progress.update(task, total=total)

        threading.Thread(target=count, daemon=True).start()
        yield lambda count: progress.update(task, advance=count)
