"""Decoding with Pillow's plugin order against opening by the file's signature first, side by side in one run.

    python benchmarks/open_by_signature.py --folder runs/scan_limit/images --folder ../shared/data/photos

Both are the scan's decode of one batch in one process (`pipeline.decode_chunk`, provenance on, as a scan runs),
on the same files, taking turns over `--repeat` rounds after one untimed round; the figure is the median round,
in microseconds per image. "Pillow's order" is `Image.open(stream)`, which tries every registered plugin in turn;
"signature first" is `image_signatures.open_image`, which tries the plugin the file's first bytes name and falls
back to Pillow's order. The run checks that pixels, facts and errors are identical. A second pair of rows per
folder times the header-only read a trainer makes of every file (`image_sizes.image_size_range`: open, read the
size) with `Image.open(path)` and with `open_image`. Results go to benchmarks/results/open_by_signature.md.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from imgcheck.infer.image_signatures import open_image

RESULTS = Path(__file__).parent / "results"


def _size_pillow(path: str) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def _size_by_signature(path: str) -> tuple[int, int]:
    with open(path, "rb") as stream, open_image(stream) as img:
        return img.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", action="append", required=True, help="a folder of images (repeatable)")
    parser.add_argument("--limit", type=int, default=5000, help="at most this many files per folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "open_by_signature.md")
    args = parser.parse_args()
    import imgcheck.infer.preprocess as preprocess
    from imgcheck.infer.models.bundled import bundled_model_path
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.scan.discover import Selection, discover
    from imgcheck.infer.scan.pipeline import decode_chunk
    from imgcheck.infer.system import system_info

    pre = preprocess.Preprocessor.from_meta(ModelFile.open(bundled_model_path()).meta)
    openers = {"Pillow's order": Image.open, "signature first": open_image}
    command = shlex.join(["python", "benchmarks/open_by_signature.py", *sys.argv[1:]])
    lines = ["# Opening images by their signature first", "", f"Command: `{command}`", "",
             f"Machine: {system_info()['cpu']}; Pillow {Image.__version__}. The scan's decode of each folder "
             f"(at most {args.limit:,} files) in one process with provenance, as one batch; median of "
             f"{args.repeat} interleaved rounds after one untimed round. Pixels, facts and errors identical.", "",
             "| folder | files | opener | µs per image | speed-up |", "|---|---:|---|---:|---:|"]
    for folder in args.folder:
        paths = list(discover([folder], Selection()))[:args.limit]
        times: dict[str, list[float]] = {name: [] for name in openers}
        chunks = {}
        for round_ in range(1 + args.repeat):  # rounds take turns, so drift hits both alike
            for name, opener in openers.items():
                preprocess.open_image = opener
                started = time.perf_counter()
                chunks[name] = decode_chunk(paths, pre, True)
                if round_:
                    times[name].append((time.perf_counter() - started) / len(paths) * 1e6)
        preprocess.open_image = open_image
        headers = {"header only, Pillow's order": _size_pillow, "header only, signature first": _size_by_signature}
        for round_ in range(1 + args.repeat):
            for name, read_size in headers.items():
                started = time.perf_counter()
                for path in paths:
                    read_size(path)
                if round_:
                    times.setdefault(name, []).append((time.perf_counter() - started) / len(paths) * 1e6)
        before, after = chunks.values()
        if not (np.array_equal(before.pixels, after.pixels) and before.facts == after.facts
                and before.errors == after.errors):
            raise SystemExit(f"{folder}: the two openers decoded differently")
        for name, values in times.items():
            base = statistics.median(times["header only, Pillow's order" if name.startswith("header") else
                                           "Pillow's order"])
            us = statistics.median(values)
            lines.append(f"| {folder} | {len(paths):,} | {name} | {us:,.0f} | {base / us:.2f}x |")
            print(lines[-1], file=sys.stderr)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
