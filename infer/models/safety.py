"""Checks that make an ONNX file safe to open before onnxruntime touches it, and consistent with its ModelMeta.

* External data (weights stored beside the model) must live inside the model's own folder: an absolute
  location, a `..` step, or a symlink that leads elsewhere is refused, so a hostile model cannot make the
  runtime read arbitrary files.
* The session's one input must be a float32 image batch [N, C, H, W] whose C, H, W agree with ModelMeta's
  input_size, and its one output float32 [N] (or [N, 1]); a mismatch is refused with a message naming it.
"""

from __future__ import annotations

import os
from typing import Any

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.onnx_proto import external_data_locations


def check_external_data(path: str | os.PathLike) -> None:
    """Refuse external-data locations that point outside the model's folder."""
    name = os.fsdecode(path)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for location in external_data_locations(path):
        parts = location.replace("\\", "/").split("/")
        inside = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or ".." in parts or os.path.commonpath([folder, inside]) != folder:
            raise ModelFileError(f"{name}: refused: its external data location {location!r} points outside the "
                                 "model's folder. imgcheck only reads weights stored beside the model.")


def check_signature(inputs: list[Any], outputs: list[Any], meta: ModelMeta, name: str) -> None:
    """Compare an onnxruntime session's inputs/outputs (NodeArg lists) with ModelMeta; refuse on mismatch."""
    def fail(what: str) -> None:
        raise ModelFileError(f"{name}: refused: {what}. Re-export the model with `imgcheck export`.")

    def single_float(args: list[Any], kind: str, role: str) -> Any:
        if len(args) != 1:
            fail(f"it has {len(args)} {kind}s ({', '.join(a.name for a in args)}); imgcheck {role}")
        if args[0].type != "tensor(float)":
            fail(f"its {kind} {args[0].name!r} is {args[0].type}, not tensor(float)")
        return args[0]

    image = single_float(inputs, "input", "feeds exactly one image batch")
    shape = list(image.shape)
    if len(shape) != 4:
        fail(f"its input {image.name!r} has shape {shape}; ModelMeta says [N, {', '.join(map(str, meta.input_size))}]")
    for axis, (actual, expected) in enumerate(zip(shape[1:], meta.input_size), start=1):
        if isinstance(actual, int) and actual != expected:
            fail(f"its input {image.name!r} has shape {shape}, but ModelMeta's input_size is "
                 f"{list(meta.input_size)} (axis {axis}: {actual} != {expected})")
    score = single_float(outputs, "output", "reads exactly one score per image")
    out_shape = list(score.shape)
    per_image = len(out_shape) == 1 or (len(out_shape) == 2 and not (isinstance(out_shape[1], int) and out_shape[1] != 1))
    if not per_image:
        fail(f"its output {score.name!r} has shape {out_shape}; imgcheck expects one {meta.output} per image ([N])")
