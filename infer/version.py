"""The installed imgcheck version."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def imgcheck_version() -> str:
    """The version of the installed `imgcheck` distribution ("0+unknown" when run from an uninstalled tree)."""
    try:
        return version("imgcheck")
    except PackageNotFoundError:
        return "0+unknown"
