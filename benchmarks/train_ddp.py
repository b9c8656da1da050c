"""Training images/s of one process against two gloo processes under torchrun, on this machine, side by side.

    python benchmarks/train_ddp.py --data data/cifake --train-size 6000 --epochs 2 --repeats 2

Three whole `imgcheck train` commands, interleaved per repeat so that machine noise hits all of them:
  - one process, batch 2B, torch on every core (what a user runs without torchrun);
  - one process, batch B (the per-process batch the two processes use);
  - `torchrun --standalone --nproc-per-node 2`, batch B per process (effective batch 2B), gloo, one torch thread
    per process (torchrun's default OMP_NUM_THREADS=1 when it starts several processes).
Each run's training images/s is the median over its epochs of `history.json`'s `train_images_per_s` (for two
processes: both ranks' images over the slowest rank's epoch time); the wall column is the whole command. The test
accuracy of the selected epoch is shown to confirm the runs trained alike. Results go to
benchmarks/results/train_ddp.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness


def train_command(args: argparse.Namespace, out: Path, batch: int) -> list[str]:
    return ["train", "--arch", args.arch, "--data", args.data, "--out", str(out), "--train-size", str(args.train_size),
            "--test-size", str(args.test_size), "--epochs", str(args.epochs), "--no-target", "--batch-size", str(batch),
            "--seed", "0", "--quiet", "--device", "cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/cifake", help="CIFAKE root (tar xzf ../shared/data/cifake.tar.gz -C data/)")
    parser.add_argument("--arch", default="cnn")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="B: the per-process batch of the two processes")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    single = [sys.executable, "-m", "imgcheck"]
    runs = {
        f"1 process, batch {2 * args.batch_size}": (single, 2 * args.batch_size, {}),
        f"1 process, batch {args.batch_size}": (single, args.batch_size, {}),
        f"2 processes (torchrun, gloo), batch {args.batch_size} each = {2 * args.batch_size}": (
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "imgcheck"],
            args.batch_size, {"OMP_NUM_THREADS": "1"}),
    }
    timers = {label: harness.Timer() for label in runs}
    speeds: dict[str, list[float]] = {label: [] for label in runs}
    accuracy: dict[str, list[float]] = {label: [] for label in runs}
    with tempfile.TemporaryDirectory() as work:
        for repeat in range(args.repeats):
            for index, (label, (launcher, batch, env)) in enumerate(runs.items()):
                out = Path(work) / f"r{repeat}-{index}"
                with timers[label]:
                    subprocess.run([*launcher, *train_command(args, out, batch)], check=True,
                                   env={**os.environ, **env})
                history = json.loads((out / "history.json").read_text())
                speeds[label].append(statistics.median(row["train_images_per_s"] for row in history[1:]))
                accuracy[label].append(json.loads((out / "summary.json").read_text())["test_metrics"]["accuracy"])
                print(f"repeat {repeat} {label}: {speeds[label][-1]:,.0f} img/s", file=sys.stderr)

    base = statistics.median(speeds[next(iter(runs))])
    rows = [{"run": label, "images_per_s": statistics.median(v), "min": min(v), "max": max(v),
             "ratio": statistics.median(v) / base, "wall_s": timers[label].median,
             "test_accuracy": accuracy[label]} for label, v in speeds.items()]
    record = {"arch": args.arch, "train_size": args.train_size, "test_size": args.test_size, "epochs": args.epochs,
              "cores": cores, "repeats": args.repeats, "rows": rows}
    body = [
        f"`{args.arch}` on {args.train_size:,} balanced CIFAKE training images (10% held out for validation), "
        f"{args.epochs} epochs per run, {args.repeats} repeats, runs interleaved; {cores} cores. Images/s: the "
        "median over a run's epochs of its training speed, then the median over repeats (min-max in brackets).",
        "",
        harness.table(["run", "train images/s", "min-max", "vs 1 process (same effective batch)", "wall (whole command)",
                       "test accuracy per repeat"],
                      [[r["run"], f"{r['images_per_s']:,.0f}", f"{r['min']:,.0f}-{r['max']:,.0f}", f"{r['ratio']:.2f}x",
                        f"{r['wall_s']:.1f} s", ", ".join(f"{a:.3f}" for a in r["test_accuracy"])] for r in rows],
                      "lrrrrl"),
    ]
    print(harness.write_result(harness.RESULTS / "train_ddp.md", "Training under torchrun: one process against two",
                               body, record))


if __name__ == "__main__":
    main()
