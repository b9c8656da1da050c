"""One training epoch and one evaluation pass, on CPU or CUDA (bf16 autocast, channels_last)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.dataset import Batch, to_model_input


def resolve_device(spec: str) -> torch.device:
    """`auto` is CUDA when torch sees a GPU, else CPU; `cuda` without a GPU is an error, not a silent fallback."""
    if spec not in ("auto", "cpu", "cuda"):
        raise ImgcheckError(f"--device must be auto, cpu or cuda, got {spec!r}")
    if spec == "cuda" and not torch.cuda.is_available():
        raise ImgcheckError("--device cuda: torch sees no CUDA GPU here. Use --device cpu (or auto).")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


@dataclass
class Evaluation:
    """Mean log loss and accuracy at threshold 0.5, with every probability for the metric suite."""

    loss: float
    accuracy: float
    probabilities: np.ndarray
    targets: np.ndarray

    @classmethod
    def of(cls, loss: float, probabilities: np.ndarray, targets: np.ndarray) -> Evaluation:
        """The Evaluation of these p_fake and targets, with its accuracy at threshold 0.5."""
        return cls(loss, float(((probabilities >= 0.5) == (targets == 1)).mean()), probabilities, targets)


class Trainer:
    """Moves batches to the device, applies the precision policy, and runs train/eval passes."""

    def __init__(self, model: nn.Module, preprocessor: Preprocessor, device: torch.device, compile_model: bool = False,
                 distributed: bool = False, sync_batchnorm: bool = False):
        """`distributed`: training steps go through DistributedDataParallel (a torchrun run's process group must
        exist), which averages the gradients over the ranks; `sync_batchnorm` makes its BatchNorm layers
        SyncBatchNorm. Evaluation runs the model itself, so each rank can score a share of its own size. `model`
        stays the plain module: its state_dict has no `module.` prefixes."""
        self.device = device
        self.cuda = device.type == "cuda"
        if distributed and sync_batchnorm:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(device, memory_format=torch.channels_last) if self.cuda else model.to(device)
        training: nn.Module = self.model
        if distributed:
            from torch.nn.parallel import DistributedDataParallel

            training = DistributedDataParallel(self.model, device_ids=[device.index] if self.cuda else None)
        compiled = torch.compile if compile_model else (lambda module: module)
        self.forward: Callable[[torch.Tensor], torch.Tensor] = compiled(self.model)
        self.train_forward: Callable[[torch.Tensor], torch.Tensor] = (
            compiled(training) if distributed else self.forward)
        self.preprocessor = preprocessor
        self.loss_fn = nn.BCEWithLogitsLoss(reduction="sum")

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()

    def _inputs(self, pixels: np.ndarray, targets: np.ndarray, augment: tuple[str, ...] = (),
                generator: torch.Generator | None = None, augment_p: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
        images = to_model_input(pixels, self.preprocessor, augment, generator, augment_p)
        if self.cuda:
            images = images.pin_memory().to(self.device, non_blocking=True, memory_format=torch.channels_last)
        return images, torch.from_numpy(targets).to(self.device, non_blocking=self.cuda)

    def train_epoch(self, optimizer: torch.optim.Optimizer, batches: Iterable[Batch], augment: tuple[str, ...],
                    generator: torch.Generator, on_batch: Callable[[int, float], None] | None = None,
                    lr_at: Callable[[int], float] | None = None, augment_p: float = 0.1) -> dict[str, float]:
        """One pass over `batches`; returns mean loss, accuracy, seconds, images/s, and the sums they come from
        (loss_sum, correct, images). `lr_at(step)` sets the learning rate of each batch (step counts batches within
        this epoch)."""
        self.model.train()
        total_loss = correct = seen = 0.0
        start = time.perf_counter()
        for step, (pixels, targets) in enumerate(batches):
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
            images, target = self._inputs(pixels, targets, augment, generator, augment_p)
            with self._autocast():
                logits = self.train_forward(images)
            loss = self.loss_fn(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            (loss / len(target)).backward()
            optimizer.step()
            total_loss += loss.item()
            correct += ((logits.detach() >= 0) == (target >= 0.5)).sum().item()
            seen += len(target)
            if on_batch:
                on_batch(len(target), total_loss / seen)
        if self.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return {"loss": total_loss / seen, "accuracy": correct / seen, "seconds": seconds, "images_per_s": seen / seconds,
                "loss_sum": total_loss, "correct": correct, "images": seen}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch], combine: Callable[[np.ndarray], np.ndarray] | None = None
                 ) -> Evaluation:
        """Mean loss, accuracy and p_fake over `batches`, in eval mode. With `combine`, a batch holds several inputs
        (tiles) per target, and `combine` turns their p_fake into one per image; the loss is then that p_fake's."""
        self.model.eval()
        probabilities, targets, total_loss = [], [], 0.0
        for pixels, batch_targets in batches:
            images, target = self._inputs(pixels, batch_targets)
            with self._autocast():
                logits = self.forward(images).float()
            if combine is None:
                total_loss += self.loss_fn(logits, target).item()
                probabilities.append(torch.sigmoid(logits).cpu().numpy())
            else:
                p = np.clip(combine(torch.sigmoid(logits).cpu().numpy()).astype(np.float64), 1e-7, 1 - 1e-7)
                total_loss += float(-(batch_targets * np.log(p) + (1 - batch_targets) * np.log(1 - p)).sum())
                probabilities.append(p)
            targets.append(batch_targets)
        p = np.concatenate(probabilities).astype(np.float64)
        y = np.concatenate(targets).astype(np.int64)
        return Evaluation.of(total_loss / len(y), p, y)
