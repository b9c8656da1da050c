"""`--report DIR`: plots of a labeled scan (matplotlib, headless) and a one-page index.html with the numbers.

Files: roc.png, precision_recall.png, confusion_matrix.png, reliability.png, scores.png, index.html.
Figures are drawn on `matplotlib.figure.Figure` directly (no pyplot), so no display or GUI backend is touched.
"""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np

from imgcheck.infer.evaluate.metrics import ECE_BINS, METRIC_KEYS, calibration_bins, format_metric

PLOTS = {
    "roc.png": "ROC curve",
    "precision_recall.png": "Precision-recall curve",
    "confusion_matrix.png": "Confusion matrix",
    "reliability.png": "Reliability diagram",
    "scores.png": "Score histogram per class",
}
_SUBGROUP_COLUMNS = ("n", "n_errors", "accuracy", "roc_auc", "f1", "precision", "recall", "log_loss")


def write_report(folder: str, document: dict[str, Any], y: np.ndarray, p: np.ndarray) -> list[str]:
    """Write every plot and index.html into `folder` (created if needed); returns the files written."""
    os.makedirs(folder, exist_ok=True)
    threshold = float(document["threshold"])
    both = len(np.unique(y)) == 2
    drawers = {
        "roc.png": lambda ax: _roc(ax, y, p) if both else _only_one_class(ax),
        "precision_recall.png": lambda ax: _precision_recall(ax, y, p) if both else _only_one_class(ax),
        "confusion_matrix.png": lambda ax: _confusion(ax, document["metrics"]["confusion_matrix"]),
        "reliability.png": lambda ax: _reliability(ax, y, p),
        "scores.png": lambda ax: _scores(ax, y, p, threshold),
    }
    written = []
    for name, draw in drawers.items():
        path = os.path.join(folder, name)
        _save(draw, path, PLOTS[name])
        written.append(path)
    index = os.path.join(folder, "index.html")
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(render_html(document))
    written.append(index)
    return written


def _save(draw, path: str, title: str) -> None:  # noqa: ANN001
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    draw(ax)
    ax.set_title(title)
    fig.savefig(path, dpi=100)


def _roc(ax, y: np.ndarray, p: np.ndarray) -> None:  # noqa: ANN001
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, p):.4f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false-positive rate (REAL called FAKE)", ylabel="true-positive rate (FAKE caught)",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")


def _precision_recall(ax, y: np.ndarray, p: np.ndarray) -> None:  # noqa: ANN001
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, p)
    ax.plot(recall, precision, label=f"AP {average_precision_score(y, p):.4f}")
    ax.axhline(y.mean(), linestyle=":", color="grey", label=f"chance {y.mean():.2f}")
    ax.set(xlabel="recall (FAKE)", ylabel="precision (FAKE)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")


def _confusion(ax, matrix: list[list[int]]) -> None:  # noqa: ANN001
    cells = np.asarray(matrix)
    ax.imshow(cells, cmap="Blues")
    for (row, col), count in np.ndenumerate(cells):
        ax.text(col, row, f"{count:,}", ha="center", va="center",
                color="white" if count > cells.max() / 2 else "black", fontsize=12)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["REAL", "FAKE"], yticklabels=["REAL", "FAKE"],
           xlabel="predicted", ylabel="true")


def _reliability(ax, y: np.ndarray, p: np.ndarray) -> None:  # noqa: ANN001
    count, positives, _ = calibration_bins(y, p, ECE_BINS)
    filled = count > 0
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    ax.bar(centres[filled], positives[filled] / count[filled], width=1 / ECE_BINS, edgecolor="black", alpha=0.7,
           label="fraction FAKE")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    ax.set(xlabel="predicted p_fake (bin)", ylabel="fraction actually FAKE", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")


def _scores(ax, y: np.ndarray, p: np.ndarray, threshold: float) -> None:  # noqa: ANN001
    bins = np.linspace(0, 1, 41)
    for label, name, colour in ((0, "REAL", "tab:blue"), (1, "FAKE", "tab:red")):
        if (y == label).any():
            ax.hist(p[y == label], bins=bins, alpha=0.6, color=colour, label=f"{name} ({(y == label).sum():,})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set(xlabel="p_fake", ylabel="images", xlim=(0, 1))
    ax.legend(loc="upper center")


def _only_one_class(ax) -> None:  # noqa: ANN001
    ax.text(0.5, 0.5, "undefined: only one class is labeled", ha="center", va="center")
    ax.set_axis_off()


def render_html(document: dict[str, Any]) -> str:
    """The one-page report: model, label counts, every metric, the plots, and the subgroup tables."""
    e = html.escape
    model = document.get("model") or {}
    labels = document["labels"]
    metrics = document["metrics"]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(format_metric(metrics.get(k)))}</td></tr>" for k in METRIC_KEYS)
    figures = "".join(f'<figure><img src="{e(name)}" alt="{e(title)}"><figcaption>{e(title)}</figcaption></figure>'
                      for name, title in PLOTS.items())
    subgroup_tables = []
    for kind, groups in document.get("groups", {}).items():
        head = "".join(f"<th>{e(c)}</th>" for c in ("group", *_SUBGROUP_COLUMNS))
        body = "".join("<tr><td>" + e(name) + "</td>" + "".join(f"<td>{e(format_metric(m.get(c)))}</td>"
                                                              for c in _SUBGROUP_COLUMNS) + "</tr>"
                       for name, m in groups.items())
        subgroup_tables.append(f"<h2>Per {e(kind)}</h2><table><tr>{head}</tr>{body}</table>")
    unlabeled = ""
    if labels["unlabeled"]:
        examples = "".join(f"<li>{e(path)}</li>" for path in labels["unlabeled_examples"])
        unlabeled = f"<p>{labels['unlabeled']:,} files had no label and are not scored, for example:</p><ul>{examples}</ul>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imgcheck report: {e(str(model.get('name', '')))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; }} td {{ text-align: right; font-variant-numeric: tabular-nums; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 1em; }} figure {{ margin: 0; }} img {{ width: 24em; }}
</style></head><body>
<h1>imgcheck report</h1>
<p>Model <code>{e(str(model.get('name', '?')))}</code> ({e(str(model.get('arch', '?')))}), sha256
<code>{e(str(model.get('sha256', '?')))}</code>; threshold {document['threshold']:g} (FAKE when p_fake &ge; threshold).<br>
Inputs: {e(', '.join(document.get('inputs', [])))}. Labels from {e(labels['source'])}: {labels['labeled']:,} labeled
files, {metrics['n_errors']:,} of them unreadable (not scored).</p>
{unlabeled}
<div class="figures">{figures}</div>
<h2>Metrics (FAKE is the positive class)</h2><table>{rows}</table>
{''.join(subgroup_tables)}
</body></html>
"""

