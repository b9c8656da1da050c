"""Turn training run folders (summary.json) into the markdown table of benchmarks/results.

    python benchmarks/summarize_training.py runs/cnn_report runs/cnn_val ... > table.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def row(run: Path) -> str:
    """One markdown row: protocol, recipe, seed, sizes, selected epoch, test metrics, speed."""
    s = json.loads((run / "summary.json").read_text())
    m, c, d = s["test_metrics"], s["config"], s["data"]
    protocol = "report (select on test)" if c["select_on"] == "test" else "ours (select on val)"
    return (f"| `{run.name}` | {protocol} | {recipe(c)} | {c['seed']} | {d['train']:,}/{d['val']:,}/{d['test']:,} | {s['best_epoch']} | "
            f"{s['untrained']['test_accuracy']:.4f} | **{m['accuracy']:.4f}** | {m['log_loss']:.4f} | {m['roc_auc']:.4f} | "
            f"{m['mcc']:.4f} | {m['balanced_accuracy']:.4f} | {m['cohen_kappa']:.4f} | {m['f1']:.4f} | {m['confusion_matrix']} | "
            f"{s['train_images_per_s']:,.0f} | {s['wall_seconds'] / 60:.1f} |")


if __name__ == "__main__":
    print("| run | protocol | recipe | seed | train/val/test | best epoch | untrained acc | test acc | log loss | ROC-AUC | MCC | "
          "bal. acc | kappa | F1 | confusion [[TN,FP],[FN,TP]] | train img/s | wall min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for folder in sys.argv[1:]:
        print(row(Path(folder)))
