"""Learning curves: each split's risk and accuracy per epoch, the risk on a log scale so epoch 0 does not flatten
the rest."""

import pytest

from imgcheck.trainer.curves import curves_figure, plot_curves

HISTORY = [
    {"epoch": 0, "train_loss": 26.5, "train_accuracy": 0.5, "val_loss": 26.3, "val_accuracy": 0.5, "test_loss": None},
    {"epoch": 1, "train_loss": 0.54, "train_accuracy": 0.72, "val_loss": 0.49, "val_accuracy": 0.76, "test_loss": None},
    {"epoch": 2, "train_loss": 0.45, "train_accuracy": 0.79, "val_loss": 0.39, "val_accuracy": 0.82, "test_loss": None},
]


def test_the_figure_holds_each_splits_points_with_the_risk_on_a_log_scale():
    from matplotlib import pyplot as plt

    figure = curves_figure(HISTORY)
    try:
        risk, accuracy = figure.axes
        assert risk.get_yscale() == "log" and accuracy.get_yscale() == "linear"
        assert accuracy.get_ylim() == (0, 1)
        lines = {(axis_index, line.get_label()): line for axis_index, axis in enumerate(figure.axes)
                 for line in axis.get_lines()}
        assert set(lines) == {(0, "train"), (0, "val"), (1, "train"), (1, "val")}  # no test values: no test line
        assert list(lines[(0, "val")].get_xdata()) == [0, 1, 2]
        assert list(lines[(0, "val")].get_ydata()) == pytest.approx([26.3, 0.49, 0.39])
        assert list(lines[(1, "train")].get_ydata()) == pytest.approx([0.5, 0.72, 0.79])
    finally:
        plt.close(figure)


def test_plot_curves_writes_a_png(tmp_path):
    plot_curves(HISTORY, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
