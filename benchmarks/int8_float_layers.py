"""Keeping layers in float: does it bring an int8 file within the export gate's bound, and what does it cost?

    python benchmarks/int8_float_layers.py --model resnet50_v1=runs/repro/resnet50_v1_recipe/export/resnet50_v1.onnx \
        --calibration runs/repro/calibration --check runs/repro/check

For each float32 ONNX model and each static scheme (`--schemes`), the quantizer `imgcheck export --int8` uses
(`imgcheck.export.quantize.quantize_onnx`: QDQ, per-channel, MinMax, on the same calibration images) writes one file
per plan, each plan keeping more of the weight layers (Conv, Gemm, MatMul, in graph order) in float: the first
convolution only (what `imgcheck export` does), the last 10% or 25%, the first 25%, the first and last 10%. Each
file's verdicts are compared with the float32 file's on the `--check` images at the model's threshold (the gate's
bound: agreement >= 99.5%), and its speed measured: the model alone at batch `--batch-size`, every core, the files
taking turns over `--repeat` rounds, median images/s. Writes benchmarks/results/int8_float_layers.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import harness

PLANS = {  # plan: which weight layers stay in float, given their count n (the first convolution always does)
    "first conv only": lambda n: slice(0, 1),
    "last 10%": lambda n: slice(n - n // 10, n),
    "last 25%": lambda n: slice(n - n // 4, n),
    "first 25%": lambda n: slice(0, n // 4),
}
MIN_AGREEMENT = 0.995  # the export gate's bound for int8


def measure(name: str, path: Path, calibration_dir: Path, check_dir: Path, schemes: list[str], batch_size: int,
            repeat: int) -> list[dict[str, Any]]:
    """One row per (scheme, plan), and the float32 file's, on `check_dir`'s images."""
    from imgcheck.export.int8_schemes import SCHEMES
    from imgcheck.export.parity import build_check_set
    from imgcheck.export.quantize import quantize_onnx, weight_nodes
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.runtime.onnx import onnx_session
    from imgcheck.infer.runtime.outputs import to_p_fake

    meta = ModelFile.open(path).meta
    calibration = build_check_set(meta, count=0, folder=calibration_dir).inputs
    inputs = build_check_set(meta, count=0, folder=check_dir, limit=100_000).inputs
    nodes = weight_nodes(path)
    with tempfile.TemporaryDirectory(prefix="int8-float-layers-") as scratch:
        files = {("fp32", "-"): (path, 0)}
        for scheme in schemes:
            for plan, pick in PLANS.items():
                kept = nodes[pick(len(nodes))]
                dest = Path(scratch) / f"{scheme}-{len(files)}.onnx"
                quantize_onnx(path, dest, calibration, SCHEMES[scheme], Path(scratch), "minmax", keep_float=kept)
                files[(scheme, plan)] = (dest, len(set(kept) | set(nodes[:1])))
                print(f"{name}: {scheme}, {plan}: {files[(scheme, plan)][1]} of {len(nodes)} layers in float",
                      file=sys.stderr)
        sessions = {key: onnx_session(file, "cpu", None) for key, (file, _) in files.items()}

        def scores(session: Any) -> np.ndarray:
            input_name = session.get_inputs()[0].name
            return to_p_fake(np.concatenate([session.run(None, {input_name: inputs[i:i + batch_size]})[-1]
                                             for i in range(0, len(inputs), batch_size)]), meta)

        p = {key: scores(session) for key, session in sessions.items()}
        batch = np.ascontiguousarray(inputs[:batch_size])
        timers = {key: harness.Timer(warmup=1) for key in sessions}
        for _ in range(1 + repeat):  # the files take turns, so drift hits all alike
            for key, session in sessions.items():
                with timers[key]:
                    for _ in range(4):
                        session.run(None, {session.get_inputs()[0].name: batch})
    reference = p[("fp32", "-")] >= meta.threshold
    fp32_speed = statistics.median(timers[("fp32", "-")].rates(4 * batch_size))
    rows = []
    for (scheme, plan), (_, in_float) in files.items():
        agreement = float(np.mean((p[(scheme, plan)] >= meta.threshold) == reference))
        speed = statistics.median(timers[(scheme, plan)].rates(4 * batch_size))
        rows.append({"model": name, "scheme": scheme, "plan": plan, "layers_in_float": in_float,
                     "weight_layers": len(nodes), "agreement": agreement, "within_bound": agreement >= MIN_AGREEMENT,
                     "images_per_s": speed, "vs_fp32": speed / fp32_speed, "check_images": len(inputs)})
        print(f"{name} {scheme} {plan}: agreement {agreement:.2%}, {speed:,.0f}/s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, type=harness.named_model, metavar="NAME=PATH",
                        help="a float32 ONNX file (repeatable)")
    parser.add_argument("--calibration", type=Path, required=True, help="images to calibrate on (REAL/ and FAKE/)")
    parser.add_argument("--check", type=Path, required=True, help="labelled images to compare verdicts on")
    parser.add_argument("--schemes", default="u8s8-reduce-range,u8u8", help="comma-separated static schemes")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "int8_float_layers.md")
    args = parser.parse_args()
    rows = []
    for name, path in args.model:
        rows += measure(name, Path(path), args.calibration, args.check, args.schemes.split(","), args.batch_size,
                        args.repeat)
    body = [
        f"Verdicts of each int8 file against its float32 file on {rows[0]['check_images']:,} check images at the "
        f"model's threshold; the export gate's bound is agreement >= {MIN_AGREEMENT:.1%}. Speed: the model alone, "
        f"batch {args.batch_size}, every core, median of {args.repeat} interleaved rounds.", "",
        harness.table(["model", "scheme", "layers in float", "agreement", "within the bound", "images/s", "vs fp32"],
                      [[r["model"], r["scheme"], "-" if r["scheme"] == "fp32" else
                        f"{r['plan']} ({r['layers_in_float']} of {r['weight_layers']})", f"{r['agreement']:.2%}",
                        "yes" if r["within_bound"] else "no", f"{r['images_per_s']:,.0f}", f"{r['vs_fp32']:.2f}x"]
                       for r in rows], align="lllrlrr"),
    ]
    harness.write_result(args.out, "int8: keeping layers in float", body, {"rows": rows})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
