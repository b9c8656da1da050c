"""`imgcheck calibrate MODEL LABELED_DIR`: pick the decision threshold on a labeled validation set and write a
copy of the model whose ModelMeta carries it."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

import click

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.evaluation import labels_option
from imgcheck.infer.cli.options import json_flag, quiet_option, scan_options
from imgcheck.infer.errors import ImgcheckError


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("labeled_dir", metavar="LABELED_DIR", type=click.Path(exists=True))
@click.option("--objective", default="balanced_accuracy", show_default=True,
              help="balanced_accuracy, f1 (of FAKE), or fpr=X: the most FAKE caught with at most X of REAL flagged.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the calibrated model here (ONNX or TorchScript, like MODEL) [default: only report].")
@labels_option
@scan_options
@json_flag("the calibration record")
@quiet_option
def calibrate(model_path: str, labeled_dir: str, objective: str, out_path: str | None, labels_file: str | None,
              batch_size: int, workers: int | None, threads: int | None, device: str, no_draft: bool, as_json: bool,
              quiet: bool) -> None:
    """Choose MODEL's decision threshold on the labeled images in LABELED_DIR.

    LABELED_DIR holds images under REAL/ and FAKE/ folders (or use --labels). Use a validation set,
    never the test set you report. With --out, the new model records the threshold, the objective and
    the set in its ModelMeta provenance; scans then use that threshold.
    """
    from imgcheck.infer.evaluate.metrics import binary_metrics
    from imgcheck.infer.evaluate.threshold import Objective, choose_threshold
    from imgcheck.infer.models.model_file import CHECKPOINT, ModelFile
    from imgcheck.infer.scan.job import ScanJob

    try:
        goal = Objective.parse(objective)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--objective")
    model_file = ModelFile.open(model_path)
    if out_path and model_file.carrier == CHECKPOINT:
        raise ImgcheckError(f"{model_path} is a training checkpoint: export it (`imgcheck export`) and calibrate the "
                            "ONNX or TorchScript file.")
    meta = model_file.meta
    console = stderr_console()
    job = ScanJob((labeled_dir,), model_file, out=None, labels=labels_file, batch_size=batch_size, workers=workers,
                  threads=threads, device=device, draft=not no_draft, provenance=False,  # scores alone choose it
                  scores_only=True)
    status = console.status(f"scoring {labeled_dir} with {model_file.name}")
    with contextlib.nullcontext() if quiet else status:
        scores = job.run().scores
    y, p = scores.arrays()
    if scores.scored == 0 or len(set(y.tolist())) < 2:
        raise ImgcheckError(f"{labeled_dir}: calibration needs readable REAL and FAKE images; found "
                            f"{int((y == 0).sum()):,} REAL and {int(y.sum()):,} FAKE ({scores.unlabeled:,} unlabeled, "
                            f"{scores.labeled - scores.scored:,} unreadable).")
    choice = choose_threshold(y, p, goal)
    before = binary_metrics(y, p, meta.threshold)
    after = binary_metrics(y, p, choice.threshold)
    record = _record(choice, meta.threshold, labeled_dir, scores, labels_file, after)
    if not quiet:
        console.print(_table(before, after, meta.threshold, choice))
        if goal.max_fpr is not None and after["n_real"] * goal.max_fpr < 1:
            console.print(f"[yellow]{after['n_real']:,} REAL images cannot resolve a false-positive rate of "
                          f"{goal.max_fpr:g}: use a larger set.[/]", highlight=False)
        if scores.unlabeled:
            console.print(f"{scores.unlabeled:,} unlabeled file(s) were ignored.", highlight=False)
    if out_path:
        from dataclasses import replace

        from imgcheck.infer.models.rewrite import write_model_with_meta

        extra = {**meta.provenance.extra, "calibration": record}
        new_meta = meta.replace(threshold=choice.threshold, provenance=replace(meta.provenance, extra=extra))
        write_model_with_meta(model_file, out_path, new_meta)
        if not quiet:
            console.print(f"wrote {out_path} (threshold {choice.threshold:.6g})", highlight=False)
    elif not quiet:
        console.print("nothing written: pass --out NEW_MODEL to save a model with this threshold.", highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")


def _record(choice, previous: float, labeled_dir: str, scores, labels_file: str | None,  # noqa: ANN001
            after: dict[str, Any]) -> dict[str, Any]:
    from imgcheck.infer.version import imgcheck_version

    return {
        "objective": choice.objective, "threshold": choice.threshold, "previous_threshold": previous,
        "objective_value": choice.value, "tpr": choice.tpr, "fpr": choice.fpr,
        "set": os.path.abspath(labeled_dir), "labels": os.path.abspath(labels_file) if labels_file else "folders",
        "n": after["n"], "n_real": after["n_real"], "n_fake": after["n_fake"],
        "n_errors": scores.labeled - scores.scored, "unlabeled": scores.unlabeled,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "imgcheck_version": imgcheck_version(),
    }


def _table(before: dict[str, Any], after: dict[str, Any], previous: float, choice):  # noqa: ANN001, ANN202
    from rich.table import Table

    from imgcheck.infer.evaluate.metrics import format_metric

    table = Table(title=f"calibration ({choice.objective}) on {after['n']:,} images "
                        f"({after['n_real']:,} REAL, {after['n_fake']:,} FAKE)", title_justify="left")
    table.add_column("")
    table.add_column(f"threshold {previous:.6g}", justify="right")
    table.add_column(f"threshold {choice.threshold:.6g}", justify="right", style="bold")
    for key in ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "mcc"):
        table.add_row(key, format_metric(before[key]), format_metric(after[key]))
    table.add_row("false-positive rate", f"{_fpr(before):.4f}", f"{_fpr(after):.4f}")
    return table


def _fpr(metrics: dict[str, Any]) -> float:
    (tn, fp), _ = metrics["confusion_matrix"]
    return fp / (tn + fp) if tn + fp else 0.0

