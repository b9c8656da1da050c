"""The imgcheck error family and its documented exit codes."""

from __future__ import annotations

from enum import IntEnum

import click


class ExitCode(IntEnum):
    """Process exit codes; docs/scan.md (Exit codes) documents each one."""

    OK = 0
    ERROR = 1  # any ImgcheckError, or an unexpected failure
    USAGE = 2  # bad command line (click's own UsageError/BadParameter)
    SCAN_ERRORS = 3  # scan finished, but some files got ERROR rows (--strict makes this 1)
    GATE_FAILED = 4  # a gate was breached: scan --fail-under/--fail-over, bench --fail-below
    NOTHING_TO_SCAN = 5  # scan found no image to scan in its inputs (an empty folder, a glob that matches nothing)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)
    OUTPUT_CLOSED = 141  # the reader of --out - (or a FIFO) went away: `| head` (128 + SIGPIPE, as a shell reports it)


class ImgcheckError(click.ClickException):
    """A failure the user can act on: printed as one message, without a traceback (unless --debug)."""

    exit_code = ExitCode.ERROR


class ModelFileError(ImgcheckError):
    """A model file that cannot be read or is of an unknown kind."""


class ModelMetaError(ImgcheckError):
    """A model's ModelMeta is missing, malformed, or from a newer imgcheck."""


class RuntimeSetupError(ImgcheckError):
    """The ONNX runtime is missing, installed twice (cpu and gpu), or broken."""


class DependencyMissingError(ImgcheckError):
    """An optional dependency (for example torch, from the `train` extra) is not installed."""


class ImageDecodeError(ImgcheckError):
    """One image could not be decoded; `reason` is a short one-line cause suitable for a CSV cell."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)
