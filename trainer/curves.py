"""Learning curves shaped like the report's figures: a risk panel and an accuracy panel per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def curves_figure(history: list[dict[str, Any]]):  # noqa: ANN201 - a matplotlib Figure
    """The figure of train/val/test risk (log loss, on a log scale so that the untrained epoch 0 does not flatten
    the trained epochs) and accuracy against the epoch. The caller closes it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (risk_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    epochs = [row["epoch"] for row in history]
    for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
        for axis, metric in ((risk_axis, "loss"), (accuracy_axis, "accuracy")):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                points = [(e, v) for e, v in zip(epochs, values) if v is not None]
                axis.plot(*zip(*points), style, label=split, markersize=4)
    risk_axis.set(title="Risk (log loss, log scale)", xlabel="epoch", ylabel="risk", yscale="log")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    for axis in (risk_axis, accuracy_axis):
        axis.grid(alpha=0.3, which="both")
        axis.legend()
        axis.set_xticks(epochs)
    return figure


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Write `curves_figure(history)` to a PNG at `path`."""
    figure = curves_figure(history)
    from matplotlib import pyplot as plt

    figure.savefig(path, dpi=100)
    plt.close(figure)
