"""Checks that make an ONNX file safe to open before onnxruntime touches it, and consistent with its ModelMeta.

* External data (weights stored beside the model) must live inside the model's own folder: an absolute
  location, a `..` step, or a symlink that leads elsewhere is refused, so a hostile model cannot make the
  runtime read arbitrary files.
* The session's one input must be a float32 image batch [N, C, H, W] whose C, H, W agree with ModelMeta's
  input_size, and its last output (the score imgcheck reads) float32: [N] or [N, 1] for one probability or logit,
  [N, K] with K = len(class_names) for per-class scores; a mismatch is refused with a message naming it.
"""

from __future__ import annotations

import os
from typing import Any

from collections.abc import Iterable

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import PER_CLASS_OUTPUTS, ModelMeta


def check_external_data(path: str | os.PathLike, locations: Iterable[str]) -> None:
    """Refuse external-data `locations` (as the ONNX file at `path` writes them) that point outside its folder."""
    name = os.fsdecode(path)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for location in locations:
        parts = location.replace("\\", "/").split("/")
        inside = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or ".." in parts or os.path.commonpath([folder, inside]) != folder:
            raise ModelFileError(f"{name}: refused: its external data location {location!r} points outside the "
                                 "model's folder. imgcheck only reads weights stored beside the model.")


def check_signature(inputs: list[Any], outputs: list[Any], meta: ModelMeta, name: str,
                    fix: str = "Re-export the model with `imgcheck export`") -> None:
    """Compare a model's inputs and outputs (onnxruntime NodeArgs, or anything with name/type/shape) with ModelMeta;
    refuse a mismatch with one message naming it."""
    def fail(what: str) -> None:
        raise ModelFileError(f"{name}: refused: {what}. {fix}.")

    if len(inputs) != 1:
        fail(f"it has {len(inputs)} inputs ({', '.join(a.name for a in inputs)}); imgcheck feeds exactly one image "
             "batch")
    image = inputs[0]
    if image.type != "tensor(float)":
        fail(f"its input {image.name!r} is {image.type}, not tensor(float)")
    shape = list(image.shape)
    if len(shape) != 4:
        fail(f"its input {image.name!r} has shape {shape}; ModelMeta says [N, {', '.join(map(str, meta.input_size))}]")
    for axis, (actual, expected) in enumerate(zip(shape[1:], meta.input_size), start=1):
        if isinstance(actual, int) and actual != expected:
            fail(f"its input {image.name!r} has shape {shape}, but ModelMeta's input_size is "
                 f"{list(meta.input_size)} (axis {axis}: {actual} != {expected})")
    if not outputs:
        fail("it has no output")
    score = outputs[-1]
    if score.type != "tensor(float)":
        fail(f"its output {score.name!r} is {score.type}, not tensor(float)")
    out_shape = list(score.shape)
    problem = output_shape_problem(out_shape, meta)
    if problem:
        fail(f"its output {score.name!r} {problem}")


def output_shape_problem(shape: list[Any], meta: ModelMeta) -> str | None:
    """Why an output of `shape` (ints, or names/None for dynamic axes) cannot be meta's declared output, or None."""
    if meta.output in PER_CLASS_OUTPUTS:
        classes = len(meta.class_names)
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != classes):
            return (f"has shape {_shape(shape)}; declared {meta.output} over {classes} classes "
                    f"({', '.join(meta.class_names)}), so it must be [N, {classes}]")
        return None
    per_image = len(shape) == 1 or (len(shape) == 2 and not (isinstance(shape[1], int) and shape[1] != 1))
    if not per_image:
        return f"has shape {_shape(shape)}; imgcheck expects one {meta.output} per image ([N])"
    return None


def _shape(shape: list[Any]) -> str:
    """A shape as [N, 1000]: the batch axis, when dynamic, is N; other dynamic axes keep their names."""
    dims = [str(d) if isinstance(d, int) else "N" if i == 0 else str(d) for i, d in enumerate(shape)]
    return "[" + ", ".join(dims) + "]"
