"""How fast `imgcheck --help` and every command's `--help` answer, beside a bare interpreter and an interpreter that
imports torch.

    python benchmarks/cli_startup.py --repeats 15

Each command runs as a fresh process; commands are interleaved and the median wall time is reported with
min-max. Results go to benchmarks/results/cli_startup.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from imgcheck.infer.cli.root import COMMANDS as REGISTERED
from imgcheck.infer.system import cpu_name

RESULTS = Path(__file__).parent / "results"
IMGCHECK = [sys.executable, "-m", "imgcheck.infer"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "imgcheck --help": [*IMGCHECK, "--help"],
    **{f"imgcheck {name} --help": [*IMGCHECK, name, "--help"] for name in sorted(REGISTERED)},
    "imgcheck info (bundled model)": [*IMGCHECK, "info", "--json"],
    "python -c 'import imgcheck'": [sys.executable, "-c", "import imgcheck"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for repeat in range(args.repeats + 1):  # the first round warms the file cache and is discarded
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            if repeat:
                times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["python -c pass"])
    rows = [{"command": name, "median_s": statistics.median(t), "min_s": min(t), "max_s": max(t),
             "over_bare_python_s": statistics.median(t) - baseline} for name, t in times.items()]
    record = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "repeats": args.repeats, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# CLI start-up", "", f"Command: `{record['command']}`", "",
             f"Fresh process per run, {args.repeats} interleaved repeats after a warm-up round; median (min-max). "
             f"CPU: {cpu_name()}.", "",
             "| command | median | min-max | over bare python |", "|---|---|---|---|",
             *[f"| `{r['command']}` | {r['median_s'] * 1000:.0f} ms | {r['min_s'] * 1000:.0f}-{r['max_s'] * 1000:.0f} ms | "
               f"+{r['over_bare_python_s'] * 1000:.0f} ms |" for r in rows]]
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
