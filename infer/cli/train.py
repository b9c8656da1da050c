"""`imgcheck train`: train a registered model on a REAL/FAKE dataset. torch is imported only when it runs."""

from __future__ import annotations

import click

from imgcheck.infer.cli.options import InputSizeType
from imgcheck.infer.errors import DependencyMissingError

ARCH_NAMES = ("cnn", "cnn_bn", "cnn_bn_wide", "cnn_bn_srm", "resnet18_v1", "resnet50_v1", "resnet50_v2", "resnet101_v1", "resnet101_v2",
              "resnet50_preact", "resnet101_preact")


class SizeType(click.ParamType):
    """A positive number of images, or "all"."""

    name = "N|all"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "all":
            return None
        try:
            number = int(str(value).replace("_", "").replace(",", ""))
        except ValueError:
            self.fail(f"{value!r} is not a number of images or 'all'", param, ctx)
        if number < 2:
            self.fail("needs at least 2 images (one per class)", param, ctx)
        return number


@click.command()
@click.option("--arch", type=click.Choice(ARCH_NAMES), default="cnn", show_default=True, help="Model to train.")
@click.option("--input-size", type=InputSizeType(), default="32", show_default=True,
              help="The size images are fed at, N or HxW (ResNets 32-512, cnn_bn 8-2048; the report's cnn only 32).")
@click.option("--fit", type=click.Choice(["resize", "crop"]), default="resize", show_default=True,
              help="resize: the whole image to the input size; crop: native-resolution crops, never resampled "
                   "(training takes a random crop; evaluation and scans score --tiles crops).")
@click.option("--tiles", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --fit crop: crops scored per image (1: the centre; more: a grid over the image).")
@click.option("--tile-combine", type=click.Choice(["mean_logit", "max"]), default="mean_logit", show_default=True,
              help="How the tiles' scores make the image's: the mean of their logits, or the largest.")
@click.option("--max-side", type=click.IntRange(min=8), default=1024, show_default=True,
              help="With --fit crop: images are kept in memory at most this many pixels a side.")
@click.option("--data", default="data/cifake", show_default=True,
              help="Folder with train/{REAL,FAKE} and test/{REAL,FAKE}, or with REAL/ and FAKE/ (split by --seed), "
                   "or 'kaggle' to download CIFAKE.")
@click.option("--source", "sources", multiple=True, metavar="NAME=DIR",
              help="Another source of REAL and/or FAKE images (repeatable), e.g. ddpm=gen/ddpm/FAKE; scored on its own.")
@click.option("--val-source", "val_sources", multiple=True, metavar="NAME",
              help="Hold the --source NAME out of training: its images join the validation split (leave-one-"
                   "generator-out selection). Repeatable.")
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Share of each source without train/ and test/ folders that goes to test.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run folder [default: runs/ARCH].")
@click.option("--train-size", type=SizeType(), default="25000", show_default=True,
              help="Training images drawn (balanced over class and CIFAR category), or 'all'.")
@click.option("--test-size", type=SizeType(), default="5000", show_default=True,
              help="Test images drawn (balanced), or 'all'.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of the training draw held out (balanced) to select the epoch.")
@click.option("--select-on", type=click.Choice(["val", "test"]), default="val", show_default=True,
              help="Split that selects the epoch and stops early; 'test' is the report's (optimistic) protocol.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Maximum epochs.")
@click.option("--target-acc", type=float, default=0.95, show_default=True,
              help="Stop once the selection accuracy reaches this (see --no-target).")
@click.option("--no-target", is_flag=True, help="Never stop on accuracy; run all epochs (or until --patience).")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Stop after N epochs without improvement.")
@click.option("--lr", type=float, default=1e-4, show_default=True, help="Adam learning rate.")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="Learning rate over the run: constant (the report's), or one epoch of linear warm-up, then cosine "
                   "decay to 0 at --epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--eval-batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--augment", default="none", show_default=True, metavar="NAME[,NAME...]",
              help="Training augmentations, comma-separated: hflip, shift (hflip-crop = hflip,shift), resize, blur, "
                   "noise, jpeg.")
@click.option("--augment-p", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Probability of each of resize, blur, noise and jpeg per image.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="cuda uses bf16 autocast and channels_last.")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model (useful on CUDA).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes for decoding.")
@click.option("--cache", type=click.Choice(["memory", "disk", "none"]), default="memory", show_default=True,
              help="Decode each image once and keep uint8 pixels in memory or on disk; 'none' decodes every epoch.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for --cache disk [default: OUT/cache].")
@click.option("--pretrained", is_flag=True, help="Start ResNets from torchvision's ImageNet weights (downloads them).")
@click.option("--weights-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Start from a local state_dict (torchvision ImageNet format) or an imgcheck checkpoint.")
@click.option("--dedupe", is_flag=True, help="Drop training images byte-identical to any test image.")
@click.option("--threshold-on-val", "threshold_objective", default=None, metavar="OBJECTIVE",
              help="Choose the decision threshold on the validation split: balanced_accuracy, f1 or fpr=X "
                   "[default: 0.5].")
@click.option("--keep-epochs", is_flag=True,
              help="Also save every epoch's weights as OUT/epochs/epoch_NN.pt (to export an epoch another split picks).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue the interrupted run in this folder with its saved settings (other options are ignored).")
@click.option("--quiet", is_flag=True, help="No progress or status output.")
def train(arch, input_size, fit, tiles, tile_combine, max_side, data, sources, val_sources, test_fraction, out, train_size, test_size, val_fraction, select_on, seed, epochs, target_acc, no_target,
          patience, lr, schedule, batch_size, eval_batch_size, augment, augment_p, device, compile_model, workers,
          cache, cache_dir,
          pretrained, weights_file, dedupe, threshold_objective, keep_epochs, resume_dir, quiet) -> None:  # noqa: ANN001 - click supplies the types
    """Train a detector; the defaults are the report's recipe (Adam 1e-4, batch 32/64, at most 10 epochs,
    stop at 95% accuracy) on its balanced 25k-train / 5k-test CIFAKE subsets.

    Writes config.json, history.json/.csv, curves.png, best.pt, last.pt and summary.json to --out.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DependencyMissingError("imgcheck train needs torch: pip install 'imgcheck[train]'")
    from imgcheck.trainer.run import TrainConfig, load_config, run_training

    if resume_dir:
        config = load_config(resume_dir)
        config.out = resume_dir
    else:
        config = TrainConfig(
            arch=arch, input_size=input_size, fit=fit, tiles=tiles, tile_combine=tile_combine, max_side=max_side,
            data=data, sources=tuple(sources), val_sources=tuple(val_sources), test_fraction=test_fraction, out=out or f"runs/{arch}", train_size=train_size,
            test_size=test_size,
            val_fraction=val_fraction, select_on=select_on, seed=seed, epochs=epochs,
            target_acc=None if no_target else target_acc, patience=patience, lr=lr, schedule=schedule,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size, device=device, compile=compile_model, workers=workers, cache=cache,
            cache_dir=cache_dir, augment=augment, augment_p=augment_p, pretrained=pretrained,
            weights_file=weights_file, dedupe=dedupe,
            threshold_objective=threshold_objective, keep_epochs=keep_epochs,
        )
    run_training(config, resume=bool(resume_dir), quiet=quiet)
