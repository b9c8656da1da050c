"""Progress as a scan or a training run reports it: a handle the library advances, and its rich rendering (a bar
with images/s, elapsed time and an ETA) for terminals. rich is imported only when a bar is drawn."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import ProgressColumn


class ProgressHandle(Protocol):
    """What the library tells a progress display: work done, and the total once it is known."""

    def advance(self, count: int) -> None: ...

    def set_total(self, total: int) -> None: ...


class NoProgress:
    """A handle that shows nothing (quiet runs, the Python API, pipes)."""

    wants_total = False

    def advance(self, count: int) -> None:
        pass

    def set_total(self, total: int) -> None:
        pass


def images_per_second_column() -> ProgressColumn:
    """A rich column showing the task's recent speed as images per second."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class ImagesPerSecondColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f} img/s" if task.speed else "", style="progress.data.speed")

    return ImagesPerSecondColumn()


class _RichHandle:
    wants_total = True

    def __init__(self, progress, task) -> None:  # noqa: ANN001 - rich's Progress and TaskID
        self._progress, self._task = progress, task

    def advance(self, count: int) -> None:
        self._progress.update(self._task, advance=count)

    def set_total(self, total: int) -> None:
        self._progress.update(self._task, total=total)


@contextlib.contextmanager
def progress_bar(console: Console, label: str, quiet: bool = False) -> Iterator[ProgressHandle]:
    """A transient progress bar on `console` (files, images/s, elapsed, ETA once the total is set); a handle that
    shows nothing when `quiet` or when the console is not a terminal."""
    if quiet or not console.is_terminal:
        yield NoProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), images_per_second_column(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True) as progress:
        yield _RichHandle(progress, progress.add_task(label, total=None))
