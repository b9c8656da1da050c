"""How close `imgcheck scan` comes to the limit set by its own stages, for several models, side by side in one run.

    python benchmarks/scan_limit.py --images runs/scan_limit/images \
        --model cnn=runs/scan_limit/models/cnn.onnx --model bundled --model resnet18_v1=PATH.onnx [--grid]

For each model, in one process, in rounds on the same files (each round times every stage and split once):
* infer: the model alone on ready float32 batches with every core (`imgcheck bench`'s infer stage; the faster of
  spinning and non-spinning runtime threads);
* decode: decoding alone with one worker process per core (`imgcheck bench`'s decode stage);
* limit = 1 / (1/infer + 1/decode): the throughput if the cores were shared perfectly between the two stages;
* scan: the whole pipeline (discover, decode in workers, model, CSV rows) with the split `imgcheck scan` picks now
  (`auto`: every core as non-spinning runtime threads, decoders sized from the first batch at lower priority),
  the same without reading provenance (exactly the decode stage's work), the split it used before (one decoding
  worker per core at equal priority, the runtime on the cores left, at least one), and with `--grid` the
  alternatives: auto at equal priority, auto with spinning threads, auto with one runtime thread, one decoder per
  core, one decoder, decoding in the scanning process.

Every figure is the median of `--repeat` timed rounds after one untimed round; a scan's share of the limit is the
median of its rounds' shares, each against the limit measured in the same round. Each stage and scan also records
its CPU time per image: in the scanning process (every thread, the runtime's too), in the decoding workers, and
the cores' idle time, so the page shows what a scan spends beyond its stages. Results go to
benchmarks/results/scan_limit.md and scan_limit.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import harness


def previous_split(cores: int) -> tuple[int, int]:
    """(decoding workers, runtime threads) by the rule scans used before issue 21: one decoder per core, the runtime
    on the cores they leave, at least one."""
    workers = cores
    return workers, max(1, cores - workers)


def measure_model(name: str, path: str, folder: str, batch_size: int, repeat: int,
                  grid: bool) -> list[dict[str, Any]]:
    """Every row of one model: its infer and decode stages, its limit, and its scans by split.

    Each round measures the stages and then every split, so the limit a scan is held to comes from the same
    minutes as the scan (this machine's speed drifts by up to 20% between minutes); a row's share of the limit
    is the median of its rounds' shares."""
    from imgcheck.infer.bench.measure import ready_tensors, time_decode, time_infer, time_scan
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.runtime import load_backend
    from imgcheck.infer.scan.balance import default_threads
    from imgcheck.infer.scan.pipeline import DECODER_NICENESS
    from imgcheck.infer.scan.discover import Selection, discover

    cores = os.cpu_count() or 1
    model_file = ModelFile.open(path)
    meta = model_file.meta
    paths = list(discover([folder], Selection()))
    tensors = ready_tensors(paths, meta, cores)
    threads = default_threads(cores)
    # (label, workers (None: chosen as `imgcheck scan` does), runtime threads, spinning, decoders' niceness,
    #  provenance read)
    splits = [("auto", None, threads, False, DECODER_NICENESS, True),
              ("auto, provenance off (the decode stage's work)", None, threads, False, DECODER_NICENESS, False),
              ("before", *previous_split(cores), False, 0, True)]
    if grid:
        splits += [("auto, decoders at equal priority", None, threads, False, 0, True),
                   ("auto, spinning threads", None, threads, True, DECODER_NICENESS, True),
                   ("auto, one runtime thread", None, 1, False, DECODER_NICENESS, True),
                   ("one decoder per core", cores, threads, False, DECODER_NICENESS, True),
                   ("one decoder", 1, threads, False, DECODER_NICENESS, True),
                   ("decoding in the scanning process", 0, threads, False, 0, True)]
    backends = {(t, s): load_backend(model_file, "cpu", t, spinning=s)
                for t, s in {(cores, False), (cores, True)} | {(t, s) for _, _, t, s, _, _ in splits}}
    infer: dict[bool, list[float]] = {False: [], True: []}
    decode: list[float] = []
    cpu: dict[Any, list[dict[str, float]]] = {"infer": [], "decode": []}  # CPU seconds per image, per round
    limits: list[float] = []
    timings: dict[tuple, list[float]] = {split: [] for split in splits}
    chosen: dict[tuple, Any] = {}
    for round_ in range(1 + repeat):  # round 0 is untimed; rounds interleave everything, so drift hits all alike
        infer_cpu = {}
        for spinning in (False, True):
            backend = backends[(cores, spinning)]
            timing = time_infer(backend, tensors, batch_size, 3, 1, backend.synchronize)
            infer_cpu[spinning] = timing.cpu_per_image()
            if round_:
                infer[spinning].append(timing.summary()["samples_per_sec"])
        timing = time_decode(paths, meta, batch_size, cores, 0, 1)
        speed = timing.summary()["samples_per_sec"]
        if round_:
            decode.append(speed)
            limits.append(1 / (1 / max(infer[False][-1], infer[True][-1]) + 1 / speed))
            cpu["infer"].append(infer_cpu[infer[True][-1] > infer[False][-1]])  # the faster one, as the limit
            cpu["decode"].append(timing.cpu_per_image())
        for split in splits:
            _, workers, threads, spinning, niceness, provenance = split
            backend = backends[(threads, spinning)]
            timing = time_scan(folder, backend, meta, batch_size, workers, 0, 1, backend.synchronize,
                               threads=threads, niceness=niceness, provenance=provenance)
            chosen[split] = timing.split
            if round_:
                timings[split].append(timing.summary()["samples_per_sec"])
                cpu.setdefault(split, []).append(timing.cpu_per_image())
        if round_:
            print(f"{name}: round {round_}: infer {infer[False][-1]:,.0f}/s (spinning {infer[True][-1]:,.0f}/s), "
                  f"decode {decode[-1]:,.0f}/s, limit {limits[-1]:,.0f}/s; auto scan {timings[splits[0]][-1]:,.0f}/s",
                  file=sys.stderr)
    median = statistics.median
    best_infer = max(median(infer[False]), median(infer[True]))
    rows = []
    for split in splits:
        label, _, threads, spinning, niceness, provenance = split
        fractions = [speed / limit for speed, limit in zip(timings[split], limits)]
        speed = median(timings[split])
        print(f"{name}: scan {label}: workers {chosen[split].workers} threads {threads}: {speed:,.0f}/s "
              f"({median(fractions):.0%} of the limit; rounds {', '.join(f'{f:.0%}' for f in fractions)})",
              file=sys.stderr)
        rows.append({"model": name, "arch": meta.arch, "split": label, "workers": chosen[split].workers,
                     "threads": threads, "spinning": spinning, "decoder_niceness": niceness,
                     "provenance": provenance, "scan_per_s": speed, "passes_per_s": timings[split],
                     "infer_per_s": best_infer,
                     "infer_per_s_by_spinning": {str(k).lower(): median(v) for k, v in infer.items()},
                     "decode_per_s": median(decode), "decode_passes_per_s": decode, "limit_per_s": median(limits),
                     "limit_by_round_per_s": limits, "fraction_of_limit": median(fractions),
                     "fraction_by_round": fractions, "reason": chosen[split].reason,
                     "cpu_us_per_image": median_cpu(cpu[split]),
                     "stage_cpu_us_per_image": {stage: median_cpu(cpu[stage]) for stage in ("infer", "decode")}})
    return rows


def median_cpu(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Microseconds of CPU per image (`Timing.cpu_per_image`'s parts: scanning process, decoding workers, idle
    cores), the median over rounds."""
    return {part: statistics.median(r[part] for r in rounds) * 1e6 for part in rounds[0]}


def render(rows: list[dict[str, Any]], images: int, batch_size: int, repeat: int) -> list[str]:
    """The page's body: one table of stages and limits, one of scans by split, then where the CPU time went."""
    first: dict[str, dict[str, Any]] = {}  # each model's first row, in order
    for r in rows:
        first.setdefault(r["model"], r)
    models = list(first.values())
    lines = [
        f"{images:,} images, batch {batch_size}, {repeat} timed rounds after one untimed round, all in one run. "
        "Each round times the infer stage, the decode stage and then every split's scan, so each scan is held to "
        "the limit of its own minutes: 1 / (1/infer + 1/decode), what the scan would reach if the cores were "
        "shared perfectly between its two stages. Speeds are medians over the rounds; a split's share of the "
        "limit is the median of its rounds' shares (each round's share is in scan_limit.json).", "",
        harness.table(["model", "infer images/s (all cores)", "decode images/s (one worker per core, no provenance)",
                       "limit images/s"],
                      [[f"{r['model']} ({r['arch']})", f"{r['infer_per_s']:,.0f}", f"{r['decode_per_s']:,.0f}",
                        f"{r['limit_per_s']:,.0f}"] for r in models], align="lrrr"),
        "",
    ]
    splits = []
    for r in rows:
        bold = "**" if r["split"] == "auto" else ""
        splits.append([r["model"], f"{bold}{r['split']}{bold}", r["workers"], r["threads"],
                       "on" if r["spinning"] else "off", f"+{r['decoder_niceness']}", f"{r['scan_per_s']:,.0f}",
                       f"{bold}{r['fraction_of_limit']:.0%}{bold}"])
    lines += [harness.table(["model", "split", "decoding workers", "runtime threads", "spinning", "decoders' niceness",
                             "scan images/s", "of the limit"], splits, align="llrrlrrr"),
              "", "Why auto chose its split, per model:", ""]
    for model in models:
        auto = next(x for x in rows if x["model"] == model["model"] and x["split"] == "auto")
        lines.append(f"- {model['model']}: {auto['reason']}")
    return lines + cpu_table(rows)


def cpu_table(rows: list[dict[str, Any]]) -> list[str]:
    """Where each model's CPU time went, in microseconds per image: its two stages, their sum (what the limit
    assumes a scan spends) and the scans by `auto` and the rule before."""
    cells = []
    for r in rows:
        if r["split"] not in ("auto", "before"):
            continue
        entries = []
        if r["split"] == "auto":
            stages = r["stage_cpu_us_per_image"]
            both = {part: stages["infer"][part] + stages["decode"][part] for part in stages["infer"]}
            entries = [("infer stage", stages["infer"]), ("decode stage", stages["decode"]),
                       ("the two stages together", both)]
        entries.append((f"scan, {r['split']}", r["cpu_us_per_image"]))
        cells += [[r["model"], label, f"{parts['own']:.0f}", f"{parts['workers']:.0f}", f"{parts['idle']:.0f}",
                   f"{sum(parts.values()):.0f}"] for label, parts in entries]
    return ["", "Where the CPU time went, in microseconds per image (the median over rounds; the scanning process "
            "counts every thread, the runtime's too; unused is the cores' time that neither used: idle, or another "
            "program's):", "",
            harness.table(["model", "measured", "scanning process", "decoding workers", "unused", "all cores"], cells,
                          align="llrrrr")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="folder of images to scan")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH|bundled",
                        help="a model to measure (repeatable); 'bundled' is the bundled model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="also every split of workers and threads")
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "scan_limit.md")
    args = parser.parse_args()
    from imgcheck.infer.models.bundled import bundled_model_path
    from imgcheck.infer.scan.discover import Selection, discover

    rows: list[dict[str, Any]] = []
    for spec in args.model:
        name, _, path = spec.partition("=")
        if spec == "bundled":
            path = str(bundled_model_path())
        rows += measure_model(name, path, args.images, args.batch_size, args.repeat, args.grid)
    images = sum(1 for _ in discover([args.images], Selection()))
    harness.write_result(args.out, "Scan against the limit of its own stages",
                         render(rows, images, args.batch_size, args.repeat), {"rows": rows})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
