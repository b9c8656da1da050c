"""`Preprocessor.normalize` against the strided cast it replaced, side by side in one run.

    python benchmarks/normalize_cost.py --size 32 --size 224 [--batch-size 256] [--repeat 7]

Both turn a uint8 batch (N, H, W, 3) into the model's float32 (N, 3, H, W) with the bundled model's scale and
shift. The one before cast the transposed (strided) view to float32; `normalize` now copies the uint8 pixels into a
contiguous channel-first block first, then casts. The arithmetic is the same, so every value is: the run checks it
bit for bit. Passes take turns over `--repeat` rounds; the figure is the fastest round of each, in microseconds
per image. Results go to benchmarks/results/normalize_cost.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def strided_cast(pixels: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The normalisation scans used before: cast the channel-first view of the uint8 pixels as it lies."""
    chw = np.moveaxis(pixels, -1, -3).astype(np.float32)
    chw *= scale
    chw += shift
    return chw


def fastest_us_per_image(fn: Callable[[], object], images: int, rounds: int, calls: int = 20) -> list[float]:
    """Microseconds per image of each round of `calls` calls."""
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - started) / calls / images * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, action="append", help="the side of a square input, in pixels "
                        "(repeatable; default 32)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "normalize_cost.md")
    args = parser.parse_args()
    from imgcheck.infer.models.bundled import bundled_model_path
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.system import system_info

    pre = Preprocessor.from_meta(ModelFile.open(bundled_model_path()).meta)
    command = shlex.join(["python", "benchmarks/normalize_cost.py", *sys.argv[1:]])
    lines = ["# Normalising a batch: contiguous first, then cast", "", f"Command: `{command}`", "",
             f"Machine: {system_info()['cpu']}; numpy {np.__version__}. A uint8 batch of {args.batch_size} "
             "images to float32 channel-first, the bundled model's scale and shift; fastest of "
             f"{args.repeat} interleaved rounds of 20 calls. Outputs identical bit for bit.", "",
             "| input | normalisation | µs per image | speed-up |", "|---|---|---:|---:|"]
    for size in args.size or [32]:
        pixels = np.random.default_rng(0).integers(0, 256, (args.batch_size, size, size, 3), dtype=np.uint8)
        if not np.array_equal(strided_cast(pixels, pre.scale, pre.shift), pre.normalize(pixels)):
            raise SystemExit("normalize and the strided cast disagree")
        runs: dict[str, list[float]] = {"strided cast (before)": [], "contiguous, then cast (normalize)": []}
        fns = [lambda: strided_cast(pixels, pre.scale, pre.shift), lambda: pre.normalize(pixels)]
        for _ in range(args.repeat):  # rounds take turns, so drift hits both alike
            for label, fn in zip(runs, fns):
                runs[label] += fastest_us_per_image(fn, args.batch_size, 1)
        best = {label: min(values) for label, values in runs.items()}
        base = best["strided cast (before)"]
        lines += [f"| {size}x{size}x3 | {label} | {us:.2f} | {base / us:.1f}x |" for label, us in best.items()]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[8:]), file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
