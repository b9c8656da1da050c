"""`imgcheck bench [MODEL...]`: images/s and latency of models, formats and devices, side by side and gateable."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from imgcheck.infer.cli.console import stderr_console, stdout_console
from imgcheck.infer.cli import options
from imgcheck.infer.errors import ExitCode, ImgcheckError, ModelFileError

GATE_KEYS = {"ips": "samples_per_sec", "speedup": "speedup"}
TABLE_COLUMNS = ("model", "format", "precision", "provider", "stage", "batch_size", "images/s", "min-max",
                 "p50 ms", "p95 ms", "p99 ms", "speed-up")


@click.command()
@click.argument("models", metavar="[MODEL]...", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Measure on the images in this folder.")
@click.option("--synthetic", type=click.IntRange(min=1), default=None,
              help="Measure on N generated JPEGs instead [default: 512 when --images is not given].")
@click.option("--size", default=None, metavar="WxH", help="Size of the synthetic images [default: the model input].")
@click.option("--batch-sizes", default="1,32,256", show_default=True, callback=options.comma_list(integers=True))
@options.device("Comma-separated devices to measure on.", default="cpu", several=True)
@click.option("--stages", default="infer,decode,scan", show_default=True,
              callback=options.comma_list(("infer", "decode", "scan")))
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
              help="Untimed batches before timing (decode/scan: one untimed pass when > 0).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed passes over the images; the median is reported.")
@options.threads("Runtime threads for the infer and scan stages [default: every core].")
@options.workers(help="Decoding processes for the decode and scan stages [default: one per core for decode; the scan "
                      "sizes them as `imgcheck scan` does].")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also write the records to FILE as a JSON list of flat objects.")
@options.json_flag("the records (a list of flat objects)", instead="the table")
@click.option("--markdown", is_flag=True, help="Print a Markdown table to stdout instead of a rich table.")
@click.option("--fail-below", multiple=True, metavar="[STAGE.]METRIC=VALUE",
              help="Exit 4 when a record's ips (images/s) or speedup is below VALUE, e.g. ips=5000 or scan.ips=900.")
@options.quiet_option
@click.pass_context
def bench(ctx: click.Context, models: tuple[str, ...], images: str | None, synthetic: int | None, size: str | None,
          batch_sizes: list[int], devices: list[str], stages: list[str], warmup: int, repeat: int,
          threads: int | None, workers: int | None, out_file: str | None, as_json: bool, markdown: bool,
          fail_below: tuple[str, ...], quiet: bool) -> None:
    """Measure images/s and per-batch latency of MODELs (.onnx, TorchScript .pt, or a training checkpoint,
    which runs as eager PyTorch; default: the bundled model) for every device, stage and batch size, and
    compare them side by side.

    \b
    Stages: infer (the model alone on ready tensors), decode (decode + resize with the scan's workers),
    scan (the whole scan pipeline on the folder). Exit codes: 0 done; 4 a --fail-below gate failed.
    """
    from imgcheck.infer.bench.measure import bench_model, parse_size, synthetic_images
    from imgcheck.infer.scan.balance import available_cores, default_threads
    from imgcheck.infer.system import system_info

    if not models:
        from imgcheck.infer.models.bundled import bundled_model_path

        models = (str(bundled_model_path()),)
    if images and synthetic:
        raise click.UsageError("use --images DIR or --synthetic N, not both")
    if as_json and any(model.lower().endswith(".json") for model in models):
        raise click.UsageError("--json is a flag (the records as JSON on stdout); to write them to a file, use "
                               "--out FILE")
    if as_json and markdown:
        raise click.UsageError("use --json or --markdown, not both (--out FILE writes the JSON beside a table)")
    gates = _parse_gates(fail_below)
    console = stderr_console(quiet)
    entries = [bench_model(path) for path in models]
    threads = default_threads(available_cores(), threads)
    system = system_info()
    with tempfile.TemporaryDirectory(prefix="imgcheck-bench-") as scratch:
        if images:
            folder = images
        else:
            try:
                width_height = parse_size(size) if size else tuple(entries[0].meta.input_size[:0:-1])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--size")
            folder = os.path.join(scratch, "images")
            count = synthetic or 512
            with console.status(f"writing {count} synthetic {width_height[0]}x{width_height[1]} JPEGs"):
                synthetic_images(Path(folder), count, width_height)
        records = _measure(entries, folder, batch_sizes, devices, stages, warmup, repeat, threads, workers, console)
    _add_speedups(records)
    for record in records:
        record.update(cpu=system["cpu"], gpu=", ".join(system["gpus"]) or None,
                      **{f"{lib}_version": system.get(lib) for lib in ("onnxruntime", "torch", "numpy", "pillow")})
    if out_file:
        Path(out_file).write_text(json.dumps(records, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        _print(records, system, markdown)
    failed = [message for record in records for message in _breaches(gates, record)]
    for message in failed:
        console.print(f"[bold red]gate failed:[/] {message}", highlight=False, soft_wrap=True)
    if failed:
        ctx.exit(ExitCode.GATE_FAILED)


def _measure(entries, folder: str, batch_sizes: list[int], devices: list[str], stages: list[str],  # noqa: ANN001
             warmup: int, repeat: int, threads: int, workers: int | None,
             console) -> list[dict[str, Any]]:  # noqa: ANN001
    from imgcheck.infer.bench.measure import ready_tensors, time_decode, time_infer, time_scan
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.scan.balance import available_cores
    from imgcheck.infer.scan.discover import Selection, discover

    decoders = available_cores() if workers is None else workers  # the decode stage's workers

    paths = list(discover([folder], Selection()))
    if not paths:
        raise ImgcheckError(f"{folder}: no images to measure on.")
    records: list[dict[str, Any]] = []
    tensors: dict[str, Any] = {}
    decoded: set[tuple[str, int]] = set()
    for device in devices:
        for entry in entries:
            try:
                backend = entry.load(device, threads) if ("infer" in stages or "scan" in stages) else None
            except ModelFileError:
                raise  # a refused or unreadable model is an error, never a device to skip
            except ImgcheckError as exc:
                console.print(f"[yellow]skipped {entry.name} on {device}:[/] {exc.format_message()}", highlight=False)
                continue
            base = _describe(entry, device, backend, decoders)
            scan_backend = backend if "scan" in stages else None  # the same threads as `imgcheck scan` gives it
            preprocessing = json.dumps([Preprocessor.from_meta(entry.meta).pixel_rule(), entry.meta.mean,
                                        entry.meta.std])
            for batch_size in batch_sizes:
                if "infer" in stages:
                    if preprocessing not in tensors:
                        tensors[preprocessing] = ready_tensors(paths, entry.meta, decoders)
                    with console.status(f"infer: {entry.name} on {device}, batch {batch_size}"):
                        timing = time_infer(backend, tensors[preprocessing], batch_size, warmup, repeat,
                                            backend.synchronize)
                    records.append({**base, "stage": "infer", "batch_size": batch_size, "threads": threads,
                                    "workers": 0, **_pass_info(timing, warmup, repeat)})
                if "decode" in stages and (preprocessing, batch_size) not in decoded:
                    decoded.add((preprocessing, batch_size))
                    with console.status(f"decode: {len(paths):,} images for {entry.name}, batch {batch_size}"):
                        timing = time_decode(paths, entry.meta, batch_size, decoders, warmup, repeat)
                    records.append({**base, "format": "-", "precision": "uint8", "device": "cpu",
                                    "provider": f"{decoders} decoding worker(s)", "stage": "decode",
                                    "batch_size": batch_size, "threads": 0, **_pass_info(timing, warmup, repeat)})
                if scan_backend is not None:
                    with console.status(f"scan: {entry.name} on {device}, batch {batch_size}"):
                        timing = time_scan(folder, scan_backend, entry.meta, batch_size, workers, warmup, repeat,
                                           scan_backend.synchronize, threads=threads)
                    split = timing.split
                    records.append({**base, "stage": "scan", "batch_size": batch_size, "threads": threads,
                                    "workers": split.workers if split else workers,
                                    **_pass_info(timing, warmup, repeat)})
    if not records:
        raise ImgcheckError("nothing could be measured (see the messages above).")
    return records


def _describe(entry, device: str, backend, workers: int) -> dict[str, Any]:  # noqa: ANN001
    channels, height, width = entry.meta.input_size
    return {"model": entry.name, "arch": entry.meta.arch, "format": entry.format, "precision": entry.precision,
            "device": device, "provider": getattr(backend, "provider", device), "img_size": f"{width}x{height}",
            "param_count": backend.parameter_count() if backend is not None else None,
            "file_bytes": entry.file_bytes, "workers": workers}


def _pass_info(timing, warmup: int, repeat: int) -> dict[str, Any]:  # noqa: ANN001
    return {**timing.summary(), "images": timing.images, "warmup": warmup, "repeat": repeat}


def _add_speedups(records: list[dict[str, Any]]) -> None:
    """speedup = images/s over that of the first record with the same stage and batch size."""
    first: dict[tuple[str, int], float] = {}
    for record in records:
        key = (record["stage"], record["batch_size"])
        first.setdefault(key, record["samples_per_sec"])
        record["speedup"] = record["samples_per_sec"] / first[key]


def _parse_gates(texts: tuple[str, ...]):  # noqa: ANN202 - list of (stage or None, Gate)
    from imgcheck.infer.evaluate.gates import Gate

    gates = []
    for text in texts:
        key, sep, bound = text.partition("=")
        stage, dot, metric = key.strip().rpartition(".")
        try:
            value = float(bound)
        except ValueError:
            value = None
        if not sep or metric not in GATE_KEYS or (dot and stage not in ("infer", "decode", "scan")) or value is None:
            raise click.BadParameter(f"{text!r}: expected [STAGE.]METRIC=VALUE with METRIC ips or speedup and STAGE "
                                     "infer, decode or scan", param_hint="--fail-below")
        gates.append((stage or None, Gate(GATE_KEYS[metric], value, "under")))
    return gates


def _breaches(gates, record: dict[str, Any]) -> list[str]:  # noqa: ANN001
    label = (f"{record['stage']} {record['model']} ({record['format']}, {record['provider']}, batch "
             f"{record['batch_size']})")
    return [f"{label}: {message}" for stage, gate in gates if stage in (None, record["stage"])
            and (message := gate.breach(record))]


def _print(records: list[dict[str, Any]], system: dict[str, Any], markdown: bool) -> None:
    rows = [_row(r) for r in records]
    versions = ", ".join(f"{lib} {system[lib]}" for lib in ("onnxruntime", "torch", "numpy", "pillow") if lib in system)
    header = f"{system['cpu']}; GPU: {', '.join(system['gpus']) or 'none'}; {versions}"
    if markdown:
        click.echo(header + "\n")
        click.echo("| " + " | ".join(TABLE_COLUMNS) + " |")
        click.echo("|" + "---|" * 6 + "---:|" * (len(TABLE_COLUMNS) - 6))
        for row in rows:
            click.echo("| " + " | ".join(row) + " |")
        return
    from rich.table import Table

    console = stdout_console(width=200)
    table = Table(title=header, title_justify="left")
    for index, column in enumerate(TABLE_COLUMNS):
        table.add_column(column, justify="left" if index < 5 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _row(r: dict[str, Any]) -> list[str]:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return [r["model"], r["format"], r["precision"], r["provider"], r["stage"], str(r["batch_size"]),
            f"{r['samples_per_sec']:,.0f}", f"{r['samples_per_sec_min']:,.0f}-{r['samples_per_sec_max']:,.0f}",
            ms(r["step_time_ms_p50"]), ms(r["step_time_ms_p95"]), ms(r["step_time_ms_p99"]), f"{r['speedup']:.2f}x"]
