"""Write an imported PyTorch model (a Hugging Face or timm classifier) as one ONNX file behind the parity gate.

The model goes through the export path of `imgcheck export` (`export_checkpoint` with a ready ExportJob), so the
fp16 and int8 variants, the gate and the all-or-nothing write are the same. What differs: the gate must see real
images (`check_images`, by default the repository's `samples/` folder), one file is written at exactly `out`, and
the file is staged in a private folder beside it and renamed into place only once it has passed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from imgcheck.export.foreign import check_out
from imgcheck.export.int8_schemes import resolve_scheme
from imgcheck.export.job import ExportJob
from imgcheck.export.parity import SEEDED, Parity, resolve_check_images
from imgcheck.export.pipeline import export_checkpoint
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta

IMPORT_FORMATS = ("onnx", "onnx-fp16", "onnx-int8")


@dataclass
class ImportedModel:
    """A model read from its source and ready to export: eval-mode, float32 (N, 3, H, W) -> its raw output as
    `meta.output` says; what was read, for the report."""

    model: nn.Module
    meta: ModelMeta
    output_name: str  # the ONNX output: "probabilities" [N, K] or "logit" [N]
    read: dict[str, str] = field(default_factory=dict)  # source, architecture, weights, labels: one line each


@dataclass(frozen=True)
class ImportOutcome:
    """The written file, its ModelMeta, and how it compared with the PyTorch model on which images."""

    path: Path
    meta: ModelMeta
    parity: Parity
    check_images: Path
    image_count: int  # check images compared (besides the seeded random-pixel batch)
    read: dict[str, str]


def write_import(imported: ImportedModel, out: str | os.PathLike, fmt: str = "onnx", *,
                 check_images: str | os.PathLike | None = None, calibration: str | os.PathLike | None = None,
                 force: bool = False, int8_scheme: str = "auto", opset: int | None = None,
                 atol: float = 1e-4) -> ImportOutcome:
    """Export `imported` as `fmt` to `out`, compared with PyTorch on real images first: a file that fails the gate,
    or any error, writes nothing."""
    out = Path(out)
    if fmt not in IMPORT_FORMATS:
        raise ImgcheckError(f"unknown format {fmt!r}; choose from {', '.join(IMPORT_FORMATS)}.")
    check_out(out, force)
    if out.is_dir():
        raise ImgcheckError(f"--out {out} is a folder; give the path of the ONNX file to write.")
    folder = resolve_check_images(check_images, "the parity gate of an import compares the export with PyTorch")
    if fmt == "onnx-int8" and calibration is None and not resolve_scheme(int8_scheme).dynamic:
        raise ImgcheckError("--format onnx-int8 needs --calibration DIR: images to calibrate the int8 model on "
                            "(not the --check-images ones), or --int8-scheme dynamic (transformers: no calibration).")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        job = ExportJob(imported.model, imported.meta, staging, opset, output_name=imported.output_name)
        [record] = export_checkpoint(imported.read.get("source", "model"), staging, [fmt], name="model", opset=opset,
                                     atol=atol, check_images=folder, calibration=calibration, measure_speed=False,
                                     job=job, int8_scheme=int8_scheme)
        os.replace(record.path, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportOutcome(out, imported.meta, record.parity, folder, record.parity.n - SEEDED, imported.read)


def describe_preprocessing(meta: ModelMeta) -> str:
    """The resize rule in words: `shortest edge to 256 (bicubic), centre crop 224x224, mean ..., std ...`."""
    geometry = meta.describe_resize()
    numbers = lambda values: ",".join(f"{v:.4g}" for v in values)  # noqa: E731
    return f"{geometry}, mean {numbers(meta.mean)}, std {numbers(meta.std)} (pixels scaled to [0, 1])"


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data (tuples to lists, anything else to its string), for provenance.extra."""
    import json

    return json.loads(json.dumps(value, default=str))
