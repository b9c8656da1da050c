"""A training run's settings: each one's default, type and command-line help live here, once.

`imgcheck train` builds its options from these fields (imgcheck.infer.cli.train), so this module imports no torch:
`imgcheck train --help` reads it. What a field looks like on the command line is its `metadata["cli"]`
(a `CliOption`); the option's type comes from the annotation, its default from the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imgcheck.infer.errors import ImgcheckError

# The trainable architectures: the registry in imgcheck.infer.models.architectures has the same (a test says so).
ARCH_NAMES = ("cnn", "cnn_bn", "cnn_bn_wide", "cnn_bn_srm", "resnet18_v1", "resnet50_v1", "resnet50_v2",
              "resnet101_v1", "resnet101_v2", "resnet50_preact", "resnet101_preact", "efficientnet_lite0",
              "opennsfw_resnet50")
FITS = ("resize", "crop")
TILE_COMBINES = ("mean_logit", "max")
SELECT_ON = ("val", "test")
SCHEDULES = ("constant", "cosine")
CACHES = ("memory", "disk", "none")
HEAD_INPUTS = ("pooled", "stages")  # stages: imgcheck.infer.models.stage_features


@dataclass(frozen=True)
class CliOption:
    """How a TrainConfig field is spelled on the command line; the option's type comes from the field's annotation
    (int, float, str, bool: a flag, tuple[str, ...]: repeatable) narrowed by `choices`, `min`/`max` or `parse`."""

    help: str | None = None
    name: str | None = None  # the option when it is not --field-name, e.g. --source for `sources`
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    open: bool = False  # both bounds exclusive
    parse: str | None = None  # "input_size" (N or HxW), "size" (N or all), "dir" (a folder), "file" (an existing file)
    metavar: str | None = None


def setting(default: object, help: str | None = None, **cli: object):  # noqa: A002, ANN201 - a dataclass field
    """A TrainConfig field: its default and how the command line shows it."""
    return field(default=default, metadata={"cli": CliOption(help, **cli)})


@dataclass
class TrainConfig:
    """Every setting of a run; defaults are the report's recipe. Field order is `imgcheck train --help`'s order."""

    arch: str = setting("cnn", "Model to train.", choices=ARCH_NAMES)
    input_size: tuple[int, int] = setting(  # (H, W) the model takes; ModelMeta records it
        (32, 32), "The size images are fed at, N or HxW (ResNets, efficientnet_lite0 and opennsfw_resnet50 32-512, cnn_bn "
        "8-2048; the report's cnn only 32).",
        parse="input_size")
    fit: str = setting(  # ModelMeta records it
        "resize", "resize: the whole image to the input size; crop: native-resolution crops, never resampled "
                  "(training takes a random crop; evaluation and scans score --tiles crops).", choices=FITS)
    tiles: int = setting(1, "With --fit crop: crops scored per image (1: the centre; more: a grid over the image).",
                         min=1, max=64)
    tile_combine: str = setting(
        "mean_logit", "How the tiles' scores make the image's: the mean of their logits, or the largest.",
        choices=TILE_COMBINES)
    max_side: int = setting(1024, "With --fit crop: images are kept in memory at most this many pixels a side.",
                            min=8)
    data: str = setting("data/cifake", "Folder with train/{REAL,FAKE} and test/{REAL,FAKE}, or with REAL/ and FAKE/ "
                                       "(split by --seed), or 'kaggle' to download CIFAKE.")
    sources: tuple[str, ...] = setting(
        (), "Another source of REAL and/or FAKE images (repeatable), e.g. ddpm=gen/ddpm/FAKE; scored on its own.",
        name="--source", metavar="NAME=DIR")
    val_sources: tuple[str, ...] = setting(  # sources that never train: held out whole, into the validation split
        (), "Hold the --source NAME out of training: its images join the validation split (leave-one-generator-out "
            "selection). Repeatable.", name="--val-source", metavar="NAME")
    test_fraction: float = setting(0.2, "Share of each source without train/ and test/ folders that goes to test.",
                                   min=0, max=1, open=True)
    out: str | None = setting(None, "Run folder [default: runs/ARCH].", parse="dir")  # None: runs/ARCH
    train_size: int | None = setting(  # None = every training image
        25_000, "Training images drawn (balanced over class and CIFAR category), or 'all'.", parse="size")
    test_size: int | None = setting(5_000, "Test images drawn (balanced), or 'all'.", parse="size")
    val_fraction: float = setting(0.1, "Share of the training draw held out (balanced) to select the epoch.")
    select_on: str = setting(
        "val", "Split that selects the epoch and stops early; 'test' is the report's (optimistic) protocol.",
        choices=SELECT_ON)
    seed: int = setting(0)
    epochs: int = setting(10, "Maximum epochs.", min=1)
    target_acc: float | None = setting(0.95, "Stop once the selection accuracy reaches this (see --no-target).")
    patience: int | None = setting(None, "Stop after N epochs without improvement.", min=1)
    lr: float = setting(1e-4, "Adam learning rate.")
    schedule: str = setting(
        "constant", "Learning rate over the run: constant (the report's), or one epoch of linear warm-up, then "
                    "cosine decay to 0 at --epochs.", choices=SCHEDULES)
    batch_size: int = setting(32, min=1)
    eval_batch_size: int = setting(64, min=1)
    augment: str = setting(  # comma-separated names (imgcheck.trainer.augment)
        "none", "Training augmentations, comma-separated: hflip, shift (hflip-crop = hflip,shift), resize, blur, "
                "noise, jpeg.", metavar="NAME[,NAME...]")
    augment_p: float = setting(0.1, "Probability of each of resize, blur, noise and jpeg per image.", min=0, max=1)
    device: str = setting("auto", "cuda uses bf16 autocast and channels_last.")
    compile: bool = setting(False, "torch.compile the model (useful on CUDA).")
    sync_batchnorm: bool = setting(
        False, "Under torchrun: BatchNorm statistics over every process's batch (SyncBatchNorm) instead of each "
               "process's own (CUDA only); one process ignores it.")
    workers: int = setting(0, "DataLoader worker processes for decoding.")
    cache: str = setting(
        "memory", "Decode each image once and keep uint8 pixels in memory or on disk; 'none' decodes every epoch.",
        choices=CACHES)
    cache_dir: str | None = setting(None, "Folder for --cache disk [default: OUT/cache].", parse="dir")
    pretrained: bool = setting(False, "Start from torchvision's or timm's ImageNet weights (downloads them).")
    weights_file: str | None = setting(
        None, "Start from a local state_dict (torchvision or timm ImageNet format; tools/pretrained_weights.py makes "
              "efficientnet_lite0's and opennsfw_resnet50's) or an imgcheck checkpoint.", parse="file")
    freeze: bool = setting(
        False, "Frozen-encoder probe: compute the backbone's pooled features once and train only a linear head on "
               "them (start it from --weights-file or --pretrained; the checkpoint holds backbone plus head).")
    head_input: str = setting(
        "pooled", "What the one-logit head reads: pooled, the backbone's final pooled feature (the arch's own head); "
                  "stages, every stage's pooled output concatenated (the model is recorded as ARCH+stages; with "
                  "--freeze, the multi-stage probe).", choices=HEAD_INPUTS)
    dedupe: bool = setting(False, "Drop training images byte-identical to any test image.")
    threshold_objective: str | None = setting(
        None, "Choose the decision threshold on the validation split: balanced_accuracy, f1 or fpr=X "
              "[default: 0.5].", name="--threshold-on-val", metavar="OBJECTIVE")
    keep_epochs: bool = setting(
        False, "Also save every epoch's weights as OUT/epochs/epoch_NN.pt (to export an epoch another split picks).")

    def __post_init__(self) -> None:
        if self.out is None:
            self.out = f"runs/{self.model_arch}"

    @property
    def model_arch(self) -> str:
        """The arch the run builds and its ModelMeta records: `arch`, or `arch+stages` with --head-input stages."""
        return f"{self.arch}+stages" if self.head_input == "stages" else self.arch

    def check(self) -> None:
        """Refuse contradictory settings with a message that says what to change."""
        from imgcheck.trainer.sources import SourceSpec

        if self.select_on not in SELECT_ON:
            raise ImgcheckError(f"--select-on must be val or test, got {self.select_on!r}")
        if not 0 <= self.val_fraction < 1:
            raise ImgcheckError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_fraction == 0 and self.select_on == "val":
            raise ImgcheckError("--val-fraction 0 leaves nothing to select on: use --select-on test, or a fraction "
                                "> 0.")
        named = {SourceSpec.parse(text).name for text in self.sources}
        unknown = [name for name in self.val_sources if name not in named]
        if unknown:
            raise ImgcheckError(f"--val-source {', '.join(unknown)}: not a --source of this run (sources: "
                                f"{', '.join(sorted(named)) or 'none'}); --data always trains.")
        if self.val_sources and self.val_fraction == 0:
            raise ImgcheckError("--val-source joins the validation split: it needs --val-fraction > 0 as well.")
        if self.cache not in CACHES:
            raise ImgcheckError(f"--cache must be memory, disk or none, got {self.cache!r}")
        if self.threshold_objective is not None:
            if self.val_fraction == 0:
                raise ImgcheckError("--threshold-on-val needs a validation split (--val-fraction > 0).")
            try:
                from imgcheck.infer.evaluate.threshold import Objective

                Objective.parse(self.threshold_objective)
            except ValueError as exc:
                raise ImgcheckError(f"--threshold-on-val: {exc}")
        if self.fit not in FITS:
            raise ImgcheckError(f"--fit must be resize or crop, got {self.fit!r}")
        if self.fit == "crop" and self.cache != "memory":
            raise ImgcheckError("--fit crop keeps images at native size in memory (see --max-side); --cache disk and "
                                "none are for --fit resize.")
        if self.fit == "resize" and self.tiles != 1:
            raise ImgcheckError("--tiles needs --fit crop (a resized image is one input).")
        if self.schedule not in SCHEDULES:
            raise ImgcheckError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        from imgcheck.trainer.augment import parse_augment  # torch: only a run checks its settings

        try:
            parse_augment(self.augment)
        except ValueError as exc:
            raise ImgcheckError(f"--augment: {exc}")
        if not 0 <= self.augment_p <= 1:
            raise ImgcheckError(f"--augment-p must be a probability in [0, 1], got {self.augment_p}")
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ImgcheckError("--epochs and batch sizes must be at least 1.")
        if self.freeze:
            self._check_freeze()
        from imgcheck.infer.models.architectures import check_input_size

        check_input_size(self.arch, tuple(self.input_size))

    def _check_freeze(self) -> None:
        """--freeze computes each image's features once, before the first epoch: what varies per epoch cannot
        apply. (An arch without a pooled feature is refused when the run builds it: imgcheck.trainer.probe.)"""
        from imgcheck.trainer.augment import parse_augment

        if parse_augment(self.augment):
            raise ImgcheckError(f"--freeze computes each image's features once, so --augment {self.augment} cannot "
                                f"apply: drop --augment (or train without --freeze).")
        if self.fit == "crop":
            raise ImgcheckError("--freeze computes each image's features once, and --fit crop draws a new random crop "
                                "every epoch: use --fit resize (the default) with --freeze.")
        if self.compile:
            raise ImgcheckError("--freeze trains one linear layer on cached features: there is nothing to --compile; "
                                "drop it.")
