"""int8 against fp32 on real images: how often each exported int8 file changes a verdict of its fp32 twin.

    python benchmarks/int8_parity_real.py --images data/cifake/test --count 2000 MODEL.onnx MODEL.int8.onnx ...

Arguments come in pairs (fp32 file, int8 file). This measures the export gate's bound (verdict agreement >= 99.5%,
|dROC-AUC| <= 0.002) on real, labelled images. It was written when the gate ran on a seeded batch of random pixels
alone unless `--check-images` was given, which a model that saturates on random pixels passes whatever its int8
arithmetic does; the gate now compares fp16/int8 verdicts on real images only (`--check-images`, or the images held
out of `--calibration`), and `reproduce_report.py` passes it the images this script draws (`draw_images`).
Writes benchmarks/results/int8_parity_real.md and .json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import harness


def p_fake(path: str, inputs: np.ndarray) -> np.ndarray:
    """The file's p_fake for every input, on every core."""
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.runtime import load_backend
    from imgcheck.infer.runtime.outputs import combine_tiles

    model_file = ModelFile.open(path)
    backend = load_backend(model_file, "cpu", None)
    return np.concatenate([combine_tiles(np.asarray(backend(inputs[i:i + 256])), model_file.meta)
                           for i in range(0, len(inputs), 256)])


def draw_images(folder: str, count: int, seed: int = 0) -> list[str]:
    """`count` image paths drawn at random (seeded) from the images a scan of `folder` finds, in scan order. A random
    draw, not every N-th name: CIFAKE's file names carry the CIFAR category, so every N-th name would favour some."""
    from imgcheck.infer.scan.discover import Selection, discover

    every = list(discover([folder], Selection()))
    picked = np.random.default_rng(seed).choice(len(every), min(count, len(every)), replace=False)
    return [every[i] for i in sorted(picked)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="a labelled folder (REAL/ and FAKE/ inside)")
    parser.add_argument("--count", type=int, default=2000, help="images drawn at random (seeded) from the folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("models", nargs="+", help="pairs: FP32.onnx INT8.onnx")
    args = parser.parse_args()
    if len(args.models) % 2:
        parser.error("models come in pairs: FP32.onnx INT8.onnx")
    from imgcheck.export.parity import MAX_AUC_DELTA, MIN_AGREEMENT, compare
    from imgcheck.infer.image_files import label_from_path
    from imgcheck.infer.models.formats import FORMATS
    from imgcheck.infer.models.model_file import ModelFile
    from imgcheck.infer.preprocess import Preprocessor
    from imgcheck.infer.scan.pipeline import decode_chunk

    paths = draw_images(args.images, args.count, args.seed)
    labels = np.asarray([label_from_path(Path(p).relative_to(args.images).parts[:-1])[0] for p in paths])
    rows = []
    for fp32, int8 in zip(args.models[::2], args.models[1::2]):
        meta = ModelFile.open(fp32).meta
        pre = Preprocessor.from_meta(meta)
        inputs = pre.normalize(decode_chunk(paths, pre, False).pixels)
        a, b = p_fake(fp32, inputs), p_fake(int8, inputs)
        gate = compare(FORMATS["onnx-int8"], a, b, labels, meta.threshold, atol=0.0)  # the export gate's own bound
        rows.append({"model": Path(fp32).stem, "fp32": fp32, "int8": int8, "images": len(paths),
                     "mean_abs_dp": float(np.mean(np.abs(a - b))), "flipped": 1 - gate.verdict_agreement,
                     "accuracy_fp32": float(np.mean((a >= meta.threshold) == labels)),
                     "accuracy_int8": float(np.mean((b >= meta.threshold) == labels)), **gate.as_dict()})
        print(f"{rows[-1]['model']}: {rows[-1]['flipped']:.2%} of verdicts flipped", file=sys.stderr)
    body = [f"{len(paths):,} images drawn at random (seed {args.seed}) from {args.images}, {int(labels.sum()):,} of "
            f"them FAKE. The export gate's bound for int8 is verdict agreement >= {MIN_AGREEMENT:.1%} and "
            f"|dROC-AUC| <= {MAX_AUC_DELTA}.", "",
            harness.table(["model", "max |dp|", "mean |dp|", "verdicts flipped", "within the gate",
                           "ROC-AUC fp32 / int8", "accuracy fp32 / int8"],
                          [[r["model"], f"{r['max_abs_diff']:.4f}", f"{r['mean_abs_dp']:.4f}", f"{r['flipped']:.2%}",
                            "yes" if r["passed"] else "no", f"{r['auc_reference']:.4f} / {r['auc_export']:.4f}",
                            f"{r['accuracy_fp32']:.2%} / {r['accuracy_int8']:.2%}"] for r in rows],
                          align="lrrrlrr")]
    page = harness.RESULTS / "int8_parity_real.md"
    harness.write_result(page, "int8 against fp32 on real images", body, {"rows": rows})
    print(f"wrote {page}", file=sys.stderr)


if __name__ == "__main__":
    main()
