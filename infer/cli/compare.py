"""`imgcheck compare METRICS.json...`: models side by side, shaped like the report's Table 4 (accuracy and risk)
and its supplementary table (ROC-AUC, MCC, balanced accuracy, Cohen's kappa, F1 and more).

Reads `imgcheck scan --metrics` files and `imgcheck train` summary.json files (their test metrics).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import click

from imgcheck.infer.errors import ImgcheckError

MAIN_COLUMNS = (("n", "n"), ("accuracy", "accuracy"), ("log_loss", "risk (log loss)"))
SUPPLEMENTARY_COLUMNS = (
    ("roc_auc", "ROC-AUC"), ("average_precision", "AP"), ("mcc", "MCC"), ("balanced_accuracy", "balanced acc."),
    ("cohen_kappa", "Cohen's kappa"), ("f1", "F1"), ("ece", "ECE"), ("tpr_at_fpr_1pct", "TPR@1%FPR"),
)
_BEST_IS_MAX = {"accuracy": True, "log_loss": False}


@dataclass(frozen=True)
class Entry:
    """One row: a model evaluated on one set."""

    name: str
    evaluated_on: str
    metrics: dict[str, Any]


def load_entries(path: str, untrained: bool = False) -> list[Entry]:
    """The rows one metrics file gives: a scan metrics document, or a training summary (plus, with
    `untrained`, its epoch-0 baseline)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ImgcheckError(f"{path}: cannot read it ({exc.strerror or exc}).")
    except ValueError as exc:
        raise ImgcheckError(f"{path}: not JSON ({exc}).")
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict) and "labels" in data:
        model = data.get("model") or {}
        inputs = ", ".join(os.path.basename(os.path.normpath(i)) for i in data.get("inputs", []))
        return [Entry(str(model.get("name", os.path.basename(path))), inputs, data["metrics"])]
    if isinstance(data, dict) and isinstance(data.get("test_metrics"), dict):
        run = os.path.basename(os.path.dirname(os.path.abspath(path)))
        info = data.get("data", {})
        evaluated_on = f"{os.path.basename(str(info.get('root', '?')))} test"
        entries = [Entry(f"{run} ({data.get('arch', '?')})", evaluated_on, data["test_metrics"])]
        for source, metrics in (data.get("test_metrics_by_source") or {}).items():  # each source's test images
            entries.append(Entry(f"{run} ({data.get('arch', '?')})", f"{source} test", metrics))
        baseline = data.get("untrained") or {}
        if untrained and baseline.get("test_accuracy") is not None:
            entries.insert(0, Entry(f"untrained {data.get('arch', '?')}", evaluated_on,
                                    {"n": data["test_metrics"].get("n"), "accuracy": baseline["test_accuracy"],
                                     "log_loss": baseline.get("test_loss")}))
        return entries
    raise ImgcheckError(f"{path}: neither an `imgcheck scan --metrics` file nor a training summary.json.")


@click.command()
@click.argument("metrics_files", metavar="METRICS.json...", nargs=-1, required=True, type=click.Path())
@click.option("--markdown", is_flag=True, help="Print GitHub-flavoured Markdown tables instead of rich tables.")
@click.option("--untrained", is_flag=True, help="Add each training summary's untrained baseline row.")
def compare(metrics_files: tuple[str, ...], markdown: bool, untrained: bool) -> None:
    """Print models side by side from `scan --metrics` files or training summary.json files.

    A metric missing from a file (older summaries lack some) shows as n/a; one undefined for the data
    (ROC-AUC with one class) as undefined.
    """
    entries = [entry for path in metrics_files for entry in load_entries(path, untrained)]
    tables = (("Accuracy and risk (the report's Table 4)", MAIN_COLUMNS),
              ("Supplementary metrics", SUPPLEMENTARY_COLUMNS))
    if markdown:
        click.echo("\n\n".join(markdown_table(title, entries, columns) for title, columns in tables))
        return
    from imgcheck.infer.cli.console import stdout_console

    console = stdout_console(width=200)  # a file or a pipe: do not squeeze the columns into 80 characters
    for title, columns in tables:
        console.print(rich_table(title, entries, columns))


def _cells(entries: list[Entry], columns: tuple[tuple[str, str], ...]) -> list[list[str]]:
    from imgcheck.infer.evaluate.metrics import format_metric

    rows = []
    for entry in entries:
        rows.append([entry.name, entry.evaluated_on] + [format_metric(entry.metrics[key]) if key in entry.metrics
                                                        else "n/a" for key, _ in columns])
    return rows


def _best(entries: list[Entry], key: str) -> float | None:
    values = [e.metrics.get(key) for e in entries if e.metrics.get(key) is not None]
    if key not in _BEST_IS_MAX or len(values) < 2:
        return None
    return max(values) if _BEST_IS_MAX[key] else min(values)


def markdown_table(title: str, entries: list[Entry], columns: tuple[tuple[str, str], ...]) -> str:
    """A Markdown table with a bold best value in the accuracy and risk columns."""
    header = ["model", "evaluated on", *(label for _, label in columns)]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * len(columns)]
    best = {key: _best(entries, key) for key, _ in columns}
    for entry, cells in zip(entries, _cells(entries, columns)):
        for index, (key, _) in enumerate(columns, start=2):
            if best[key] is not None and entry.metrics.get(key) == best[key]:
                cells[index] = f"**{cells[index]}**"
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def rich_table(title: str, entries: list[Entry], columns: tuple[tuple[str, str], ...]):  # noqa: ANN201
    """The same table for a terminal."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("model", style="bold")
    table.add_column("evaluated on")
    for _, label in columns:
        table.add_column(label, justify="right")
    for cells in _cells(entries, columns):
        table.add_row(*cells)
    return table
