"""The installed imgcheck version."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


# The distribution's name: PyPI's "imgcheck" is an unrelated project. The command and the import are `imgcheck`.
DISTRIBUTION = "imgcheck-detector"


def install_extra(extras: str) -> str:
    """How to add imgcheck's `extras` (e.g. "train" or "train,hub") to an installation made from the clone: the
    one place that spells it (the distribution is not on PyPI, whose `imgcheck` is another project)."""
    return f"pip install -e '.[{extras}]' in the imgcheck clone"


@cache
def imgcheck_version() -> str:
    """The version of the installed imgcheck distribution ("0+unknown" when run from an uninstalled tree)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
