"""`imgcheck scan --engine ray` with 1 and 2 model workers beside the local engine, same folder and model.

    python benchmarks/ray_scan.py --folder data/cifake/test --repeats 3

A Ray head is started once (`ray start --head --num-cpus N`) and every Ray scan joins it with `--ray-address
auto`, as scans join an existing cluster; so the times include connecting, starting the actor pool and the
transfer of the model, not starting Ray. Each configuration runs `--repeats` times, interleaved; the table gives
the median whole-command wall time (process start to exit) and images/s over it, and the median of the scan's
own images/s from its sidecar. Every run's CSV must equal the local engine's. Results go to
benchmarks/results/ray_scan.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness


def imgcheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "imgcheck.infer", "scan", *args]


def run(command: list[str], out: Path) -> tuple[float, float, bytes]:
    """(wall seconds, the sidecar's images/s, the CSV) of one scan."""
    with harness.Timer() as timer:
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    side = json.loads(Path(f"{out}.json").read_text())
    return timer.last, side["images_per_s"], out.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the Ray head")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    configs = {
        f"local ({args.num_cpus} decoding workers)": ["--workers", str(args.num_cpus)],
        "ray, 1 worker": ["--engine", "ray", "--ray-address", "auto", "--num-workers", "1"],
        "ray, 2 workers": ["--engine", "ray", "--ray-address", "auto", "--num-workers", "2"],
    }
    subprocess.run([ray, "start", "--head", f"--num-cpus={args.num_cpus}", "--include-dashboard=false"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            reference = None
            for _ in range(args.repeats):
                for name, extra in configs.items():
                    out = Path(scratch) / "v.csv"
                    wall, ips, csv = run(imgcheck(args.folder, *model, "--out", str(out), "--force", "--quiet",
                                                  "--batch-size", str(args.batch_size), *extra), out)
                    reference = reference or csv
                    if csv != reference:
                        raise SystemExit(f"{name}: the CSV differs from the local engine's")
                    times[name].append((wall, ips))
    finally:
        subprocess.run([ray, "stop", "--force"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    images = reference.count(b"\n") - 1
    rows = []
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        rows.append({"config": name, "images": images, "wall_s": round(wall, 2), "images_per_s": round(images / wall),
                     "scan_images_per_s": round(statistics.median(i for _, i in runs)),
                     "runs_wall_s": [round(w, 2) for w, _ in runs]})
    one = next(r for r in rows if r["config"] == "ray, 1 worker")
    for row in rows:
        row["vs_ray_1_worker"] = round(one["wall_s"] / row["wall_s"], 2)
    import ray as ray_module

    record = {"ray_head_cpus": args.num_cpus, "ray": ray_module.__version__, "rows": rows}
    body = [f"Ray {record['ray']}, head with {args.num_cpus} CPUs; {images:,} images; median of {args.repeats} runs; "
            "every run's CSV equal to the local engine's.", "",
            harness.table(["engine", "wall s", "images/s (wall)", "images/s (scan loop)", "vs ray, 1 worker"],
                          [[r["config"], r["wall_s"], f"{r['images_per_s']:,}", f"{r['scan_images_per_s']:,}",
                            f"{r['vs_ray_1_worker']}x"] for r in rows])]
    print(harness.write_result(harness.RESULTS / "ray_scan.md",
                               f"`imgcheck scan --engine ray` on this machine ({os.cpu_count()} CPUs)", body, record),
          end="")


if __name__ == "__main__":
    main()
