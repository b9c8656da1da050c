"""Turn training run folders (summary.json) into the markdown table of benchmarks/results.

    python benchmarks/summarize_training.py runs/cnn_report runs/cnn_val ... > table.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import harness
from imgcheck.trainer.run import TrainConfig

# The settings that make up a recipe; `imgcheck train`'s defaults (TrainConfig) are the report's.
RECIPE_KEYS = ("lr", "epochs", "schedule", "augment", "batch_size", "patience")


def recipe(config: dict) -> str:
    """The run's departures from the report's recipe, e.g. `30 epochs, patience 5`, or `the report's`."""
    report = TrainConfig()
    changed = []
    for key in RECIPE_KEYS:
        default = getattr(report, key)
        value = config.get(key, default)
        if value == default:
            continue
        name = key.replace("_", " ")
        changed.append(f"{value} epochs" if key == "epochs" else f"{name} {value:g}" if isinstance(value, float)
                       else f"{name} {value}")
    return ", ".join(changed) or "the report's"


HEADERS = ["run", "protocol", "recipe", "seed", "train/val/test", "best epoch", "untrained acc", "test acc", "log loss",
           "ROC-AUC", "MCC", "bal. acc", "kappa", "F1", "confusion [[TN,FP],[FN,TP]]", "train img/s", "wall min"]


def row(run: Path) -> list[str]:
    """One table row: protocol, recipe, seed, sizes, selected epoch, test metrics, speed."""
    s = json.loads((run / "summary.json").read_text())
    m, c, d = s["test_metrics"], s["config"], s["data"]
    protocol = "report (select on test)" if c["select_on"] == "test" else "ours (select on val)"
    return [f"`{run.name}`", protocol, recipe(c), c["seed"], f"{d['train']:,}/{d['val']:,}/{d['test']:,}",
            s["best_epoch"], f"{s['untrained']['test_accuracy']:.4f}", f"**{m['accuracy']:.4f}**",
            *(f"{m[key]:.4f}" for key in ("log_loss", "roc_auc", "mcc", "balanced_accuracy", "cohen_kappa", "f1")),
            m["confusion_matrix"], f"{s['train_images_per_s']:,.0f}", f"{s['wall_seconds'] / 60:.1f}"]


if __name__ == "__main__":
    print(harness.table(HEADERS, [row(Path(folder)) for folder in sys.argv[1:]]))
