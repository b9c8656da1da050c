"""How fast `imgcheck --help` and every command's `--help` answer, beside a bare interpreter and an interpreter that
imports torch.

    python benchmarks/cli_startup.py --repeats 15

Each command runs as a fresh process; commands are interleaved and the median wall time is reported with
min-max. Results go to benchmarks/results/cli_startup.{json,md}.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import harness
from imgcheck.infer.cli.root import COMMANDS as REGISTERED

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
    timers = {name: harness.Timer(warmup=1) for name in COMMANDS}  # the first round warms the file cache
    for _ in range(args.repeats + 1):
        for name, command in COMMANDS.items():
            with timers[name]:
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    baseline = timers["python -c pass"].median
    rows = [{"command": name, **t.summary(), "over_bare_python_s": t.median - baseline} for name, t in timers.items()]
    body = [f"Fresh process per run, {args.repeats} interleaved repeats after a warm-up round; median (min-max).", "",
            harness.table(["command", "median", "min-max", "over bare python"],
                          [[f"`{r['command']}`", f"{r['median_s'] * 1000:.0f} ms",
                            f"{r['min_s'] * 1000:.0f}-{r['max_s'] * 1000:.0f} ms",
                            f"+{r['over_bare_python_s'] * 1000:.0f} ms"] for r in rows])]
    print(harness.write_result(harness.RESULTS / "cli_startup.md", "CLI start-up", body,
                               {"repeats": args.repeats, "rows": rows}), end="")


if __name__ == "__main__":
    main()
