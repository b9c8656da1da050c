"""TorchScript export: a traced module that torch.jit.load opens with no imgcheck code."""

from __future__ import annotations

from pathlib import Path

import torch

from imgcheck.export.job import ExportJob, quiet
from imgcheck.export.metadata import torchscript_extra_files


def export_torchscript(job: ExportJob, path: Path) -> None:
    """Trace the probability model and save it with ModelMeta as the extra file "imgcheck.json"."""
    with quiet(), torch.no_grad():
        traced = torch.jit.trace(job.model, torch.zeros(2, *job.meta.input_size))
        torch.jit.save(traced, str(path), _extra_files=torchscript_extra_files(job.meta))
