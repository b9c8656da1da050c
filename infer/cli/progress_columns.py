"""Rich progress pieces shared by the commands."""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text


class ImagesPerSecondColumn(ProgressColumn):
    """The task's recent speed as images per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} img/s" if task.speed else "", style="progress.data.speed")
