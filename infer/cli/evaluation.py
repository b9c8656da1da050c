"""What a scan does with labeled images, as the CLI declares and shows it: the evaluation options (`--labels`,
`--metrics`, `--json`, `--report`, the CI gates) and the metric tables. The work itself is the library's
(`imgcheck.infer.scan.job.ScanJob`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from imgcheck.infer.cli.options import json_flag

if TYPE_CHECKING:
    from imgcheck.infer.scan.job import ScanResult

TABLE_KEYS = ("n", "n_errors", "n_abstained", "accuracy", "log_loss", "roc_auc", "average_precision", "mcc",
              "balanced_accuracy", "cohen_kappa", "precision", "recall", "f1", "f1_macro", "ece", "tpr_at_fpr_1pct",
              "tpr_at_fpr_5pct")
SUBGROUP_KEYS = ("n", "n_errors", "accuracy", "roc_auc", "f1")


def labels_option(f: Callable) -> Callable:
    """`--labels FILE`: ground truth from a `path,label` CSV instead of REAL/FAKE folder names."""
    return click.option("--labels", "labels_file", type=click.Path(dir_okay=False), default=None,
                        help="CSV of path,label (REAL/FAKE or 0/1) [default: labels from REAL/FAKE folders].")(f)


def evaluation_options(f: Callable) -> Callable:
    """The options that turn a scan of labeled images into an evaluation step."""
    options = [
        labels_option,
        click.option("--metrics", "metrics_file", type=click.Path(dir_okay=False), default=None,
                     help="Write the metrics of labeled images as JSON to this file."),
        json_flag("the metrics", dest="metrics_json"),
        click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
                     help="Write a self-contained report into this folder: index.html with thumbnails ranked by "
                          "p_fake, a p_fake histogram and, for labeled images, the metric plots and the most "
                          "confident mistakes."),
        click.option("--report-limit", type=click.IntRange(min=0), default=200, show_default=True,
                     help="Thumbnails in the report's ranking (plus a tenth as many per kind of mistake)."),
        click.option("--fail-under", multiple=True, metavar="METRIC=VALUE",
                     help="Exit 4 when METRIC is below VALUE (repeatable), e.g. accuracy=0.95."),
        click.option("--fail-over", multiple=True, metavar="METRIC=VALUE",
                     help="Exit 4 when METRIC is above VALUE (repeatable), e.g. ece=0.05."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def print_evaluation(result: ScanResult, console, quiet: bool, metrics_json: bool) -> None:  # noqa: ANN001
    """Show what a scan's labeled images gave: the unlabeled notice, the metric tables (unless `quiet`), the metrics
    JSON on stdout (`--json`) and each gate's verdict."""
    document = result.metrics
    if document is None:
        return
    scores = result.scores
    if scores.unlabeled:
        examples = ", ".join(scores.unlabeled_examples[:3])
        console.print(f"[yellow]{scores.unlabeled:,} file(s) have no label and are not in the metrics[/] "
                      f"(e.g. {examples})", soft_wrap=True, markup=True, highlight=False)
    if scores.abstained:
        console.print(f"[yellow]{scores.abstained:,} labeled file(s) are UNSURE (far outside the model's training "
                      "sizes, --abstain-out-of-domain) and are not in the metrics or the gates[/]", soft_wrap=True,
                      markup=True, highlight=False)
    if not quiet:
        console.print(metrics_table(document))
        for kind, groups in document["groups"].items():
            console.print(subgroup_table(kind, groups))
    if metrics_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()
    for message in result.gate_failures:
        console.print(f"[bold red]gate failed:[/] {message}", soft_wrap=True, highlight=False)
    if result.gates and not result.gate_failures and not quiet:
        console.print(f"[green]all {len(result.gates)} gate(s) passed[/]", highlight=False)


def metrics_table(document: dict[str, Any]):  # noqa: ANN201
    """The overall metrics as a two-column rich table."""
    from rich.table import Table

    from imgcheck.infer.evaluate.metrics import format_metric

    labels = document["labels"]
    title = f"metrics: {labels['labeled']:,} labeled files (FAKE = positive), threshold {document['threshold']:g}"
    table = Table(title=title, title_justify="left", show_header=False, box=None, min_width=len(title))
    table.add_column(style="bold")
    table.add_column(justify="right")
    metrics = document["metrics"]
    for key in TABLE_KEYS:
        table.add_row(key, format_metric(metrics[key]))
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    table.add_row("confusion", f"TN {tn:,}  FP {fp:,}  FN {fn:,}  TP {tp:,}")
    return table


def subgroup_table(kind: str, groups: dict[str, dict[str, Any]]):  # noqa: ANN201
    """One row per subgroup (folder or CIFAR category)."""
    from rich.table import Table

    from imgcheck.infer.evaluate.metrics import format_metric

    table = Table(title=f"per {kind}", title_justify="left", box=None)
    table.add_column(kind, style="bold")
    for key in SUBGROUP_KEYS:
        table.add_column(key, justify="right")
    for name, metrics in groups.items():
        table.add_row(name, *(format_metric(metrics[key]) for key in SUBGROUP_KEYS))
    return table
