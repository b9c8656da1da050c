"""A Hub detector run by `imgcheck scan` (after `imgcheck import`) against the `transformers` pipeline loop a user
writes today (`hub_pipeline.py`): same model, same images, whole commands side by side, scores checked equal.

    python benchmarks/hub_scan.py --build vit-b16 --build swin-t --images ../shared/data/photos --copies 8 --repeats 2

`--build` makes a random-weight model of that size locally (two labels, `artificial` and `human`, as published
detectors name them; speed does not depend on the weights' values); `--model NAME=DIR` takes a real snapshot folder
instead. `--copies N` scans N hard-linked copies of each image, so that start-up is not most of a run. Each model is
imported twice: float32 ONNX, and int8 (`--int8-scheme`, default dynamic: onnxruntime's dynamic quantization of the
MatMuls), both behind the import's real-image parity gate. Rows: the pipeline loop, then the fp32 and int8 scans,
each exact (`--no-draft`: full decode, as the processor sees the image) and by default (large JPEGs decoded at a
reduced scale); each a whole command (process start to exit, median of the interleaved repeats), with the scan's
own seconds from its sidecar. The model alone (bench's infer stage, batch 8, once per repeat between the scans)
is the ceiling a scan is held to.
Results go to benchmarks/results/hub_scan.{md,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

PIPELINE = Path(__file__).with_name("hub_pipeline.py")
IMGCHECK = [sys.executable, "-m", "imgcheck.infer"]
LABELS = {0: "artificial", 1: "human"}  # 'artificial' is the FAKE class
# The random head's bias (artificial, human). A random head puts every image's p_fake near 0.5, where the int8
# import's parity gate (rightly) counts each rounding as a flipped verdict: a random-weight ViT-B/16 flipped one of
# 147 check inputs (worst |dp_fake| 0.018) with dynamic int8. This bias puts scores near 0.1, away from the
# threshold as a trained detector's are on most images; speed does not depend on it.
HEAD_BIAS = [-1.0, 1.0]


def build(kind: str, folder: Path) -> Path:
    """A random-weight ViT-B/16 or Swin-T image classifier with its processor, saved as a Hub snapshot."""
    import torch
    from transformers import SwinConfig, SwinForImageClassification, ViTConfig, ViTForImageClassification, \
        ViTImageProcessor

    torch.manual_seed(0)
    labels = {"id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()}}
    if kind == "vit-b16":
        model = ViTForImageClassification(ViTConfig(image_size=224, patch_size=16, **labels))
        processor = ViTImageProcessor(size={"height": 224, "width": 224}, resample=2)
    elif kind == "swin-t":
        model = SwinForImageClassification(SwinConfig(image_size=224, embed_dim=96, depths=[2, 2, 6, 2],
                                                      num_heads=[3, 6, 12, 24], window_size=7, **labels))
        processor = ViTImageProcessor(size={"height": 224, "width": 224}, resample=3)
    else:
        raise SystemExit(f"--build takes vit-b16 or swin-t, not {kind}")
    with torch.no_grad():  # scores away from the threshold, as a trained detector's are on most images (see HEAD_BIAS)
        model.classifier.bias.copy_(torch.tensor(HEAD_BIAS))
    out = folder / kind
    model.eval().save_pretrained(out)
    processor.save_pretrained(out)
    return out


def run(command: list[str], refusal_ok: bool = False) -> tuple[str | None, str]:
    """Run `command`: (None, its output), or with `refusal_ok` (the refusal, its output) for an exit 1 (an import
    the parity gate refused)."""
    done = subprocess.run(command, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if refusal_ok and done.returncode == 1:
        return done.stderr.strip().splitlines()[-1], output
    if done.returncode not in (0, 3):
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return None, output


def timed(command: list[str], timer: harness.Timer) -> None:
    with timer:
        run(command)


def infer_ips(model: Path, images: str) -> float:
    """Images/s of the model alone on ready tensors (bench's infer stage, batch 8, the scan's batch at 224x224)."""
    done = subprocess.run([*IMGCHECK, "bench", str(model), "--images", images, "--stages", "infer",
                           "--batch-sizes", "8", "--repeat", "1", "--json", "--quiet"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]["samples_per_sec"]


def scores_delta(pipeline_csv: Path, scan_csv: Path) -> float:
    """Largest |p_fake(scan) - score('artificial')(pipeline)| over the images both scored."""
    with open(pipeline_csv) as fh:
        reference = {row["path"]: float(row["artificial"]) for row in csv.DictReader(fh)}
    with open(scan_csv) as fh:
        scanned = {row["path"]: float(row["p_fake"]) for row in csv.DictReader(fh) if row["p_fake"]}
    common = sorted(set(reference) & set(scanned))
    if not common:
        raise SystemExit("the pipeline and the scan scored no image in common")
    return max(abs(reference[p] - scanned[p]) for p in common)


def copies_of(images: str, copies: int, work: Path) -> str:
    """`images` itself (copies 1), or a folder of `copies` hard links to each of its images (copies under other
    names are scanned again, as new files would be)."""
    if copies == 1:
        return images
    folder = work / "images"
    folder.mkdir(exist_ok=True)
    for path in sorted(Path(images).rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            for copy in range(copies):
                (folder / f"{path.stem}-{copy}{path.suffix}").hardlink_to(path)
    return str(folder)


def measure(name: str, folder: Path, images: str, scheme: str, calibration: str, check: str, repeats: int,
            work: Path) -> dict:
    fp32, int8 = work / f"{name}.onnx", work / f"{name}-int8.onnx"
    run([*IMGCHECK, "import", str(folder), "--out", str(fp32), "--check-images", check, "--quiet"])
    static = [] if scheme.startswith("dynamic") else ["--calibration", calibration]
    int8_refused, report = run([*IMGCHECK, "import", str(folder), "--out", str(int8), "--format", "onnx-int8",
                                "--int8-scheme", scheme, *static, "--check-images", check], refusal_ok=True)
    int8_parity = next((line for line in report.splitlines() if line.startswith("parity")), None)
    count = sum(1 for p in Path(images).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    commands = {"transformers pipeline loop": [sys.executable, str(PIPELINE), str(folder), images,
                                               str(work / "pipe.csv")]}
    for kind, model in (("fp32", fp32), ("int8", int8)):
        if kind == "int8" and int8_refused:
            continue
        for decode, flags in (("exact", ["--no-draft"]), ("default", [])):
            commands[f"imgcheck scan, {kind} ONNX, {decode} decode"] = [
                *IMGCHECK, "scan", images, "--model", str(model), "--quiet", *flags,
                "--out", str(work / f"{kind}-{decode}.csv")]
    timers = {label: harness.Timer(warmup=1) for label in commands}
    scanning: dict[str, list[float]] = {label: [] for label in commands}
    alone: dict[str, list[float]] = {kind: [] for kind in ("fp32", "int8")}
    for repeat in range(1 + repeats):
        for label, command in commands.items():
            if "--out" in command:
                out = Path(command[command.index("--out") + 1])
                for stale in (out, out.with_name(out.name + ".json")):
                    stale.unlink(missing_ok=True)
            timed(command, timers[label])
            if "--out" in command:
                scanning[label].append(json.loads(out.with_name(out.name + ".json").read_text())["seconds"])
        if repeat:  # the ceiling measured between the same repeats as the scans, not after them
            alone["fp32"].append(infer_ips(fp32, images))
            if not int8_refused:
                alone["int8"].append(infer_ips(int8, images))
    ceiling = {kind: statistics.median(values) if values else None for kind, values in alone.items()}
    rows = {}
    for label, timer in timers.items():
        scan_seconds = statistics.median(scanning[label][1:]) if scanning[label] else None
        out = commands[label][commands[label].index("--out") + 1] if "--out" in commands[label] else None
        rows[label] = {"wall_s": timer.median, "wall_min_s": timer.min, "wall_max_s": timer.max,
                       "scan_s": scan_seconds, "images_per_s": count / timer.median,
                       "scan_images_per_s": count / scan_seconds if scan_seconds else None,
                       "max_abs_delta": scores_delta(work / "pipe.csv", Path(out)) if out else None}
    return {"model": name, "images": count, "int8_scheme": scheme, "rows": rows, "model_alone_ips": ceiling,
            "int8_refused": int8_refused, "int8_parity": int8_parity}


def render(results: list[dict]) -> list[str]:
    body = ["Whole commands, process start to exit, median of the interleaved repeats (min-max in brackets); the "
            "scan's own images/s from its sidecar (first file to last row) beside the model alone on ready tensors "
            "(`imgcheck bench --stages infer`, batch 8, median of one run per repeat, interleaved with the "
            "commands).", ""]
    rows = []
    for result in results:
        base = result["rows"]["transformers pipeline loop"]["wall_s"]
        for label, row in result["rows"].items():
            kind = "int8" if "int8" in label else "fp32"
            scan_ips = row["scan_images_per_s"]
            of_model = (f"{scan_ips / result['model_alone_ips'][kind]:.2f}" if scan_ips and "scan" in label
                        else "-")
            delta = f"{row['max_abs_delta']:.2g}" if row["max_abs_delta"] is not None else "-"
            rows.append([result["model"], result["images"], label,
                         f"{row['wall_s']:.2f} s ({row['wall_min_s']:.2f}-{row['wall_max_s']:.2f})",
                         f"{row['images_per_s']:.2f}", f"{scan_ips:.2f}" if scan_ips else "-", of_model,
                         f"{base / row['wall_s']:.2f}x", delta])
    body.append(harness.table(["model", "images", "command", "wall", "images/s (whole command)", "images/s (scan)",
                               "scan / model alone", "vs pipeline", "max |Δ p_fake| vs pipeline"], rows,
                              "llllrrrrr"))
    body += ["", "Model alone (images/s, batch 8): " + "; ".join(
        f"{r['model']} fp32 {r['model_alone_ips']['fp32']:.2f}"
        + (f", int8 {r['model_alone_ips']['int8']:.2f}" if r["model_alone_ips"]["int8"] else "") for r in results) + "."]
    body += [f"\n{r['model']} int8 ({r['int8_scheme']}) import, {r['int8_parity']}" for r in results
             if r["int8_parity"]]
    body += [f"\n{r['model']} int8: the import was refused by its parity gate, so it has no row: {r['int8_refused']}"
             for r in results if r["int8_refused"]]
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], help="vit-b16 or swin-t (repeatable)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="a real snapshot folder")
    parser.add_argument("--images", required=True)
    parser.add_argument("--int8-scheme", default="dynamic", help="the int8 import's scheme (imgcheck import)")
    parser.add_argument("--calibration", default="samples", help="images to calibrate a static int8 scheme on")
    parser.add_argument("--copies", type=int, default=1, help="scan this many hard-linked copies of each image")
    parser.add_argument("--check-images", default="samples", help="real images for the import's parity gate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--note", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imgcheck-hub-") as scratch:
        work = Path(scratch)
        models = [(kind, build(kind, work)) for kind in args.build]
        models += [(text.split("=", 1)[0], Path(text.split("=", 1)[1])) for text in args.model]
        images = copies_of(args.images, args.copies, work)
        results = [measure(name, folder, images, args.int8_scheme, args.calibration, args.check_images,
                           args.repeats, work) for name, folder in models]
    harness.write_result(harness.RESULTS / "hub_scan.md", "Hub detectors: `imgcheck scan` vs the pipeline loop",
                         render(results) + ["", *args.note], {"results": results})


if __name__ == "__main__":
    main()
