"""Write a copy of a model file that carries a new ModelMeta (a calibrated threshold, an imported model's meta).

ONNX files are copied field by field with only metadata_props["imgcheck"] replaced (no onnx, no torch);
TorchScript files are re-saved with torch. The copy is staged next to the destination, its ModelMeta read
back and checked, and only then renamed into place: a failure leaves no file behind.
"""

from __future__ import annotations

import os

from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.errors import DependencyMissingError, ModelFileError
from imgcheck.infer.meta import ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, ModelMeta
from imgcheck.infer.models.model_file import ONNX, TORCHSCRIPT, ModelFile
from imgcheck.infer.models.onnx_proto import copy_with_metadata
from imgcheck.infer.version import install_extra


def write_model_with_meta(model_file: ModelFile, dst: str | os.PathLike, meta: ModelMeta) -> None:
    """Copy the ONNX or TorchScript `model_file` to `dst` with `meta` as its ModelMeta (dst may be its own path)."""
    if model_file.carrier not in (ONNX, TORCHSCRIPT):
        raise ModelFileError(f"{model_file.path}: a {model_file.carrier} cannot carry a calibrated threshold; export "
                             "it first (`imgcheck export`) and calibrate the ONNX or TorchScript file.")
    write_with_meta(model_file.path, model_file.carrier, dst, meta)


def write_with_meta(src: str | os.PathLike, carrier: str, dst: str | os.PathLike, meta: ModelMeta) -> None:
    """Copy `src` (an ONNX or TorchScript file, with or without a ModelMeta) to `dst` carrying `meta`, staged and
    read back before it replaces anything."""
    dst = os.fsdecode(dst)
    try:
        with staged_path(dst) as staged:
            if carrier == ONNX:
                copy_with_metadata(src, staged, {ONNX_METADATA_KEY: meta.to_json()})
            else:
                _resave_torchscript(src, staged, meta)
            if ModelFile.open(staged).meta != meta:
                raise ModelFileError(f"{dst}: the written ModelMeta does not read back as written; nothing was saved.")
    except OSError as exc:
        raise ModelFileError(f"cannot write {dst}: {exc.strerror or exc}")


def _resave_torchscript(src: str | os.PathLike, dst: os.PathLike, meta: ModelMeta) -> None:
    try:
        import torch
    except ImportError:
        raise DependencyMissingError(f"rewriting a TorchScript file needs torch: {install_extra('train')}")
    module = torch.jit.load(os.fsdecode(src), map_location="cpu")
    torch.jit.save(module, os.fspath(dst), _extra_files={TORCHSCRIPT_EXTRA_FILE: meta.to_json()})
