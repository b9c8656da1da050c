"""Find and validate the ModelMeta inside any model file imgcheck knows, without loading the model.

Three carriers (see `imgcheck.infer.meta`):

* ``onnx``        - ONNX file; metadata_props["imgcheck"]; read by a tiny protobuf reader.
* ``torchscript`` - torch.jit.save zip; extra file "imgcheck.json"; read with zipfile.
* ``checkpoint``  - torch.save zip of a plain dict; dict["meta"]; read with torch.load(weights_only=True),
                    the only carrier that needs torch.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgcheck.infer.errors import DependencyMissingError, ModelFileError, ModelMetaError
from imgcheck.infer.meta import CHECKPOINT_KEY, ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, ModelMeta, parse_meta
from imgcheck.infer.models.onnx_proto import read_onnx_header

ONNX, TORCHSCRIPT, CHECKPOINT = "onnx", "torchscript", "checkpoint"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ModelFileInfo:
    """A model file's carrier format, size and validated ModelMeta, plus format-specific details."""

    path: Path
    format: str
    size_bytes: int
    meta: ModelMeta
    details: dict[str, Any] = field(default_factory=dict)

    def sha256(self) -> str:
        """Hex sha256 of the file (read on demand: large models take a moment)."""
        return file_sha256(self.path)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_meta(path: str | os.PathLike) -> ModelMeta:
    """The validated ModelMeta of the model file at `path`."""
    return inspect_model_file(path).meta


def inspect_model_file(path: str | os.PathLike) -> ModelFileInfo:
    """Detect the carrier of `path` by its content and read its ModelMeta; clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file.")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file; pass a model file (.onnx or .pt).")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file ({exc.strerror or exc}).")
    size = path.stat().st_size
    if magic == _ZIP_MAGIC:
        return _inspect_torch_zip(path, size)
    if path.suffix.lower() == ".onnx":
        return _inspect_onnx(path, size)
    raise ModelFileError(
        f"{path}: not a model file imgcheck knows. Expected an ONNX file (.onnx) or a TorchScript or "
        "checkpoint file written by torch (.pt)."
    )


def _inspect_onnx(path: Path, size: int) -> ModelFileInfo:
    header = read_onnx_header(path)
    raw = header.metadata_props.get(ONNX_METADATA_KEY)
    if raw is None:
        raise ModelMetaError(
            f"{path}: this ONNX file carries no imgcheck metadata (metadata_props key '{ONNX_METADATA_KEY}'), "
            "so its preprocessing is unknown. Export it with `imgcheck export CHECKPOINT`."
        )
    details = {
        "ir_version": header.ir_version,
        "opset": header.opsets.get("", header.opsets.get("ai.onnx")),
        "producer": f"{header.producer_name} {header.producer_version}".strip(),
    }
    return ModelFileInfo(path, ONNX, size, parse_meta(raw, str(path)), details)


def _inspect_torch_zip(path: Path, size: int) -> ModelFileInfo:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            is_torchscript = any(_archive_member(n, "constants.pkl") or "/code/" in n for n in names)
            extra = [n for n in names if _archive_member(n, f"extra/{TORCHSCRIPT_EXTRA_FILE}")]
            raw = archive.read(extra[0]) if is_torchscript and extra else None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{path}: damaged zip archive, not a readable torch file ({exc}).")
    if is_torchscript:
        if raw is None:
            raise ModelMetaError(
                f"{path}: this TorchScript file carries no imgcheck metadata (extra file "
                f"'{TORCHSCRIPT_EXTRA_FILE}'), so its preprocessing is unknown. Export it with `imgcheck export CHECKPOINT`."
            )
        return ModelFileInfo(path, TORCHSCRIPT, size, parse_meta(raw, str(path)))
    if not any(_archive_member(n, "data.pkl") for n in names):
        raise ModelFileError(f"{path}: a zip archive, but not one written by torch.save or torch.jit.save.")
    checkpoint = load_checkpoint_dict(path)
    details = {k: checkpoint[k] for k in ("epoch",) if k in checkpoint}
    return ModelFileInfo(path, CHECKPOINT, size, meta_from_checkpoint(checkpoint, str(path)), details)


def load_checkpoint_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Load a training checkpoint safely (weights_only=True: no pickled code can run)."""
    try:
        import torch
    except ImportError:
        raise DependencyMissingError(
            f"{os.fsdecode(path)} is a training checkpoint; reading it needs torch: pip install 'imgcheck[train]' "
            "(or export it to ONNX on a machine that has torch)."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{os.fsdecode(path)}: refused to load this checkpoint safely (weights_only=True): {first_line}. "
            "imgcheck never unpickles code from a model file."
        )
    if not isinstance(checkpoint, dict):
        raise ModelFileError(f"{os.fsdecode(path)}: a torch file, but not an imgcheck checkpoint (not a dict).")
    return checkpoint


def meta_from_checkpoint(checkpoint: dict[str, Any], source: str) -> ModelMeta:
    """The validated ModelMeta a checkpoint dict stores under "meta"."""
    raw = checkpoint.get(CHECKPOINT_KEY)
    if raw is None:
        raise ModelMetaError(
            f"{source}: this checkpoint has no '{CHECKPOINT_KEY}' entry, so its preprocessing is unknown. "
            "Checkpoints written by `imgcheck train` carry one."
        )
    return parse_meta(raw, source)


def _archive_member(name: str, suffix: str) -> bool:
    """True for `<archive root>/<suffix>` (torch nests every member one folder deep)."""
    return name.count("/") == suffix.count("/") + 1 and name.endswith("/" + suffix)
