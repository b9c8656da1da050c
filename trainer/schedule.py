"""When a run's learning rate changes, when it stops, and which epoch it selects: pure functions of the config,
the step and the history, so a resumed run decides as an uninterrupted one would."""

from __future__ import annotations

import math
from typing import Any

from imgcheck.trainer.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of global batch `step` (0-based). `cosine`: linear warm-up over the first epoch, then
    cosine decay to 0 at the end of epoch `cfg.epochs`. A function of the step alone, so a resumed run follows
    the same curve."""
    if cfg.schedule == "constant":
        return cfg.lr
    total = cfg.epochs * steps_per_epoch
    if step < steps_per_epoch:
        return cfg.lr * (step + 1) / steps_per_epoch
    progress = (step - steps_per_epoch) / max(1, total - steps_per_epoch)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def stop_reason(history: list[dict[str, Any]], cfg: TrainConfig) -> str | None:
    """Why training stops after the last recorded epoch, or None to go on (a pure function of the history)."""
    last = history[-1]
    if last["epoch"] == 0:
        return None
    key = f"{cfg.select_on}_accuracy"
    if cfg.target_acc is not None and last[key] >= cfg.target_acc:
        return f"{key} {last[key]:.4f} reached the target {cfg.target_acc}"
    if last["epoch"] >= cfg.epochs:
        return f"reached the maximum of {cfg.epochs} epochs"
    best = best_epoch(history, cfg)
    if cfg.patience is not None and last["epoch"] - best >= cfg.patience:
        return f"no {key} improvement for {cfg.patience} epochs"
    return None


def best_epoch(history: list[dict[str, Any]], cfg: TrainConfig) -> int:
    """The trained epoch with the highest selection accuracy (ties: lower selection loss, then earlier)."""
    trained = [row for row in history if row["epoch"] > 0]
    acc, loss = f"{cfg.select_on}_accuracy", f"{cfg.select_on}_loss"
    return min(trained, key=lambda row: (-row[acc], row[loss], row["epoch"]))["epoch"]
