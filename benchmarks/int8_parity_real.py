"""int8 against fp32 on real images: how often each exported int8 file changes a verdict of its fp32 twin.

    python benchmarks/int8_parity_real.py --images data/cifake/test --count 2000 MODEL.onnx MODEL.int8.onnx ...

Arguments come in pairs (fp32 file, int8 file). `imgcheck export`'s parity gate runs on a seeded batch of random
pixels plus `--check-images` when given; a model that saturates on random pixels passes it whatever its int8
arithmetic does, so this measures the same bound (verdict agreement >= 99.5%) on real, labelled images.
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
    from imgcheck.infer.scan.discover import Selection, discover
    from imgcheck.infer.scan.pipeline import decode_chunk

    every = list(discover([args.images], Selection()))
    # a seeded random draw: CIFAKE's file names carry the CIFAR category, so every N-th name would favour some
    picked = np.random.default_rng(args.seed).choice(len(every), min(args.count, len(every)), replace=False)
    paths = [every[i] for i in sorted(picked)]
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
