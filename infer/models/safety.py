"""Checks that make a model file safe to open before a runtime touches it, and consistent with its ModelMeta.

* External data (weights stored beside an ONNX model) must live inside the model's own folder: an absolute
  location, a `..` step, or a symlink that leads elsewhere is refused, for every tensor the model holds (subgraphs
  and node attributes included: `onnx_proto.read_onnx_graph` walks them all), so a hostile model cannot make the
  runtime read arbitrary files, whatever onnxruntime version runs it.
* A torch zip (a checkpoint or a TorchScript file) is read only when the sizes its index declares are plausible:
  its metadata record at most `META_RECORD_LIMIT`, and everything together at most `ARCHIVE_RATIO` times the file
  plus `ARCHIVE_SLACK`, so a small file cannot make imgcheck (or torch) inflate gigabytes into memory.
* The session's one input must be a float32 image batch [N, C, H, W] whose C, H, W agree with ModelMeta's
  input_size, and its last output (the score imgcheck reads) float32: [N] or [N, 1] for one probability or logit,
  [N, K] with K = len(class_names) for per-class scores; a mismatch is refused with a message naming it.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable
from typing import Any

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import PER_CLASS_OUTPUTS, TORCHSCRIPT_EXTRA_FILE, ModelMeta

# torch.save and torch.jit.save store tensors uncompressed, so the sizes a real torch zip declares add up to about
# its file size; only TorchScript's code and debug records are deflated (4-5x each, 12 KB to 0.4 MB in all).
# Measured with torch 2.14 (declared / file size): checkpoints, with and without AdamW state, and state dicts of
# cnn, cnn_bn, cnn_bn_srm, ResNet-18 and ResNet-50, and a trained cnn's best.pt: 0.49-1.000; their traced
# TorchScript files 1.001-1.023, the tests' 13 KB tiny TorchScript 1.099. ARCHIVE_RATIO is 3.6x the worst of them.
ARCHIVE_RATIO = 4  # total declared uncompressed size <= ARCHIVE_RATIO x file size + ARCHIVE_SLACK
ARCHIVE_SLACK = 16 << 20  # room for small files whose compressed code records outweigh their tensors
META_RECORD_LIMIT = 4 << 20  # extra/imgcheck.json: a ModelMeta is a few KB (a 21,843-class label list ~0.5 MB)


def check_external_data(path: str | os.PathLike, locations: Iterable[str]) -> None:
    """Refuse external-data `locations` (as the ONNX file at `path` writes them) that lead outside its folder.

    Each location is resolved, symlinks included, against the folder of `path` as given and, when `path` is a
    symlink, against the folder of the file it leads to (a runtime may resolve it from either): it must stay inside
    both, and be a regular file where it exists."""
    name = os.fsdecode(path)
    folders = dict.fromkeys(os.path.realpath(os.path.dirname(p) or ".")
                            for p in (os.fsdecode(path), os.path.realpath(path)))
    for location in locations:
        problem = _location_problem(location, folders)
        if problem:
            raise ModelFileError(f"{name}: refused: its external data location {location!r} {problem}. imgcheck "
                                 "only reads weights stored beside the model: keep the data file itself (not a link "
                                 "to it) in the model's folder.")


def _location_problem(location: str, folders: Iterable[str]) -> str | None:
    """Why `location` is not a file inside every one of `folders`, or None."""
    if not location.strip() or "\0" in location:
        return "names no file"
    parts = location.replace("\\", "/").split("/")
    if os.path.isabs(location) or location.startswith("\\") or ".." in parts:
        return "points outside the model's folder"
    for folder in folders:
        inside = os.path.realpath(os.path.join(folder, location))
        if inside == folder:
            return "names no file"
        if os.path.commonpath([folder, inside]) != folder:
            return "points outside the model's folder"
        try:
            mode = os.stat(inside).st_mode
        except OSError:
            continue  # missing: the runtime will say so; nothing outside the folder is read
        if not stat.S_ISREG(mode):
            return "is not a regular file (a FIFO, device or folder) inside the model's folder"
    return None


def check_torch_archive(path: str | os.PathLike, archive: zipfile.ZipFile, size: int) -> None:
    """Refuse a torch zip (a checkpoint or a TorchScript file of `size` bytes) whose index declares more than a
    real one could hold: a metadata record over META_RECORD_LIMIT, or a total uncompressed size over ARCHIVE_RATIO
    times the file plus ARCHIVE_SLACK. Reads the index only (zipfile has it), before any member is inflated."""
    name = os.fsdecode(path)
    fix = ("Use the file as imgcheck wrote it (`imgcheck train`, `imgcheck export`) or re-save the model with "
           "torch.save / torch.jit.save")
    total = 0
    for member in archive.infolist():
        if member.filename.endswith(f"extra/{TORCHSCRIPT_EXTRA_FILE}") and member.file_size > META_RECORD_LIMIT:
            raise ModelFileError(
                f"{name}: refused: its metadata record {member.filename} declares {_mib(member.file_size)} "
                f"uncompressed (imgcheck reads at most {_mib(META_RECORD_LIMIT)}; a ModelMeta is a few KB), so it "
                f"is a zip bomb or damaged. {fix}.")
        total += member.file_size
    limit = ARCHIVE_RATIO * size + ARCHIVE_SLACK
    if total > limit:
        raise ModelFileError(
            f"{name}: refused: its zip archive declares {_mib(total)} uncompressed in a {_mib(size)} file (imgcheck "
            f"reads at most {ARCHIVE_RATIO}x the file + {_mib(ARCHIVE_SLACK)}; torch stores tensors uncompressed), "
            f"so it is a zip bomb or damaged. {fix}.")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB" if size >= 1 << 20 else f"{size:,} bytes"


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
