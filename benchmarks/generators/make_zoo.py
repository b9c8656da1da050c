"""Make the generator zoo's fakes (imgcheck.trainer.zoo), from CIFAKE's REAL *training* images only (never the dev
or test fakes): autoencoders per upsampling family, whose reconstructions of other REAL training images are aligned
fakes, and hinge-loss GANs per upsampling family, sampled from noise.

    python benchmarks/generators/make_zoo.py                                  # every generator
    python benchmarks/generators/make_zoo.py --generators gan_transpose,gan_nearest --gan-epochs 8

Writes OUT/<generator>/FAKE/*.jpg (JPEG q75 4:2:0, like CIFAKE; an autoencoder's named after the real image it
reconstructs), and, in git, benchmarks/results/zoo/zoo.md with each generator's command, training time, losses and
sample count, plus a sample grid per generator. Generators made by earlier commands keep their records (zoo.json
holds one per generator). The samples themselves stay out of git: the commands remake them (seeded).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for the shared harness
import harness  # noqa: E402
from imgcheck.trainer.zoo import (DECODERS, reconstruct, sample_gan, sample_grid, train_autoencoder,  # noqa: E402
                                  train_gan, write_jpegs)

ROOT = harness.ROOT
ZOO = harness.RESULTS / "zoo"
GENERATORS = (*(f"ae_{d}" for d in DECODERS), "gan_transpose", "gan_nearest", "gan_bilinear")
FAMILIES = {"ae": "autoencoder (aligned reconstructions)", "gan": "GAN (hinge loss, spectral norm; from noise)"}


def load(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def make(name: str, train: np.ndarray, originals: np.ndarray, sample_names: list[str], args: argparse.Namespace,
         out: Path) -> dict:
    """Train one generator, write its samples and grid; its record."""
    family, decoder = name.split("_", 1)
    if family == "ae":
        with harness.Timer() as timer:
            model, losses = train_autoencoder(train, decoder, epochs=args.epochs)
        fakes = reconstruct(model, originals)
        names, epochs = sample_names, args.epochs
        extra = {"epoch_l1": losses,
                 "mean_abs_error_grey_levels": float(np.abs(fakes.astype(np.int16) - originals.astype(np.int16)).mean())}
    else:
        with harness.Timer() as timer:
            model, losses = train_gan(train, decoder, epochs=args.gan_epochs)
        fakes = sample_gan(model, len(originals), seed=1)
        names, epochs = [f"{name}_{i:05d}.jpg" for i in range(len(fakes))], args.gan_epochs
        extra = {"epoch_loss_d": losses["d"], "epoch_loss_g": losses["g"]}
    write_jpegs(fakes, out / name / "FAKE", names)
    sample_grid(fakes, ZOO / f"{name}.png")
    print(f"{name}: {timer.last:.0f} s", file=sys.stderr, flush=True)
    return {"generator": name, "family": FAMILIES[family], "decoder": decoder, "train_images": len(train),
            "epochs": epochs, "train_seconds": timer.last, "samples": len(fakes),
            "parameters": sum(p.numel() for p in model.parameters()), **extra}


def render(records: list[dict]) -> list[str]:
    """zoo.md's body: one row per generator, with the command that made it."""
    def final(r: dict) -> str:
        if "epoch_l1" in r:
            return f"L1 {r['epoch_l1'][-1]:.4f}; sample error {r['mean_abs_error_grey_levels']:.2f} grey levels"
        return f"hinge D {r['epoch_loss_d'][-1]:.3f}, G {r['epoch_loss_g'][-1]:.3f}"
    return ["Every generator trained on CIFAKE REAL *training* images only (a seeded draw) and wrote its samples as "
            "JPEG q75 4:2:0 under `runs/zoo/<generator>/FAKE` (not in git; the command remakes them). An autoencoder "
            "reconstructs other REAL training images (aligned fakes; `real.png` shows the originals its grid "
            "reconstructs); a GAN samples from seeded noise. Training times are wall seconds on this project's "
            "2-core CPU, with other jobs sharing it.", "",
            harness.table(["generator", "family", "decoder", "parameters", "train images", "epochs", "training s",
                           "final losses", "samples", "grid", "command"],
                          [[r["generator"], r["family"], r["decoder"], f"{r['parameters']:,}", f"{r['train_images']:,}",
                            r["epochs"], f"{r['train_seconds']:.0f}", final(r), f"{r['samples']:,}",
                            f"`{r['generator']}.png`", f"`{r['command']}`"] for r in records],
                          align="lllrrrrlrll")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="REAL training images each generator learns")
    parser.add_argument("--samples", type=int, default=5_000, help="samples per generator (an autoencoder's are "
                        "reconstructions of as many other REAL training images)")
    parser.add_argument("--epochs", type=int, default=3, help="autoencoder epochs")
    parser.add_argument("--gan-epochs", type=int, default=5, help="GAN epochs")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo")
    parser.add_argument("--generators", default=",".join(GENERATORS), help=f"comma list of {', '.join(GENERATORS)}")
    args = parser.parse_args()
    chosen = [g.strip() for g in args.generators.split(",") if g.strip()]
    unknown = sorted(set(chosen) - set(GENERATORS))
    if unknown:
        raise SystemExit(f"unknown generator(s) {', '.join(unknown)}; choose from {', '.join(GENERATORS)}")
    real = sorted((ROOT / "data" / "cifake" / "train" / "REAL").iterdir())
    if len(real) < args.train + args.samples:
        raise SystemExit("data/cifake/train/REAL is missing or too small: tar xzf ../shared/data/cifake.tar.gz -C data/")
    order = np.random.default_rng(0).permutation(len(real))
    train_paths = [real[i] for i in order[: args.train]]
    sample_paths = [real[i] for i in order[args.train: args.train + args.samples]]
    train, originals = load(train_paths), load(sample_paths)
    ZOO.mkdir(parents=True, exist_ok=True)
    command = harness.command()
    record_file = ZOO / "zoo.json"
    known = json.loads(record_file.read_text()) if record_file.exists() else {"generators": []}
    by_name = {r["generator"]: r for r in known["generators"]}  # each record carries the command that made it
    for name in chosen:
        by_name[name] = {"command": command, **make(name, train, originals, [p.name for p in sample_paths], args,
                                                    args.out)}
    sample_grid(originals, ZOO / "real.png")
    records = [by_name[g] for g in GENERATORS if g in by_name]
    print(harness.write_result(ZOO / "zoo.md", "The generator zoo", render(records), {"generators": records}), end="")


if __name__ == "__main__":
    main()
