"""Two models' verdicts on the same labeled images, paired: is one really more accurate, and do they err on the same
images?

Reads two `imgcheck scan --metrics` runs over one labeled folder (each scan's verdict CSV and its metrics JSON, which
holds the threshold the verdicts used; labels come from the REAL/FAKE folders in each path, by the rule `imgcheck
scan` uses). Reports each model's
accuracy, how many images only one of them gets wrong, McNemar's exact test on those (is the accuracy difference
more than chance?), and what averaging the two models' logits would give, each logit first shifted by its own
model's threshold (so the pair's rule uses no test information: both thresholds were chosen on validation).

    python benchmarks/paired_verdicts.py --a runs/lead/bundled_cifake_test.csv runs/lead/bundled_cifake_test.json \
        --b runs/lead/nsfw64_ft/verdicts/cifake_test.csv runs/lead/nsfw64_ft/verdicts/cifake_test.json \
        --out leading_detector_paired
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import harness
from harness import RESULTS
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from imgcheck.infer.evaluate.labels import label_from_folders

Scan = tuple[str, float, dict[str, tuple[int, float]]]


def read_scan(verdicts: Path, metrics: Path) -> Scan:
    """The model's name, its threshold, and (label, p_fake) per labeled, scored path of one scan (1: FAKE)."""
    record = json.loads(metrics.read_text())
    scores = {}
    with verdicts.open(newline="") as fh:
        for row in csv.DictReader(fh):
            label = label_from_folders(row["path"])
            if row["p_fake"] and label is not None:
                scores[row["path"]] = (label.fake, float(row["p_fake"]))
    return record["model"]["name"], float(record["threshold"]), scores


def logit(p: float) -> float:
    """log(p / (1 - p)), clipped so that p of 0 or 1 stays finite."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def paired(a: Scan, b: Scan) -> dict:
    """The paired comparison of two scans over the images both scored."""
    (_, ta, sa), (_, tb, sb) = a, b
    paths = sorted(sa.keys() & sb.keys())
    if not paths:
        raise SystemExit("the two scans share no labeled image")
    label = [sa[p][0] for p in paths]
    pa, pb = [sa[p][1] for p in paths], [sb[p][1] for p in paths]
    right_a = [(p >= ta) == bool(y) for p, y in zip(pa, label)]
    right_b = [(p >= tb) == bool(y) for p, y in zip(pb, label)]
    only_a_wrong = sum(rb and not ra for ra, rb in zip(right_a, right_b))
    only_b_wrong = sum(ra and not rb for ra, rb in zip(right_a, right_b))
    both_wrong = sum(not ra and not rb for ra, rb in zip(right_a, right_b))
    discordant = only_a_wrong + only_b_wrong
    shifted = [(logit(x) - logit(ta) + logit(y) - logit(tb)) / 2 for x, y in zip(pa, pb)]
    return {
        "n": len(paths), "accuracy_a": sum(right_a) / len(paths), "accuracy_b": sum(right_b) / len(paths),
        "only_a_wrong": only_a_wrong, "only_b_wrong": only_b_wrong, "both_wrong": both_wrong,
        "mcnemar_p": binomtest(min(only_a_wrong, only_b_wrong), discordant, 0.5).pvalue if discordant else 1.0,
        "pair_accuracy": sum((s >= 0) == bool(y) for s, y in zip(shifted, label)) / len(paths),
        "pair_roc_auc": roc_auc_score(label, shifted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs=2, type=Path, required=True, metavar=("VERDICTS.csv", "METRICS.json"))
    parser.add_argument("--b", nargs=2, type=Path, required=True, metavar=("VERDICTS.csv", "METRICS.json"))
    parser.add_argument("--out", default=None, help="write RESULTS/OUT.md and .json [default: print only]")
    args = parser.parse_args()
    a, b = read_scan(*args.a), read_scan(*args.b)
    result = paired(a, b)
    rows = [
        ["images scored by both", f"{result['n']:,}"],
        [f"accuracy: A {a[0]} / B {b[0]}", f"{result['accuracy_a']:.2%} / {result['accuracy_b']:.2%}"],
        ["wrong only with A / only with B / with both",
         f"{result['only_a_wrong']:,} / {result['only_b_wrong']:,} / {result['both_wrong']:,}"],
        ["McNemar exact p (small: more than chance)", f"{result['mcnemar_p']:.3g}"],
        ["the pair (mean threshold-shifted logit): accuracy / ROC-AUC",
         f"{result['pair_accuracy']:.2%} / {result['pair_roc_auc']:.4f}"],
    ]
    body = [harness.table(["", "value"], rows, align="lr")]
    print("\n".join(body))
    if args.out:
        harness.write_result(RESULTS / f"{args.out}.md", "Two models' verdicts, paired", body,
                             record={"a": {"name": a[0], "threshold": a[1]}, "b": {"name": b[0], "threshold": b[1]},
                                     **result})
        print(f"wrote {RESULTS / args.out}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
