"""Options shared by several commands, declared once so that each means the same everywhere."""

from __future__ import annotations

from collections.abc import Callable

import click

batch_size_option = click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
                                 help="Images per model call.")
workers_option = click.option("--workers", type=click.IntRange(min=0), default=None,
                              help="Decoding processes [default: sized from the first batch's decode and model "
                                   "times; 0 decodes in this process].")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="Model runtime threads [default: every core].")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                             show_default=True, help="auto tries CUDA, then CPU; the provider that runs is reported.")
no_draft_option = click.option("--no-draft", is_flag=True,
                               help="Decode large JPEGs at full size (slower; use what your scans use).")
quiet_option = click.option("--quiet", is_flag=True, help="No progress and no summary on stderr.")


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
