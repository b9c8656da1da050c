"""Training images/s per arch and input size on this machine: the step `imgcheck train` repeats (forward, BCE loss,
backward, Adam), on random batches, measured side by side in one run.

    python benchmarks/train_speed.py [--batch-size 32] [--seconds 6] [--device cpu]

Each configuration: one untimed step, then steps until at least --seconds have passed (at least 3); images/s is
batch size x steps / time. Results: benchmarks/results/train_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import sys

import torch

import harness
from imgcheck.infer.models.architectures import build_model, count_parameters

CONFIGS = [("cnn", 32), ("cnn_bn", 32), ("resnet18_v1", 32), ("resnet50_v1", 32), ("resnet50_preact", 32),
           ("resnet101_v1", 32), ("resnet101_preact", 32), ("cnn_bn", 64), ("cnn_bn", 224), ("resnet18_v1", 64),
           ("resnet18_v1", 128), ("resnet18_v1", 224), ("resnet50_v1", 224),
           # the pretrained backbones (issue 31): fine-tuned at CIFAKE's size, upscaled, and at their ImageNet size
           ("efficientnet_lite0", 32), ("efficientnet_lite0", 96), ("efficientnet_lite0", 224),
           ("opennsfw_resnet50", 32), ("opennsfw_resnet50", 96), ("opennsfw_resnet50", 224)]


def measure(arch: str, size: int, batch_size: int, seconds: float, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = build_model(arch).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    images = torch.randn(batch_size, 3, size, size, device=device)
    targets = (torch.rand(batch_size, device=device) < 0.5).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), targets).backward()
        optimizer.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    steps = 0
    with harness.Timer() as timer:
        while steps < 3 or timer.elapsed() < seconds:
            step()
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return {"arch": arch, "input": f"{size}x{size}", "parameters": count_parameters(model), "batch_size": batch_size,
            "steps": steps, "seconds": timer.last, "images_per_s": batch_size * steps / timer.last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for arch, size in CONFIGS:
        rows.append(measure(arch, size, args.batch_size, args.seconds, device))
        print(f"{arch} {size}: {rows[-1]['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    body = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
            f"{f' ({gpu})' if gpu else ''}. One training step (forward, BCE, backward, Adam) on random batches of "
            f"{args.batch_size}, repeated for at least {args.seconds:g} s after one untimed step; nothing else ran (a "
            "background training run was paused). Real runs add evaluation and, with augmentation, its cost; the "
            "speeds of whole runs are in the epoch records of reproduce_report.md's reading and leading_detector.md.",
            "",
            harness.table(["arch", "input", "parameters", "images/s", "steps timed"],
                          [[f"`{r['arch']}`", r["input"], f"{r['parameters']:,}", f"{r['images_per_s']:,.1f}",
                            r["steps"]] for r in rows], align="llrrr")]
    record = {"device": str(device), "gpu": gpu, "threads": torch.get_num_threads(), "rows": rows}
    print(harness.write_result(harness.RESULTS / "train_speed.md", "Training speed per arch and input size", body,
                               record), end="")


if __name__ == "__main__":
    main()
