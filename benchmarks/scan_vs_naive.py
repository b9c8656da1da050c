"""`imgcheck scan` against the pipeline a user would otherwise write, same folder and model, side by side.

    python benchmarks/scan_vs_naive.py --checkpoint runs/cnn_val_keras/best.pt --onnx runs/export_cnn/cnn.onnx \
        --folder data/cifake/test --folder ../shared/data/photos --repeats 3

Whole-command wall time (process start to exit) and peak RSS of the whole process tree (workers included,
sampled every 20 ms from /proc), median over repeats, commands interleaved. For imgcheck, the seconds of the scan
itself (its sidecar's `seconds`: first file to last row) are shown too; the rest is start-up and the summary.
imgcheck runs `--quiet` and writes only its verdicts, as the naive pipeline does; on a labeled folder (REAL/FAKE
inside) a second row adds `--metrics FILE`, the whole metric suite. `--install cpu=PYTHON` adds the same rows for
imgcheck run from another installation, such as one with only the `cpu` extra: what a user who only scans
installs (the dev install's Ray brings pandas, which scikit-learn imports when it is there). Results go to
benchmarks/results/scan_vs_naive.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

NAIVE_SCAN = Path(__file__).with_name("naive_scan.py")  # the baseline: what a user would otherwise write


def tree_rss_kib(root: int) -> int:
    """Summed VmRSS of `root` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak tree RSS in MB) of one run of `command`."""
    peak = 0
    with harness.Timer() as timer:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None:
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)
    if process.returncode not in (0, 3):
        raise SystemExit(f"failed ({process.returncode}): {shlex.join(command)}")
    return timer.last, peak / 1024


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def count_images(folder: str) -> int:
    return sum(1 for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def imgcheck_scan(python: str, folder: str, onnx: str, tmp: str, *extra: str) -> list[str]:
    """The imgcheck command timed: a quiet scan of `folder` (verdicts only, as the naive pipeline writes, unless
    `extra` asks for more) by the installation that `python` belongs to."""
    return [python, "-m", "imgcheck.infer", "scan", folder, "--model", onnx, "--out", f"{tmp}/imgcheck.csv", "--force",
            "--quiet", *extra]


def parse_install(spec: str, parser: argparse.ArgumentParser) -> tuple[str, str]:
    """LABEL=PYTHON from --install, the python checked to exist."""
    label, sep, python = spec.partition("=")
    if not sep or not label or not Path(python).is_file():
        parser.error(f"--install wants LABEL=PYTHON with an existing python, got {spec!r}")
    return label, python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="training checkpoint (the naive pipeline's model)")
    parser.add_argument("--onnx", required=True, help="the same model exported to ONNX (imgcheck's)")
    parser.add_argument("--folder", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--install", action="append", default=[], metavar="LABEL=PYTHON",
                        help="also time imgcheck from another installation's python, e.g. one with only the `cpu` "
                             "extra (repeatable); its row is labelled with LABEL")
    parser.add_argument("--note", action="append", default=[],
                        help="a paragraph for the page, below the table (repeatable): what the model is, the machine")
    args = parser.parse_args()
    installs = [parse_install(spec, parser) for spec in args.install]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in args.folder:
            commands = {
                "naive (torchvision + DataLoader, eager)": [sys.executable, str(NAIVE_SCAN), folder, args.checkpoint,
                                                            f"{tmp}/naive.csv"],
            }
            labeled = any((Path(folder) / name).is_dir() for name in ("REAL", "FAKE"))
            for label, python in [("", sys.executable), *installs]:
                install = f", {label} install" if label else ""
                commands[f"imgcheck scan (ONNX){install}"] = imgcheck_scan(python, folder, args.onnx, tmp)
                if labeled:
                    commands[f"imgcheck scan (ONNX){install}, + metric suite"] = imgcheck_scan(
                        python, folder, args.onnx, tmp, "--metrics", f"{tmp}/metrics.json")
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            # imgcheck's own scan seconds, from its sidecar
            scanning: dict[str, list[float]] = {name: [] for name in commands if name.startswith("imgcheck")}
            for _ in range(args.repeats):
                for name, command in commands.items():
                    runs[name].append(measure(command))
                    if name in scanning:
                        scanning[name].append(json.loads(Path(f"{tmp}/imgcheck.csv.json").read_text())["seconds"])
                    print(f"{folder} {name}: {runs[name][-1][0]:.2f} s, {runs[name][-1][1]:.0f} MB", file=sys.stderr)
            images = count_images(folder)
            naive_wall = statistics.median(w for w, _ in runs["naive (torchvision + DataLoader, eager)"])
            for name, samples in runs.items():
                wall = statistics.median(w for w, _ in samples)
                rows.append({"folder": folder, "images": images, "pipeline": name,
                             "command": shlex.join(commands[name]),
                             "median_wall_s": wall, "images_per_s": images / wall,
                             "peak_rss_mb": statistics.median(r for _, r in samples),
                             "speedup_vs_naive": naive_wall / wall,
                             "scan_seconds": statistics.median(scanning[name]) if name in scanning else None})
    body = [f"Whole-command wall time and peak RSS of the process tree, median of {args.repeats} interleaved runs.", "",
            harness.table(["folder", "images", "pipeline", "wall", "of which scanning", "images/s", "peak RSS",
                           "speed-up"],
                          [[r["folder"], f"{r['images']:,}", r["pipeline"], f"{r['median_wall_s']:.2f} s",
                            _seconds(r["scan_seconds"]), f"{r['images_per_s']:,.0f}", f"{r['peak_rss_mb']:,.0f} MB",
                            f"{r['speedup_vs_naive']:.2f}x"] for r in rows])]
    for note in args.note:
        body += ["", note]
    print(harness.write_result(harness.RESULTS / "scan_vs_naive.md", "`imgcheck scan` vs the naive pipeline", body,
                               {"repeats": args.repeats, "rows": rows}), end="")


if __name__ == "__main__":
    main()
