"""`imgcheck scan PATH...`: a verdict (REAL, FAKE or ERROR; UNSURE with --abstain-out-of-domain) for every image,
streamed to CSV or JSONL."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

import click

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.evaluation import evaluation_options
from imgcheck.infer.cli.options import quiet_option, scan_options
from imgcheck.infer.cli.scan_summary import C2PA_SKIPPED, skipped_text
from imgcheck.infer.errors import ExitCode
from imgcheck.infer.progress import progress_bar
from imgcheck.infer.scan.verdict_formats import OUTPUT_FORMATS

if TYPE_CHECKING:
    from imgcheck.infer.scan.job import ScanResult, ScanStart


class ScanCommand(click.Command):
    """The scan command; it keeps its arguments as typed, so an interrupted scan can name the command that finishes
    it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["imgcheck.scan.args"] = list(args)
        return super().parse_args(ctx, args)


@click.command(cls=ScanCommand)
@click.argument("paths", nargs=-1)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None,
              help="Model file: ONNX, TorchScript or a training checkpoint; or a shipped model's name (`imgcheck info "
                   "--list`) [default: the bundled CIFAKE model].")
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
@click.option("--force", is_flag=True,
              help="Replace an --out that already holds rows (without --resume or --force, such a file is refused).")
@click.option("--csv-formula-escape/--no-csv-formula-escape", "formula_escape", default=True, show_default=True,
              help="Prefix ' to CSV cells that start with = + - @ tab CR or ', so spreadsheets show hostile file "
                   "names as text (read back by stripping one leading ').")
@click.option("--strict", is_flag=True, help="Exit 1 (not 3) when some files could not be read.")
@click.option("--provenance/--no-provenance", default=True, show_default=True,
              help="Read what each file's metadata says of its origin (C2PA, XMP, PNG text, EXIF) into the "
                   "provenance column.")
@click.option("--keep-classes", is_flag=True,
              help="Add each class's probability after the fixed columns (CSV: p:<class>; JSONL: classes), for "
                   "models with one score per class; p_fake is unchanged.")
@click.option("--abstain-out-of-domain", is_flag=True,
              help="Verdict UNSURE (p_fake still written) for images far outside the sizes the model was trained "
                   "on (the domain column's out:...), left out of the metrics and gates [default: REAL/FAKE, "
                   "marked only in the domain column].")
@click.option("--list-skipped", type=click.Path(dir_okay=False), default=None,
              help="Write the paths of the files skipped inside folders (not images), one per line, to this file.")
@quiet_option
@evaluation_options
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], model_path: str | None, out: str, output_format: str | None,
         recursive: bool, include: tuple[str, ...], exclude: tuple[str, ...], files_from, batch_size: int,
         workers: int | None, threads: int | None, device: str, no_draft: bool, engine: str,
         ray_address: str | None,
         num_workers: int | None, gpus_per_worker: float, threshold: float | None, resume: bool, force: bool,
         formula_escape: bool, strict: bool, provenance: bool, keep_classes: bool, abstain_out_of_domain: bool,
         list_skipped: str | None,
         quiet: bool,
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
    --strict); 4 a --fail-under/--fail-over gate was breached; 5 nothing to scan (no image in the
    inputs); 1 fatal error; 2 usage error (a PATH that does not exist); 130 interrupted (Ctrl-C);
    141 the reader of --out - went away (| head).
    """
    from imgcheck.infer.cli.evaluation import print_evaluation
    from imgcheck.infer.cli.scan_summary import summary_table
    from imgcheck.infer.scan.discover import read_file_list
    from imgcheck.infer.scan.job import ScanJob, ScanUsageError
    from imgcheck.infer.scan.output import OutputClosed, ScanInterrupted
    from rich.markup import escape

    if metrics_json and out == "-":
        raise click.UsageError("--json prints metrics to stdout, so --out - cannot print verdicts there too")
    job = ScanJob(paths, model_path, out=out, output_format=output_format,
                  files_from=read_file_list(files_from) if files_from is not None else None,
                  files_from_name=getattr(files_from, "name", "-") if files_from is not None else None,
                  recursive=recursive, include=include, exclude=exclude, batch_size=batch_size, workers=workers,
                  threads=threads, device=device, draft=not no_draft, engine=engine, ray_address=ray_address,
                  num_workers=num_workers, gpus_per_worker=gpus_per_worker, threshold=threshold, resume=resume,
                  force=force,
                  formula_escape=formula_escape, strict=strict, provenance=provenance, list_skipped=list_skipped,
                  labels=labels_file, metrics=metrics_file, report=report_dir, report_limit=report_limit,
                  fail_under=fail_under, fail_over=fail_over, evaluate=not quiet or metrics_json,
                  require_labels=metrics_json, quiet=quiet, keep_classes=keep_classes,
                  abstain_out_of_domain=abstain_out_of_domain)
    console = stderr_console()
    try:
        result = job.run(ConsoleReporter(console, quiet))
    except ScanUsageError as exc:
        raise click.UsageError(exc.message) from None
    except OutputClosed:  # `--out - | head`: the reader has what it wanted; end quietly, as `cat` would
        if out == "-":
            _silence_stdout()
        ctx.exit(ExitCode.OUTPUT_CLOSED)
    except ScanInterrupted as exc:
        finish = f":\n  {_resume_command(ctx)}" if exc.resumable and exc.rows is not None else "."
        console.print(f"{exc.message}{finish}", soft_wrap=True, highlight=False, markup=False)
        ctx.exit(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:  # before the verdict file was opened, or after its last row
        resumable = out != "-" and not job.stream_output and "--force" not in ctx.meta.get("imgcheck.scan.args", [])
        again = (f"to finish the scan, run:\n  {_resume_command(ctx)}" if resumable else "run the same command again.")
        console.print(f"interrupted; {again}", soft_wrap=True, highlight=False, markup=False)
        ctx.exit(ExitCode.INTERRUPTED)
    if result.dropped:
        console.print(f"[yellow]warning:[/] --resume dropped {result.dropped:,} row(s) of {escape(out)} that are not "
                      "of a file this scan scans (torn or interleaved rows, rows of other inputs) or repeat one; the "
                      "file now holds one row per file scanned.", soft_wrap=True, highlight=False)
    if result.nothing_scanned:
        console.print(_nothing_to_scan(result), soft_wrap=True, highlight=False, markup=False)
        ctx.exit(result.exit_code)
    if not quiet:
        console.print(summary_table(result.stats, out))
    for line in result.stats.sizes.warnings():
        console.print(f"[yellow]warning:[/] {line}", soft_wrap=True, highlight=False)
    print_evaluation(result, console, quiet, metrics_json)
    if result.report and not quiet:
        console.print(f"report: {result.report}", soft_wrap=True, highlight=False)
    if result.exit_code:
        ctx.exit(result.exit_code)


class ConsoleReporter:
    """The scan's `ScanReporter` on stderr: what it cannot check, the model and engine, a progress bar."""

    def __init__(self, console, quiet: bool) -> None:  # noqa: ANN001 - a rich Console
        self.console, self.quiet = console, quiet

    def started(self, start: ScanStart) -> None:
        if start.c2pa_skipped:
            self.console.print(C2PA_SKIPPED, soft_wrap=True, highlight=False)
        if start.int8_warning:
            self.console.print(f"[yellow]warning:[/] {start.int8_warning}", soft_wrap=True, highlight=False)
        if not self.quiet:
            self.console.print(f"scanning with {start.model_name} ({start.arch}) {start.engine}, "
                               f"threshold {start.threshold:g}", soft_wrap=True)

    def progress(self):  # noqa: ANN201 - a context manager of a ProgressHandle
        return progress_bar(self.console, "scan", self.quiet)


def _nothing_to_scan(result: ScanResult) -> str:
    """What an empty scan found, and what to check."""
    skipped = result.stats.skipped
    found = (f"{sum(skipped.values()):,} file(s), none of them an image ({skipped_text(skipped)}; --list-skipped "
             "names them)" if skipped else "no image files")
    return (f"nothing to scan in {', '.join(result.inputs)}: {found}. Check the paths, and --include, --exclude or "
            f"--no-recursive if given (exit {int(ExitCode.NOTHING_TO_SCAN)}).")


def _resume_command(ctx: click.Context) -> str:
    """The command that finishes this scan: its arguments as typed, less --force, with --resume."""
    args = [arg for arg in ctx.meta.get("imgcheck.scan.args", []) if arg != "--force"]
    return shlex.join(["imgcheck", "scan", *args, *([] if "--resume" in args else ["--resume"])])


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what the closed pipe refused fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's runner)
        pass
