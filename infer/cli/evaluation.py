"""What a scan does with labeled images, as the CLI shows it: the evaluation options, the metric tables,
`--metrics`/`--json` and CI gates; and `--report`, the gallery every scan can write (with the metric plots when
images are labeled)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from imgcheck.infer.errors import ExitCode, ImgcheckError
from imgcheck.infer.evaluate.gates import Gate, breaches, parse_gates

TABLE_KEYS = ("n", "n_errors", "accuracy", "log_loss", "roc_auc", "average_precision", "mcc", "balanced_accuracy",
              "cohen_kappa", "precision", "recall", "f1", "f1_macro", "ece", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct")
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
        click.option("--json", "metrics_json", is_flag=True, help="Print the metrics JSON to stdout."),
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


@dataclass(frozen=True)
class EvaluationRequest:
    """What the user asked for about labeled images."""

    labels_file: str | None
    metrics_file: str | None
    metrics_json: bool
    report_dir: str | None
    gates: tuple[Gate, ...]

    @classmethod
    def from_options(cls, labels_file: str | None, metrics_file: str | None, metrics_json: bool,
                     report_dir: str | None, fail_under: tuple[str, ...], fail_over: tuple[str, ...]
                     ) -> EvaluationRequest:
        gates = parse_gates(fail_under, "under", "--fail-under") + parse_gates(fail_over, "over", "--fail-over")
        return cls(labels_file, metrics_file, metrics_json, report_dir, tuple(gates))

    @property
    def needs_labels(self) -> bool:
        """True when the user asked for something only labeled images can give (a report works without)."""
        return bool(self.labels_file or self.metrics_file or self.metrics_json or self.gates)

    def wanted(self, quiet: bool) -> bool:
        """True when the metrics of labeled images will be shown or kept: the tables (unless --quiet), a metrics
        file, --json, a gate, a report or --labels. A quiet scan asked for none of them computes no metrics."""
        return not quiet or self.needs_labels or self.report_dir is not None


def make_labeler(labels_file: str | None):  # noqa: ANN201
    """A Labeler from --labels (read now, so a bad file fails before any scanning) or from folder names."""
    from imgcheck.infer.evaluate.labels import LabelFile, Labeler

    return Labeler(LabelFile(labels_file) if labels_file else None)


def finish_evaluation(request: EvaluationRequest, scores, threshold: float, model: dict[str, Any],  # noqa: ANN001
                      inputs: list[str], console, quiet: bool) -> tuple[bool, dict[str, Any] | None]:
    """Report the metrics of the labeled rows in `scores`; returns (every gate passed, the metrics document or None
    when no labeled image was scored)."""
    if not scores.scored:
        if request.needs_labels:
            found = (f"{scores.labeled:,} labeled file(s), all unreadable" if scores.labeled
                     else "no scanned file has a label")
            raise ImgcheckError(f"cannot compute metrics: {found}. Put images under REAL/ and FAKE/ folders, or "
                                "pass --labels FILE (CSV path,label).")
        return True, None
    document = scores.document(threshold, model=model, inputs=inputs)
    if scores.unlabeled:
        examples = ", ".join(scores.unlabeled_examples[:3])
        console.print(f"[yellow]{scores.unlabeled:,} file(s) have no label and are not in the metrics[/] "
                      f"(e.g. {examples})", soft_wrap=True, markup=True, highlight=False)
    if not quiet:
        console.print(metrics_table(document))
        for kind, groups in document["groups"].items():
            console.print(subgroup_table(kind, groups))
    if request.metrics_file:
        from imgcheck.infer.atomic_write import write_json

        try:
            write_json(request.metrics_file, document)
        except OSError as exc:
            raise ImgcheckError(f"cannot write {request.metrics_file}: {exc.strerror or exc}")
    if request.metrics_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()
    failed = breaches(request.gates, document["metrics"])
    for message in failed:
        console.print(f"[bold red]gate failed:[/] {message}", soft_wrap=True, highlight=False)
    if request.gates and not failed and not quiet:
        console.print(f"[green]all {len(request.gates)} gate(s) passed[/]", highlight=False)
    return not failed, document


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


def exit_code(scan_errors: bool, strict: bool, gates_passed: bool) -> int:
    """The documented precedence: 1 (ERROR rows with --strict), then 4 (gate breached), then 3 (ERROR rows)."""
    if scan_errors and strict:
        return ExitCode.ERROR
    if not gates_passed:
        return ExitCode.GATE_FAILED
    if scan_errors:
        return ExitCode.SCAN_ERRORS
    return ExitCode.OK
