"""What a detector trained on Shoes relies on: ResNet-18 at 224x224 with native crops, at 224x224 resized, and at
32x32 resized, each scored on its Shoes test split as stored and re-encoded at JPEG quality 95 for both classes.

    python benchmarks/train_any_data.py [--epochs 3]

The Shoes classes differ in JPEG quality (REAL about 95, FAKE about 90) and background, so a model can separate
them by compression alone; re-encoding every test image at one quality takes that cue away, and what accuracy is
left is what the model learned beyond it. Every model is trained by `imgcheck train` on the flat REAL/FAKE folder
(split by seed 0, 20% test), exported with `imgcheck export`, and scanned with `imgcheck scan --metrics`.
Writes benchmarks/results/train_any_data.md and train_any_data/*.json. Data: data/shoes (tar xzf
../shared/data/shoes.tar.gz -C data/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import harness
from harness import RESULTS, ROOT
from reproduce_report import IMGCHECK, run  # run an imgcheck command once, recording it for the page

RUNS = ROOT / "runs" / "any_data"
CONFIGS = {  # name -> imgcheck train options beyond the shared ones
    "crop224": ["--input-size", "224", "--fit", "crop", "--tiles", "4"],
    "resize224": ["--input-size", "224", "--fit", "resize"],
    "resize32": ["--input-size", "32", "--fit", "resize"],
}


def test_split(seed: int = 0) -> list[str]:
    """The run's test images, drawn exactly as `imgcheck train` draws them (same seed, same first use of it)."""
    from imgcheck.trainer.sources import load_pools

    pools = load_pools("data/shoes", [], 0.2, np.random.default_rng(seed))
    return [s.path for s in pools.test]


def reencoded(paths: list[str], folder: Path, quality: int = 95) -> Path:
    """A copy of `paths` under folder/{REAL,FAKE}/, every image re-encoded as JPEG at `quality`."""
    for path in paths:
        label = Path(path).parent.name
        target = folder / label / (Path(path).stem + ".jpg")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as img:
                img.convert("RGB").save(target, format="JPEG", quality=quality)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if not (ROOT / "data" / "shoes").is_dir():
        raise SystemExit("data/shoes is missing: tar xzf ../shared/data/shoes.tar.gz -C data/")
    out_dir = RESULTS / "train_any_data"
    out_dir.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    paths = test_split()
    listed = RUNS / "shoes_test.txt"
    listed.parent.mkdir(parents=True, exist_ok=True)
    listed.write_text("".join(f"{p}\n" for p in paths))
    jpeg95 = reencoded(paths, RUNS / "shoes_test_jpeg95")
    jpeg50 = reencoded(paths, RUNS / "shoes_test_jpeg50", quality=50)
    rows = []
    for name, options in CONFIGS.items():
        run_dir = RUNS / name
        run([*IMGCHECK, "train", "--arch", "resnet18_v1", "--data", "data/shoes", *options, "--train-size", "all",
             "--test-size", "all", "--epochs", str(args.epochs), "--lr", "1e-3", "--schedule", "cosine",
             "--no-target", "--seed", "0", "--out", str(run_dir.relative_to(ROOT)), "--quiet"], log,
            needed=not (run_dir / "summary.json").exists())
        model = run_dir / "export" / "resnet18_v1.onnx"
        run([*IMGCHECK, "export", str((run_dir / "best.pt").relative_to(ROOT)), "--format", "onnx", "--out",
             str(model.parent.relative_to(ROOT))], log, needed=not model.exists())
        scores = {}
        for kind, source in (("as stored", ["--files-from", str(listed.relative_to(ROOT))]),
                             ("JPEG 95", [str(jpeg95.relative_to(ROOT))]), ("JPEG 50", [str(jpeg50.relative_to(ROOT))])):
            suffix = {"as stored": "stored", "JPEG 95": "jpeg95", "JPEG 50": "jpeg50"}[kind]
            metrics = out_dir / f"{name}.{suffix}.json"
            run([*IMGCHECK, "scan", *source, "--model", str(model.relative_to(ROOT)), "--out",
                 str((run_dir / f"verdicts_{metrics.stem}.csv").relative_to(ROOT)), "--force", "--metrics",
                 str(metrics.relative_to(ROOT)), "--quiet"], log, needed=not metrics.exists())
            scores[kind] = json.loads(metrics.read_text())["metrics"]
        summary = json.loads((run_dir / "summary.json").read_text())
        rows.append((name, options, summary, scores))
    cells = []
    for name, options, summary, scores in rows:
        stored, recoded, harsh = scores["as stored"], scores["JPEG 95"], scores["JPEG 50"]
        (tn, fp), (fn, tp) = recoded["confusion_matrix"]
        cells.append([name, f"`{' '.join(options)}`", f"{summary['train_seconds']:,.0f}",
                      f"{100 * stored['accuracy']:.1f}%", f"{stored['roc_auc']:.4f}", f"{100 * recoded['accuracy']:.1f}%",
                      f"{recoded['roc_auc']:.4f}", f"{tp}/{tp + fn}", f"{tn}/{tn + fp}", f"{100 * harsh['accuracy']:.1f}%",
                      f"{harsh['roc_auc']:.4f}"])
    lines = ["Made by `python benchmarks/train_any_data.py` (commands at the end). Shoes: 825 REAL product photos "
             "(JPEG about 95) and 1,356 Midjourney FAKE (JPEG about 90), all 240×240, in a flat REAL/FAKE folder split "
             f"by seed 0 into {len(paths):,} test images and the rest for training (10% of it validation). Every model: "
             f"ResNet-18 from scratch, {args.epochs} epochs, Adam 1e-3 with cosine decay, batch 32, selected on "
             "validation. *JPEG 95*: the same test images, both classes re-encoded at quality 95, so both carry the "
             "same last quantisation; *JPEG 50*: re-encoded at quality 50, which also wipes most fine detail.", "",
             harness.table(["model", "fit", "train s", "test acc. (as stored)", "ROC-AUC", "acc. (JPEG 95)", "ROC-AUC",
                            "FAKE called FAKE (JPEG 95)", "REAL called REAL (JPEG 95)", "acc. (JPEG 50)", "ROC-AUC"],
                           cells, align="llrrrrrrrrr")]
    reading = out_dir / "reading.md"
    if reading.exists():
        lines += ["", reading.read_text().strip()]
    lines += ["", "## Commands", "", "```bash", *log, "```", ""]
    page = RESULTS / "train_any_data.md"
    harness.write_result(page, "A trainer for any data: ResNet-18 on Shoes, three ways", lines)
    print(f"wrote {page}", file=sys.stderr)


if __name__ == "__main__":
    main()
