"""Make the generator zoo's aligned fakes: one autoencoder per upsampling family (imgcheck.trainer.zoo), trained on
CIFAKE's REAL *training* images, reconstructing other REAL training images (never the dev or test fakes).

    python benchmarks/generators/make_zoo.py [--train 10000] [--samples 5000] [--epochs 3] [--out runs/zoo]

Writes OUT/ae_<decoder>/FAKE/*.jpg (JPEG q75 4:2:0, like CIFAKE; named after the real image each reconstructs),
and, in git, benchmarks/results/zoo/zoo.md with each generator's command, training time, loss and sample count,
plus a sample grid per generator. The samples themselves stay out of git: this script remakes them (seeded).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from imgcheck.trainer.zoo import DECODERS, reconstruct, sample_grid, timed, train_autoencoder, write_jpegs

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "zoo"


def load(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="REAL training images each autoencoder learns")
    parser.add_argument("--samples", type=int, default=5_000, help="other REAL training images it reconstructs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo")
    parser.add_argument("--decoders", default=",".join(DECODERS))
    args = parser.parse_args()
    real = sorted((ROOT / "data" / "cifake" / "train" / "REAL").iterdir())
    if len(real) < args.train + args.samples:
        raise SystemExit("data/cifake/train/REAL is missing or too small: tar xzf ../shared/data/cifake.tar.gz -C data/")
    order = np.random.default_rng(0).permutation(len(real))
    train_paths = [real[i] for i in order[: args.train]]
    sample_paths = [real[i] for i in order[args.train: args.train + args.samples]]
    train, originals = load(train_paths), load(sample_paths)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    shown_out = args.out.resolve().relative_to(ROOT) if args.out.resolve().is_relative_to(ROOT) else args.out
    records = []
    for decoder in args.decoders.split(","):
        (model, losses), seconds = timed(train_autoencoder, train, decoder, epochs=args.epochs)
        fakes = reconstruct(model, originals)
        write_jpegs(fakes, args.out / f"ae_{decoder}" / "FAKE", [p.name for p in sample_paths])
        sample_grid(fakes, RESULTS / f"ae_{decoder}.png")
        l1 = float(np.abs(fakes.astype(np.int16) - originals.astype(np.int16)).mean())
        records.append({"generator": f"ae_{decoder}", "family": "autoencoder (aligned reconstructions)",
                        "decoder": decoder, "train_images": args.train, "epochs": args.epochs,
                        "train_seconds": seconds, "epoch_l1": losses, "samples": len(fakes),
                        "mean_abs_error_grey_levels": l1, "parameters": sum(p.numel() for p in model.parameters())})
        print(f"ae_{decoder}: {seconds:.0f} s, L1 {l1:.2f} grey levels", file=sys.stderr, flush=True)
    sample_grid(originals, RESULTS / "real.png")
    (RESULTS / "zoo.json").write_text(json.dumps({"command": command, "generators": records}, indent=2) + "\n")
    lines = ["# The generator zoo", "", f"Command: `{command}`", "",
             f"Each generator trained on {args.train:,} CIFAKE REAL training images (seeded draw) and reconstructed "
             f"{args.samples:,} other REAL training images, written as JPEG q75 4:2:0 under `{shown_out}` (not in git; "
             "the command remakes them). `real.png` shows the originals the grids reconstruct.", "",
             "| generator | decoder | parameters | epochs | training s | final L1 (train, [0,1]) | mean abs error of "
             "the samples (grey levels) | samples | grid |", "|---|---|---:|---:|---:|---:|---:|---:|---|",
             *[f"| {r['generator']} | {r['decoder']} | {r['parameters']:,} | {r['epochs']} | {r['train_seconds']:.0f} | "
               f"{r['epoch_l1'][-1]:.4f} | {r['mean_abs_error_grey_levels']:.2f} | {r['samples']:,} | "
               f"`{r['generator']}.png` |" for r in records], ""]
    (RESULTS / "zoo.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
