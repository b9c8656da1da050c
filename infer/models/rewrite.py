"""Write a copy of a model file that carries a new ModelMeta (for example a calibrated threshold).

ONNX files are copied field by field with only metadata_props["imgcheck"] replaced (no onnx, no torch);
TorchScript files are re-saved with torch. The copy is staged next to the destination, its ModelMeta read
back and checked, and only then renamed into place: a failure leaves no file behind.
"""

from __future__ import annotations

import contextlib
import os

from imgcheck.infer.errors import DependencyMissingError, ModelFileError
from imgcheck.infer.meta import ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, ModelMeta
from imgcheck.infer.models.model_file import ONNX, TORCHSCRIPT, inspect_model_file
from imgcheck.infer.models.onnx_proto import copy_with_metadata


def write_model_with_meta(src: str | os.PathLike, dst: str | os.PathLike, meta: ModelMeta) -> None:
    """Copy the ONNX or TorchScript model `src` to `dst` with `meta` as its ModelMeta (dst may equal src)."""
    carrier = inspect_model_file(src).format
    if carrier not in (ONNX, TORCHSCRIPT):
        raise ModelFileError(f"{os.fsdecode(src)}: a {carrier} cannot carry a calibrated threshold; export it first "
                             "(`imgcheck export`) and calibrate the ONNX or TorchScript file.")
    dst = os.fsdecode(dst)
    staged = os.path.join(os.path.dirname(os.path.abspath(dst)), f".staged-{os.getpid()}-{os.path.basename(dst)}")
    try:
        if carrier == ONNX:
            copy_with_metadata(src, staged, {ONNX_METADATA_KEY: meta.to_json()})
        else:
            _resave_torchscript(src, staged, meta)
        written = inspect_model_file(staged).meta
        if written != meta:
            raise ModelFileError(f"{dst}: the written ModelMeta does not read back as written; nothing was saved.")
        os.replace(staged, dst)
    except OSError as exc:
        raise ModelFileError(f"cannot write {dst}: {exc.strerror or exc}")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(staged)


def _resave_torchscript(src: str | os.PathLike, dst: str, meta: ModelMeta) -> None:
    try:
        import torch
    except ImportError:
        raise DependencyMissingError("rewriting a TorchScript file needs torch: pip install 'imgcheck[train]'")
    module = torch.jit.load(os.fsdecode(src), map_location="cpu")
    torch.jit.save(module, dst, _extra_files={TORCHSCRIPT_EXTRA_FILE: meta.to_json()})
