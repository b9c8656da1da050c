"""`imgcheck info MODEL`: show the ModelMeta a model file carries."""

from __future__ import annotations

import json
from pathlib import Path

import click

from imgcheck.infer.cli.console import stdout_console
from imgcheck.infer.cli.options import json_flag
from imgcheck.infer.models.model_file import ModelFile


@click.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--list", "list_shipped", is_flag=True, help="List the models shipped with imgcheck, by name.")
@json_flag("the ModelMeta", instead="a table")
def info(model: Path | None, list_shipped: bool, as_json: bool) -> None:
    """Show the metadata (ModelMeta) that MODEL carries: preprocessing, labels, threshold, provenance.

    MODEL is an ONNX file, a TorchScript file, a training checkpoint (the last needs torch), or the name of a
    model shipped with imgcheck (--list shows them); without it, the bundled model. Exits 1 when the file has
    no valid imgcheck metadata.
    """
    from imgcheck.infer.models.bundled import open_model_file

    if list_shipped:
        if model is not None:
            raise click.UsageError("--list shows the shipped models; give no MODEL with it.")
        _list_shipped(as_json)
        return
    file_info = open_model_file(model)
    if as_json:
        click.echo(json.dumps(file_info.meta.to_dict(), indent=2, sort_keys=True))
        return
    stdout_console(width=120).print(_meta_table(file_info))  # pipes and logs: the sha256 stays on one line


def _list_shipped(as_json: bool) -> None:
    """The shipped models: name, file, size, what it is (the first one is the default)."""
    from rich.table import Table

    from imgcheck.infer.models.shipped import DEFAULT_MODEL, SHIPPED, shipped_model_path

    rows = [{"name": m.name, "file": m.file, "size_bytes": shipped_model_path(m.name).stat().st_size,
             "default": m.name == DEFAULT_MODEL, "summary": m.summary} for m in SHIPPED.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="models shipped with imgcheck (--model NAME)", title_justify="left")
    for column in ("name", "file", "size", "what it is"):
        table.add_column(column, overflow="fold")
    for row in rows:
        name = row["name"] + (" (default)" if row["default"] else "")
        table.add_row(name, row["file"], f"{row['size_bytes'] / 1e6:.1f} MB", row["summary"])
    stdout_console(width=120).print(table)


def _meta_table(file_info: ModelFile):  # -> rich.table.Table
    from rich.table import Table

    meta = file_info.meta
    table = Table(title=f"{file_info.path}", title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")

    def section(title: str) -> None:
        table.add_row(f"[bold]{title}[/bold]", "", style="dim")

    fmt = file_info.format
    table.add_row("format", f"{fmt.name}: {fmt.description} ({file_info.size_bytes:,} bytes)")
    table.add_row("sha256", file_info.sha256())
    for key, value in file_info.details.items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("arch", meta.arch)
    section("preprocessing")
    channels, height, width = meta.input_size
    table.add_row("input", f"{channels}x{height}x{width} (C, H, W), float32, NCHW")
    crop = f", {meta.crop_offset} crop offset" if meta.resize_size is not None else ""
    table.add_row("resize", f"{meta.describe_resize()}, antialias={'on' if meta.antialias else 'off'}{crop}")
    table.add_row("mean", _floats(meta.mean))
    table.add_row("std", _floats(meta.std))
    section("output")
    table.add_row("classes", ", ".join(meta.class_names) + f" (positive: {meta.positive_class})")
    per_class = meta.output in ("softmax", "logits")
    positives = " + ".join(meta.positive_classes or (meta.positive_class,))
    table.add_row("output", f"{meta.output} per class (p_fake: {positives}, index "
                            f"{', '.join(map(str, meta.positive_indices))})"
                  if per_class else f"{meta.output} of {meta.positive_class}")
    table.add_row("threshold", f"{meta.threshold:g} ({meta.positive_class} when p >= threshold)")
    section("provenance")
    prov = meta.provenance
    for name in ("dataset", "train_size", "val_size", "test_size", "seed", "epochs", "selection_metric"):
        value = getattr(prov, name)
        if value is not None:
            table.add_row(name.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
    if prov.train_image_sizes is not None:
        (low_h, low_w), (high_h, high_w) = prov.train_image_sizes
        table.add_row("train image sizes", f"{low_w}×{low_h}" + ("" if (low_h, low_w) == (high_h, high_w)
                                                                  else f" to {high_w}×{high_h}") + " (W×H)")
    for name, value in sorted(prov.test_metrics.items()):
        table.add_row(f"test {name}", f"{value:.4f}" if isinstance(value, float) else json.dumps(value))
    for name, value in sorted(prov.extra.items()):
        table.add_row(name, value if isinstance(value, str) else json.dumps(value))
    table.add_row("imgcheck", f"{meta.imgcheck_version} (schema {meta.schema_version})")
    return table


def _floats(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.4g}" for v in values)
