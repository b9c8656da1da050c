"""Training checkpoints: plain dicts of tensors and JSON-ready values that carry their ModelMeta.

A checkpoint loads with torch.load(weights_only=True) - no pickled classes, no code - and holds the
ModelMeta as a plain dict under "meta", validated by the same function as every other carrier.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.meta import CHECKPOINT_KEY, ModelMeta
from imgcheck.infer.models.model_file import load_checkpoint_dict, meta_from_checkpoint


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: ModelMeta, **fields: Any) -> Path:
    """Write {"state_dict", "meta", **fields} to `path` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_path(path) as temporary:
        torch.save({"state_dict": state_dict, CHECKPOINT_KEY: meta.to_dict(), **fields}, temporary)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], ModelMeta]:
    """Load a checkpoint safely and return it with its validated ModelMeta."""
    checkpoint = load_checkpoint_dict(path)
    return checkpoint, meta_from_checkpoint(checkpoint, os.fsdecode(path))
