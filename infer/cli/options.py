"""Options shared by several commands, declared once so that each means the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

DEVICES = ("auto", "cpu", "cuda")


class SharedOption(click.Option):
    """An option declared in this module: a test checks that every command's --device, --workers, --threads,
    --quiet, --json and --batch-size is one, so each name has one type and one spelling."""


def _shared(*decls: str, **attrs: Any) -> Callable[[Callable], Callable]:
    return click.option(*decls, cls=SharedOption, **attrs)


def batch_size(default: int | None = None, help: str | None = "Images per model call.") -> Callable:  # noqa: A002
    """`--batch-size N`; default None: the scan's own (`balance.default_batch_size`)."""
    return _shared("--batch-size", type=click.IntRange(min=1), default=default, show_default=default is not None,
                   help=help)


SCAN_WORKERS_HELP = ("Decoding processes [default: sized from the first batch's decode and model times; 0 decodes in "
                     "this process].")


def workers(default: int | None = None, help: str = SCAN_WORKERS_HELP) -> Callable:  # noqa: A002
    """`--workers N`: processes that decode images (a scan's, bench's; train's DataLoader workers)."""
    return _shared("--workers", type=click.IntRange(min=0), default=default, show_default=True, help=help)


def threads(help: str = "Model runtime threads [default: every core].") -> Callable:  # noqa: A002
    """`--threads N`: the model runtime's threads; the default (None) is every core."""
    return _shared("--threads", type=click.IntRange(min=1), default=None, help=help)


def device(help: str = "auto tries CUDA, then CPU; the provider that runs is reported.",  # noqa: A002
           default: str = "auto", several: bool = False) -> Callable:
    """`--device auto|cpu|cuda`; with `several`, a comma-separated list of cpu and cuda (into `devices`)."""
    if several:
        return _shared("--device", "devices", default=default, show_default=True, callback=comma_list(DEVICES[1:]),
                       help=help)
    return _shared("--device", type=click.Choice(DEVICES), default=default, show_default=True, help=help)


def quiet(help: str = "No progress and no summary on stderr.") -> Callable:  # noqa: A002
    """`--quiet`: nothing on stderr but errors."""
    return _shared("--quiet", is_flag=True, help=help)


def json_flag(what: str, dest: str = "as_json", instead: str | None = None) -> Callable:
    """`--json`: print `what` as JSON to stdout (instead of `instead`). Always a flag: a file is another option."""
    return _shared("--json", dest, is_flag=True,
                   help=f"Print {what} as JSON to stdout" + (f" instead of {instead}." if instead else "."))


def comma_list(choices: tuple[str, ...] | None = None, integers: bool = False) -> Callable:
    """A click callback that splits `a,b,c` into a list: of `choices`, or of positive integers."""
    def convert(ctx: click.Context, param: click.Parameter, value: str) -> list:
        items = [v.strip() for v in value.split(",") if v.strip()]
        if integers:
            try:
                numbers = [int(v) for v in items]
            except ValueError:
                raise click.BadParameter(f"expected comma-separated integers, got {value!r}")
            if not numbers or min(numbers) < 1:
                raise click.BadParameter(f"expected positive integers, got {value!r}")
            return numbers
        unknown = [v for v in items if choices and v not in choices]
        if unknown or not items:
            raise click.BadParameter(f"expected a comma-separated list of {', '.join(choices or ())}, got {value!r}")
        return list(dict.fromkeys(items))
    return convert


# The scan's spelling of each (scan and calibrate).
batch_size_option = batch_size(help="Images per model call [default: as many as hold 256 32x32 inputs' pixels, a "
                                    "power of two from 8 to 256: 256 at 32x32, 8 at 224x224].")
workers_option = workers()
threads_option = threads()
device_option = device()
quiet_option = quiet()
no_draft_option = click.option("--no-draft", is_flag=True,
                               help="Decode large JPEGs at full size (slower; use what your scans use).")


def scan_options(f: Callable) -> Callable:
    """--batch-size, --workers, --threads, --device and --no-draft: how a model scores a folder (scan, calibrate)."""
    for option in (no_draft_option, device_option, threads_option, workers_option, batch_size_option):
        f = option(f)
    return f


class InputSizeType(click.ParamType):
    """N (square) or HxW, in pixels."""

    name = "N|HxW"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, tuple):
            return value
        height, sep, width = str(value).lower().partition("x")
        try:
            size = (int(height), int(width or height)) if (sep and width) or not sep else None
        except ValueError:
            size = None
        if size is None or min(size) < 1:
            self.fail(f"{value!r} is not N or HxW with positive integers (e.g. 224 or 256x192)", param, ctx)
        return size
