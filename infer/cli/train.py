"""`imgcheck train`: train a registered model on a REAL/FAKE dataset. torch is imported only when it runs.

Its options are TrainConfig's fields (imgcheck.trainer.config, which imports no torch): each setting's default, type
and help text is declared there once, and this module spells them for click.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

import click

from imgcheck.infer.cli import options
from imgcheck.infer.cli.options import InputSizeType
from imgcheck.infer.errors import DependencyMissingError
from imgcheck.trainer.config import ARCH_NAMES, CliOption, TrainConfig
from imgcheck.infer.version import install_extra

__all__ = ["ARCH_NAMES", "SizeType", "config_from_options", "train"]


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


# Settings spelled by a shared option (options.py owns the name and type; the field, the default and help).
SHARED = {"batch_size": options.batch_size, "device": options.device, "workers": options.workers}
no_target_option = click.option("--no-target", is_flag=True,
                                help="Never stop on accuracy; run all epochs (or until --patience).")
# Options that are not settings, and the field each follows in --help.
EXTRA = {"target_acc": (no_target_option,)}
resume_option = click.option(
    "--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
    help="Continue the interrupted run in this folder with its saved settings (other options are ignored).")
quiet_option = options.quiet("No progress or status output.")


def config_option(field: dataclasses.Field, hint: Any) -> Callable:
    """The click option of one TrainConfig field: its type from the annotation `hint` and the field's CliOption,
    its default from the field."""
    spec: CliOption = field.metadata["cli"]
    if field.name in SHARED:
        return SHARED[field.name](default=field.default, help=spec.help)
    decls = (spec.name or "--" + field.name.replace("_", "-"), field.name)
    if hint is bool:
        return click.option(*decls, is_flag=True, default=field.default, help=spec.help)
    if typing.get_origin(hint) is tuple and spec.parse is None:  # tuple[str, ...]: a repeatable option
        return click.option(*decls, multiple=True, default=field.default, metavar=spec.metavar, help=spec.help)
    return click.option(*decls, type=_click_type(hint, spec), default=_default(field, spec), show_default=True,
                        metavar=spec.metavar, help=spec.help)


def _click_type(hint: Any, spec: CliOption) -> Any:
    if spec.parse is not None:
        return {"input_size": InputSizeType, "size": SizeType, "dir": lambda: click.Path(file_okay=False),
                "file": lambda: click.Path(exists=True, dir_okay=False)}[spec.parse]()
    if spec.choices is not None:
        return click.Choice(spec.choices)
    if isinstance(hint, types.UnionType):  # X | None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if spec.min is not None or spec.max is not None:
        kind = click.IntRange if hint is int else click.FloatRange
        return kind(spec.min, spec.max, min_open=spec.open, max_open=spec.open)
    return hint


def _default(field: dataclasses.Field, spec: CliOption) -> Any:
    if spec.parse == "input_size":  # as a user types it: 32 or 48x40
        height, width = field.default
        return str(height) if height == width else f"{height}x{width}"
    return field.default


def train_options(command: Callable) -> Callable:
    """Every TrainConfig field as an option, in field order, then --resume and --quiet."""
    hints = typing.get_type_hints(TrainConfig)
    decorators = []
    for field in dataclasses.fields(TrainConfig):
        decorators += [config_option(field, hints[field.name]), *EXTRA.get(field.name, ())]
    for decorator in reversed([*decorators, resume_option, quiet_option]):
        command = decorator(command)
    return command


def config_from_options(settings: dict[str, Any], no_target: bool = False) -> TrainConfig:
    """The TrainConfig that the parsed options (one keyword per field) describe."""
    config = TrainConfig(**settings)
    if no_target:
        config.target_acc = None
    return config


@click.command()
@train_options
def train(no_target: bool, resume_dir: str | None, quiet: bool, **settings: Any) -> None:
    """Train a detector; the defaults are the report's recipe (Adam 1e-4, batch 32/64, at most 10 epochs,
    stop at 95% accuracy) on its balanced 25k-train / 5k-test CIFAKE subsets.

    Writes config.json, history.json/.csv, curves.png, best.pt, last.pt and summary.json to --out. Started by
    torchrun (`torchrun --nproc-per-node N -m imgcheck train ...`), it trains on N processes with PyTorch DDP,
    --batch-size per process (docs/train.md).
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DependencyMissingError(f"imgcheck train needs torch: {install_extra('train')}")
    from imgcheck.trainer.run import load_config, run_training

    if resume_dir:
        config = load_config(resume_dir)
        config.out = resume_dir
    else:
        config = config_from_options(settings, no_target)
    run_training(config, resume=bool(resume_dir), quiet=quiet)
