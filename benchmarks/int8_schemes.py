"""The int8 schemes on this CPU: parity with the float32 model and speed, side by side in one run.

    python benchmarks/int8_schemes.py --model cnn_bn=runs/g19/previous_bundled_cnn_bn-cifake.onnx \
        --model resnet18_v1=runs/repro/resnet18_v1_both/export/resnet18_v1.onnx \
        --calibration data/cifake/train --test data/cifake/test

For each float32 ONNX model, every static scheme of `imgcheck.export.int8_schemes` is quantized by the quantizer `imgcheck
export --int8` uses (`quantize_onnx`: QDQ, per-channel, MinMax, first convolution in float), all on the same
calibration images, drawn as `imgcheck export --calibration` draws them (`--calibration-count` spread evenly over
the folder's sorted files, `export.parity.build_check_set`). Parity: |p_fake(int8) - p_fake(fp32)| and verdicts
flipped at the model's threshold, on `--count` test images (half REAL, half FAKE), plus each file's accuracy.
Speed: the model alone at `--batch-size` with every core as runtime threads, the files interleaved over `--repeat`
rounds, median images/s. Results go to benchmarks/results/int8_schemes.md and int8_schemes.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import harness


def balanced_inputs(folder: Path, count: int, meta: Any) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs of the first count/2 files (by name) of folder/REAL and folder/FAKE, and their labels (1 FAKE)."""
    from imgcheck.infer.preprocess import Preprocessor

    pre = Preprocessor.from_meta(meta)
    pixels, labels = [], []
    for label, name in ((0, "REAL"), (1, "FAKE")):
        for path in sorted((folder / name).iterdir())[: count // 2]:
            pixels.append(pre.load_tiles(path))
            labels.append(label)
    return pre.normalize(np.concatenate(pixels)), np.asarray(labels)


def run_session(session: Any, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The session's last output over `inputs`, batch by batch, flattened."""
    name, output = session.get_inputs()[0].name, session.get_outputs()[-1].name
    return np.concatenate([session.run([output], {name: inputs[i:i + batch_size]})[0].reshape(-1)
                           for i in range(0, len(inputs), batch_size)])


def measure_model(name: str, path: Path, calibration_dir: Path, test_dir: Path, count: int, calibration_count: int,
                  batch_size: int, repeat: int) -> list[dict[str, Any]]:
    """One row per file (fp32 and each scheme): parity against fp32, accuracy and speed."""
    from imgcheck.export.int8_schemes import SCHEMES
    from imgcheck.export.parity import build_check_set
    from imgcheck.export.quantize import quantize_onnx
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.runtime.onnx import onnx_session
    from imgcheck.infer.runtime.outputs import to_p_fake

    meta = ModelFile.open(path).meta
    calibration = build_check_set(meta, count=0, folder=calibration_dir, limit=calibration_count).inputs
    inputs, labels = balanced_inputs(test_dir, count, meta)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="int8-schemes-") as scratch:
        files = {"fp32": path}
        for scheme in (s for s in SCHEMES.values() if not s.dynamic):  # dynamic ones quantize MatMuls: no convnets
            files[scheme.name] = Path(scratch) / f"{scheme.name}.onnx"
            quantize_onnx(path, files[scheme.name], calibration, scheme)
            print(f"{name}: quantized {scheme.name}", file=sys.stderr)
        sessions = {key: onnx_session(file, "cpu", cores) for key, file in files.items()}
        scores = {key: to_p_fake(run_session(s, inputs, batch_size), meta) for key, s in sessions.items()}
        sizes = {key: file.stat().st_size for key, file in files.items()}
        batch = np.ascontiguousarray(inputs[:batch_size])
        calls = max(1, 2048 // batch_size)
        timers = {key: harness.Timer(warmup=1) for key in sessions}  # round 0 warms up
        for _ in range(1 + repeat):  # the files take turns, so drift hits all alike
            for key, session in sessions.items():
                with timers[key]:
                    for _ in range(calls):
                        session.run(None, {session.get_inputs()[0].name: batch})
        speeds = {key: timer.rates(calls * batch_size) for key, timer in timers.items()}
    reference = scores["fp32"]
    rows = []
    for key, p in scores.items():
        diff = np.abs(p - reference)
        flipped = np.mean((p >= meta.threshold) != (reference >= meta.threshold))
        speed = statistics.median(speeds[key])
        rows.append({"model": name, "arch": meta.arch, "scheme": key, "size_bytes": sizes[key],
                     "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                     "verdicts_flipped": float(flipped), "accuracy": float(np.mean((p >= meta.threshold) == labels)),
                     "images_per_s": speed, "images_per_s_rounds": speeds[key], "test_images": len(labels)})
        print(f"{name} {key}: max|dp| {diff.max():.4f}, flipped {flipped:.2%}, {speed:,.0f}/s", file=sys.stderr)
    fp32_speed = rows[0]["images_per_s"]
    for row in rows:
        row["speedup_vs_fp32"] = row["images_per_s"] / fp32_speed
    return rows


def render(rows: list[dict[str, Any]], vnni: bool, default: str, batch_size: int, repeat: int) -> list[str]:
    """The page's body."""
    return [
        f"VNNI or AMX on this CPU: {'yes' if vnni else 'no'}. Parity against the float32 file on "
        f"{rows[0]['test_images']:,} CIFAKE test images; speed: the model alone, batch {batch_size}, every core, "
        f"median of {repeat} interleaved rounds. `imgcheck export --int8` on this CPU uses **{default}** "
        "(`--int8-scheme auto`).", "",
        harness.table(["model", "file", "size", "max |dp|", "mean |dp|", "verdicts flipped", "accuracy", "images/s",
                       "vs fp32"],
                      [[r["model"], r["scheme"], f"{r['size_bytes'] / 1e6:.2f} MB", f"{r['max_abs_diff']:.4f}",
                        f"{r['mean_abs_diff']:.4f}", f"{r['verdicts_flipped']:.2%}", f"{r['accuracy']:.2%}",
                        f"{r['images_per_s']:,.0f}", f"{r['speedup_vs_fp32']:.2f}x"] for r in rows], align="llrrrrrrr"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, type=harness.named_model, metavar="NAME=PATH",
                        help="a float32 ONNX file (repeatable)")
    parser.add_argument("--calibration", type=Path, required=True, help="folder with REAL/ and FAKE/ to calibrate on")
    parser.add_argument("--test", type=Path, required=True, help="folder with REAL/ and FAKE/ to compare on")
    parser.add_argument("--count", type=int, default=2000, help="test images (half per class)")
    parser.add_argument("--calibration-count", type=int, default=512, help="calibration images (as export's default)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "int8_schemes.md")
    args = parser.parse_args()
    from imgcheck.export.int8_schemes import default_scheme, has_vnni
    from imgcheck.infer.system import cpu_flags

    rows = []
    for name, path in args.model:
        rows += measure_model(name, Path(path), args.calibration, args.test, args.count, args.calibration_count,
                              args.batch_size, args.repeat)
    flags = cpu_flags()
    default = default_scheme(flags).name
    harness.write_result(args.out, "int8 schemes on this CPU: parity and speed",
                         render(rows, has_vnni(flags), default, args.batch_size, args.repeat),
                         {"vnni": has_vnni(flags), "default": default, "rows": rows})
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
