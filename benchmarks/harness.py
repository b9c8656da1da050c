"""What every benchmark shares: where results go, the command and machine behind them, tables, and one timer.

Scripts run as `python benchmarks/NAME.py` from the repository root; Python puts the script's folder on sys.path,
so they `import harness`. A result is a Markdown page in `results/` (and, when there is a record, a JSON file
beside it), both stating the command that produced it and the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# the libraries named on a page's machine line, as `imgcheck.infer.system.system_info` keys them
SHOWN_LIBRARIES = {"torch": "torch", "onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime-gpu",
                   "numpy": "numpy", "pillow": "Pillow"}


def command(argv: Sequence[str] | None = None) -> str:
    """The command that ran this script (`sys.argv` by default), shell-quoted, with the script's path relative to
    the repository root: `python benchmarks/NAME.py ARGS`."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    shown = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else argv[0]
    return shlex.join(["python", shown, *argv[1:]])


def machine() -> dict[str, Any]:
    """The machine a result is measured on: CPU model and cores, GPUs, Python and library versions (read from
    package metadata, nothing imported), and today's date (UTC)."""
    from imgcheck.infer.system import system_info

    return {**system_info(), "date": datetime.now(timezone.utc).date().isoformat()}


def header(cmd: str, where: Mapping[str, Any]) -> list[str]:
    """The two lines under a page's title: `Command: ...` and `Machine: ...`."""
    code = f"`` {cmd} ``" if "`" in cmd else f"`{cmd}`"
    gpus = f"; GPU: {', '.join(where['gpus'])}" if where.get("gpus") else ""
    versions = [f"Python {where.get('python')}"]
    versions += [f"{name} {where[key]}" for key, name in SHOWN_LIBRARIES.items() if where.get(key)]
    return [f"Command: {code}  ", f"Machine: {where.get('cpu')}{gpus}; {', '.join(versions)}; {where.get('date')}."]


def named_model(spec: str) -> tuple[str, str]:
    """An argparse type for `--model NAME=PATH`: the (name, path) pair, or a usage error naming the form when either
    side is empty."""
    name, sep, path = spec.partition("=")
    if not (sep and name and path):
        raise argparse.ArgumentTypeError(f"{spec!r} is not NAME=PATH (a name for the table, '=', the model file)")
    return name, path


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table. `align` has a letter per column: `l` (`---`, the default) or `r` (`---:`); a `|` inside a
    cell is escaped."""
    def line(cells: Sequence[object]) -> str:
        if len(cells) != len(headers):
            raise ValueError(f"a row has {len(cells)} cells for {len(headers)} columns: {cells!r}")
        return "| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", str(cell)) for cell in cells) + " |"

    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align.ljust(len(headers), "l")) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def write_result(page: Path, title: str, body: str | Sequence[str], record: Mapping[str, Any] | None = None,
                 argv: Sequence[str] | None = None) -> str:
    """Write the Markdown `page` (title, command and machine, then `body`) and, given a `record`, the JSON beside it
    (`page` with `.json`), which opens with the same command and machine. Returns the page's text."""
    cmd, where = command(argv), machine()
    lines = [f"# {title}", "", *header(cmd, where), "", *([body] if isinstance(body, str) else body)]
    text = "\n".join(lines).rstrip("\n") + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    if record is not None:
        page.with_suffix(".json").write_text(json.dumps({"command": cmd, "machine": where, **record}, indent=2) + "\n")
    return text


class Timer:
    """Wall seconds (`time.perf_counter`) of each `with timer:` block, leaving out the first `warmup` blocks.

        timer = Timer(warmup=1)
        for _ in range(1 + repeats):
            with timer:
                work()
        timer.median, timer.min, timer.max   # over the timed blocks
    """

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.seconds: list[float] = []
        self._blocks = 0
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        elapsed = self.elapsed()
        self._blocks += 1
        if kind is None and self._blocks > self.warmup:
            self.seconds.append(elapsed)

    def elapsed(self) -> float:
        """Seconds since the current (or last) block began."""
        return time.perf_counter() - self._start

    @property
    def last(self) -> float:
        return self.seconds[-1]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    def rates(self, count: float) -> list[float]:
        """`count` per second in each timed block (images/s when a block handled `count` images)."""
        return [count / seconds for seconds in self.seconds]

    def summary(self) -> dict[str, float]:
        return {"median_s": self.median, "min_s": self.min, "max_s": self.max}
