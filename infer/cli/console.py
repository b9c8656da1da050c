"""The one place that makes the CLI's consoles: status, progress, tables and messages on stderr; data on stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stderr_console(quiet: bool = False, width: int | None = None) -> Console:
    """The console for everything that is not data: status lines, progress bars, summaries, warnings.

    `width` fixes the width when stderr is not a terminal (logs keep one row per line instead of folding)."""
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    if width and not console.is_terminal:
        console.width = width
    return console


def stdout_console(width: int = 120) -> Console:
    """A console for tables that are the command's data (`info`, `bench`): on stdout, `width` wide in pipes."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = width
    return console
