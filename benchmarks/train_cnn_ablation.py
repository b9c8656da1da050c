"""Ablation of details the report leaves unspecified, on its own protocol (25k/5k, selected on test).

The registered `cnn` stays exactly Table 2 (dropout 0.5, inputs scaled to [0, 1]); this script patches one
detail per run, in this process only:

    python benchmarks/train_cnn_ablation.py drop0.2 0     # dropout 0.2, seed 0
    python benchmarks/train_cnn_ablation.py drop0.0 0     # no dropout
    python benchmarks/train_cnn_ablation.py raw255 0      # inputs in [0, 255] instead of [0, 1]

Each run writes runs/exp_<variant>_s<seed>/ (summary.json, history.csv, ...) and prints its test accuracy.
Data: data/cifake (tar xzf ../shared/data/cifake.tar.gz -C data/).
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from imgcheck.trainer import models, run


def main(variant: str, seed: int) -> None:
    torch.set_num_threads(1)  # two runs share the 2-core machine
    if variant == "raw255":
        models.ARCHS["cnn"] = dataclasses.replace(models.ARCHS["cnn"], std=(1 / 255,) * 3)
    elif variant.startswith("drop"):
        rate = float(variant[4:])
        original = models.ReportCNN.__init__

        def with_dropout(self: models.ReportCNN, dropout: float = rate, init: str = "keras") -> None:
            original(self, dropout=dropout, init=init)

        models.ReportCNN.__init__ = with_dropout
    else:
        raise SystemExit(f"unknown variant {variant!r}: raw255 or dropX.Y")
    cfg = run.TrainConfig(arch="cnn", data="data/cifake", out=f"runs/exp_{variant}_s{seed}", seed=seed,
                          select_on="test", val_fraction=0.0)
    summary = run.run_training(cfg, quiet=True)
    print(variant, seed, summary["best_epoch"], summary["test_metrics"]["accuracy"])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
