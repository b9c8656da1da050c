"""`--report DIR`: one self-contained folder for any scan: index.html, a p_fake histogram, the gallery's
thumbnails and, when images are labeled, the metric plots.

Files: index.html, histogram.png, thumbs/NNNNN.jpg (at most --report-limit ranked images plus the mistakes), and
with labels roc.png, precision_recall.png, confusion_matrix.png, reliability.png, scores.png. Figures are drawn on
`matplotlib.figure.Figure` directly (no pyplot), so no display or GUI backend is touched.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from imgcheck.infer.evaluate.gallery import HISTOGRAM_BINS, Gallery
from imgcheck.infer.evaluate.metrics import ECE_BINS, calibration_bins
from imgcheck.infer.evaluate.report_page import ScanContext, render_page
from imgcheck.infer.evaluate.thumbnails import write_thumbnails

PLOTS = {
    "roc.png": "ROC curve",
    "precision_recall.png": "Precision-recall curve",
    "confusion_matrix.png": "Confusion matrix",
    "reliability.png": "Reliability diagram",
    "scores.png": "Score histogram per class",
}
HISTOGRAM = "histogram.png"


def write_report(folder: str, context: ScanContext, gallery: Gallery, document: dict[str, Any] | None = None,
                 y: np.ndarray | None = None, p: np.ndarray | None = None) -> list[str]:
    """Write the report into `folder` (created if needed): the histogram, the thumbnails, the metric plots when
    `document` (the labeled images' metrics, with their labels `y` and scores `p`) is given, and index.html last.
    Returns the files written."""
    os.makedirs(folder, exist_ok=True)
    written = [os.path.join(folder, HISTOGRAM)]
    _save(lambda ax: _histogram(ax, gallery.histogram, context.threshold), written[0], "p_fake of every scanned image")
    if document is not None and y is not None and p is not None:
        written += write_metric_plots(folder, document, y, p)
    shown = gallery.ranked() + gallery.false_fakes() + gallery.false_reals()
    thumbs = write_thumbnails(folder, [item.row.path for item in shown])
    written += [os.path.join(folder, name) for name in dict.fromkeys(thumbs.values()) if name]
    index = os.path.join(folder, "index.html")
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(render_page(context, gallery, thumbs, document, PLOTS if document is not None else {}, HISTOGRAM))
    written.append(index)
    return written


def write_metric_plots(folder: str, document: dict[str, Any], y: np.ndarray, p: np.ndarray) -> list[str]:
    """Write the labeled images' plots (PLOTS) into `folder`; returns their paths."""
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


def _histogram(ax, counts: np.ndarray, threshold: float) -> None:  # noqa: ANN001
    edges = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    ax.stairs(counts, edges, fill=True, alpha=0.7, color="tab:purple", label=f"{int(counts.sum()):,} images")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set(xlabel="p_fake", ylabel="images", xlim=(0, 1))
    ax.legend(loc="upper center")


def _only_one_class(ax) -> None:  # noqa: ANN001
    ax.text(0.5, 0.5, "undefined: only one class is labeled", ha="center", va="center")
    ax.set_axis_off()
