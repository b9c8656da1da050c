"""What a training run tells its user, on stderr: status lines, rich progress bars, one line per epoch."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from imgcheck.infer.progress import images_per_second_column


class RunReporter:
    """Status and progress for one run; `quiet` silences everything but errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False)

    def status(self, message: str) -> None:
        """One line of status."""
        if not self.quiet:
            self.console.print(message, soft_wrap=True)

    @contextlib.contextmanager
    def decode_progress(self, split: str, total: int) -> Iterator[Callable[[int], None]]:
        """A bar for decoding a split into the pixel cache; yields on_batch(count)."""
        with self._progress(f"decode {split}", total, "") as advance:
            yield lambda count: advance(count, None)

    @contextlib.contextmanager
    def epoch_progress(self, epoch: int, epochs: int, total: int) -> Iterator[Callable[[int, float], None]]:
        """A bar for one training epoch; yields on_batch(count, running_loss)."""
        with self._progress(f"epoch {epoch}/{epochs}", total, "loss {task.fields[info]}") as advance:
            yield lambda count, loss: advance(count, f"{loss:.4f}")

    @contextlib.contextmanager
    def _progress(self, description: str, total: int, extra: str) -> Iterator[Callable[[int, Any], None]]:
        if self.quiet or not self.console.is_terminal:  # logs get the per-epoch lines, not redrawn bars
            yield lambda count, info: None
            return
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   images_per_second_column(), TextColumn(extra),
                   TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total, info="")

            def advance(count: int, info: Any) -> None:
                progress.update(task, advance=count, **({"info": info} if info is not None else {}))

            yield advance

    def epoch_line(self, row: dict[str, Any]) -> None:
        """One line per epoch: train, val and test risk/accuracy, time and speed."""
        if self.quiet:
            return
        parts = [f"epoch {row['epoch']:>2}" + (" (untrained)" if row["epoch"] == 0 else "")]
        for split in ("train", "val", "test"):
            if row.get(f"{split}_loss") is not None:
                parts.append(f"{split} risk {row[f'{split}_loss']:.4f} acc {row[f'{split}_accuracy']:.4f}")
        if row.get("train_images_per_s"):
            parts.append(f"{row['seconds']:.1f} s, {row['train_images_per_s']:,.0f} img/s")
        self.console.print(" | ".join(parts), soft_wrap=True)

    def summary(self, summary: dict[str, Any]) -> None:
        """The closing lines: why it stopped, the selected epoch and its test metrics."""
        if self.quiet:
            return
        metrics = summary["test_metrics"]
        self.console.print(f"stopped: {summary['stopped']}", soft_wrap=True)
        self.console.print(f"selected epoch {summary['best_epoch']} on {summary['selection']['metric']}: test accuracy "
                           f"{metrics['accuracy']:.4f}, log loss {metrics['log_loss']:.4f}, ROC-AUC "
                           f"{_fmt(metrics['roc_auc'])}, MCC {metrics['mcc']:.4f}, F1 {metrics['f1']:.4f}", soft_wrap=True)
        ddp = summary.get("distributed") or {}
        if ddp.get("world_size", 1) > 1:
            self.console.print(f"trained by {ddp['world_size']} processes ({ddp['backend']}): batch "
                               f"{ddp['batch_per_process']} per process, effective batch {ddp['effective_batch']}, "
                               f"learning rate {ddp['lr']:g}", soft_wrap=True)
        if summary["selection"]["metric"].startswith("test"):
            self.console.print(f"[yellow]note:[/yellow] {summary['selection']['note']}", soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
