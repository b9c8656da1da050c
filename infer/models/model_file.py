"""ModelFile: one model path, opened once. Every command and backend takes one; nothing re-reads what it read.

Three carriers hold a ModelMeta (see `imgcheck.infer.meta`):

* ``onnx``        - an ONNX file; metadata_props["imgcheck"]; read by a small protobuf reader (no onnx needed);
* ``torchscript`` - a torch.jit.save zip; extra file "imgcheck.json"; read with zipfile;
* ``checkpoint``  - a torch.save zip of a plain dict (`imgcheck train`); dict["meta"]; read with
                    torch.load(weights_only=True), the only carrier that needs torch.

Opening sniffs the content once (never the suffix) and reads the metadata: the ONNX header (the graph is skipped
by its length), the TorchScript archive's index and extra file, or the whole checkpoint (kept for the eager
backend). A torch zip's index is checked before any member is inflated (`safety.check_torch_archive`: no zip
bombs), and every torch.load goes through `load_torch_file`. What needs the whole ONNX file - the sha256, the
external-data check (of every tensor, subgraphs included), the precision, the weight count - comes from one read of
it, made the first time any of them is asked for; a file whose external data leads outside its folder gives none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from imgcheck.infer.errors import DependencyMissingError, ModelFileError, ModelMetaError
from imgcheck.infer.meta import CHECKPOINT_KEY, ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, ModelMeta, parse_meta
from imgcheck.infer.models.onnx_proto import OnnxGraph, OnnxHeader, read_onnx_graph, read_onnx_header
from imgcheck.infer.models.safety import check_external_data, check_torch_archive
from imgcheck.infer.models.shipped import names, resolve_model_path
from imgcheck.infer.regular_files import open_regular_file
from imgcheck.infer.version import install_extra

if TYPE_CHECKING:
    from imgcheck.infer.models.formats import ModelFormat

ONNX, TORCHSCRIPT, CHECKPOINT = "onnx", "torchscript", "checkpoint"
_ZIP_MAGIC = b"PK\x03\x04"
# What zipfile raises for a damaged archive or member (RuntimeError: encrypted; NotImplementedError: a compression
# method it lacks; zlib.error: a broken deflate stream).
_DAMAGED_ZIP = (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError)


class UnknownModelFileError(ModelFileError):
    """`sniff` found no model in the file (empty, or content of no carrier imgcheck reads); a command that takes one
    carrier only (`imgcheck export`) words its own refusal from `reason` (what the file is, in a few words)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelFile:
    """A model file: its carrier, validated ModelMeta, size and format-specific details, read once when opened;
    its format (the registry row, precision included), sha256 and external-data check, read once when first
    needed. Make one with `ModelFile.open(path)`."""

    def __init__(self, path: Path, carrier: str, meta: ModelMeta, size_bytes: int, details: dict[str, Any],
                 checkpoint: dict[str, Any] | None = None) -> None:
        self.path = path
        self.carrier = carrier
        self.meta = meta
        self.size_bytes = size_bytes
        self.details = details
        self._checkpoint = checkpoint
        self._sha256: str | None = None
        self._graph: OnnxGraph | None = None
        self._data: bytes | None = None  # an ONNX file's bytes, kept from the read that gave its hash and graph

    @classmethod
    def open(cls, path: str | os.PathLike) -> ModelFile:
        """Sniff `path` by its content and read its ModelMeta; a clear one-line error for anything else. `path` may
        name a model shipped with imgcheck (`shipped.SHIPPED`) where no file of that name exists."""
        path = resolve_model_path(path)
        carrier, header, size = sniff(path)
        if carrier == ONNX:
            raw = header.metadata_props.get(ONNX_METADATA_KEY)
            if raw is None:
                raise ModelMetaError(
                    f"{path}: this ONNX file carries no imgcheck metadata (metadata_props key '{ONNX_METADATA_KEY}'), "
                    "so its preprocessing is unknown. Export it with `imgcheck export CHECKPOINT`, or describe it "
                    "with `imgcheck import`.")
            details = {"ir_version": header.ir_version, "opset": header.opsets.get("", header.opsets.get("ai.onnx")),
                       "producer": f"{header.producer_name} {header.producer_version}".strip()}
            return cls(path, ONNX, parse_meta(raw, str(path)), size, details)
        if carrier == TORCHSCRIPT:
            if header is None:
                raise ModelMetaError(
                    f"{path}: this TorchScript file carries no imgcheck metadata (extra file "
                    f"'{TORCHSCRIPT_EXTRA_FILE}'), so its preprocessing is unknown. Export it with `imgcheck export "
                    "CHECKPOINT`, or describe it with `imgcheck import`.")
            return cls(path, TORCHSCRIPT, parse_meta(header, str(path)), size, {})
        checkpoint = load_checkpoint_dict(path)
        details = {k: checkpoint[k] for k in ("epoch",) if k in checkpoint}
        return cls(path, CHECKPOINT, meta_from_checkpoint(checkpoint, str(path)), size, details, checkpoint)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def format(self) -> ModelFormat:
        """The format registry's row for this file, by content (an ONNX file's precision is read from its graph)."""
        from imgcheck.infer.models.formats import format_for

        return format_for(self.carrier, self.graph().precision if self.carrier == ONNX else "fp32")

    def sha256(self) -> str:
        """Hex sha256 of the file, computed once (for ONNX, from the same read that gives the graph facts)."""
        if self._sha256 is None:
            if self.carrier == ONNX:
                self._read_onnx_whole()
            else:
                self._sha256 = file_sha256(self.path)
        return self._sha256

    def graph(self) -> OnnxGraph:
        """An ONNX file's graph facts (external-data locations, weight count, precision), read once."""
        if self.carrier != ONNX:
            raise ModelFileError(f"{self.path}: a {self.carrier} has no ONNX graph.")
        if self._graph is None:
            self._read_onnx_whole()
        return self._graph

    def data(self) -> bytes:
        """The whole file's bytes. An ONNX file's are those its sha256 and graph facts came from, read once and
        kept until `release_data()` (its runtime session is built from them); other files are read anew."""
        if self.carrier != ONNX:
            return _read_bytes(self.path)
        if self._data is None:
            self._read_onnx_whole()
        return self._data

    def release_data(self) -> None:
        """Let the kept bytes go (a runtime that has built its session from them no longer needs them)."""
        self._data = None

    def check_external_data(self) -> None:
        """Refuse an ONNX file whose external data points outside its folder (other carriers: no-op). The check is
        part of the one whole read, so nothing that reads the graph, the hash or the bytes goes around it."""
        if self.carrier == ONNX:
            self.graph()

    def checkpoint(self) -> dict[str, Any]:
        """A training checkpoint's dict (state_dict, meta, ...), as loaded when the file was opened."""
        if self._checkpoint is None:
            raise ModelFileError(f"{self.path}: a {self.carrier}, not a training checkpoint.")
        return self._checkpoint

    def _read_onnx_whole(self) -> None:
        """Read the file once: its hash, its graph facts, and the external-data check of every tensor it holds
        (a refused file keeps none of them, so asking again refuses again)."""
        data = _read_bytes(self.path)
        graph = read_onnx_graph(data, str(self.path))
        check_external_data(self.path, graph.external_data_locations)
        self._sha256 = hashlib.sha256(data).hexdigest()
        self._graph = graph
        self._data = data

    def __repr__(self) -> str:
        return f"ModelFile({str(self.path)!r}, {self.carrier}, arch={self.meta.arch!r})"


def sniff(path: Path) -> tuple[str, Any, int]:
    """(carrier, what was read, size) of a model file by its content: for ONNX its OnnxHeader, for TorchScript its
    imgcheck extra file (None when absent), for a checkpoint None. Refuses anything else with a clear message."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file (the models shipped with imgcheck, by name: {names()}).")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file; pass a model file (.onnx or .pt).")
    try:
        with open(path, "rb") as fh:  # the one open that tells the carrier and reads the metadata
            size = os.fstat(fh.fileno()).st_size
            if fh.read(4) == _ZIP_MAGIC:
                return (*_sniff_torch_zip(path, fh, size), size)
            if size == 0:
                raise UnknownModelFileError(f"{path}: empty file, not a model.", "an empty file")
            try:
                header: OnnxHeader = read_onnx_header(path, fh)
            except ModelFileError as exc:
                detail = exc.message.split(": ", 1)[-1].rstrip(".")
                if path.suffix.lower() == ".onnx":
                    raise UnknownModelFileError(exc.message, f"named .onnx, but {detail}") from None
                raise UnknownModelFileError(
                    f"{path}: not a model file imgcheck knows ({detail}). "
                    "Expected an ONNX file, a TorchScript file or an imgcheck training checkpoint.",
                    "not a model file imgcheck knows") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file ({exc.strerror or exc}).")
    return ONNX, header, size


def _sniff_torch_zip(path: Path, fh: Any, size: int) -> tuple[str, Any]:
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            check_torch_archive(path, archive, size)  # the index's declared sizes, before anything is inflated
            names = archive.namelist()
            if any(_archive_member(n, "constants.pkl") or "/code/" in n for n in names):
                extra = [n for n in names if _archive_member(n, f"extra/{TORCHSCRIPT_EXTRA_FILE}")]
                return TORCHSCRIPT, archive.read(extra[0]) if extra else None
    except _DAMAGED_ZIP as exc:
        raise ModelFileError(f"{path}: damaged zip archive, not a readable torch file ({exc}).")
    if not any(_archive_member(n, "data.pkl") for n in names):
        raise UnknownModelFileError(f"{path}: a zip archive, but not one written by torch.save or torch.jit.save.",
                                    "a zip archive not written by torch")
    return CHECKPOINT, None


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_meta(path: str | os.PathLike) -> ModelMeta:
    """The validated ModelMeta of the model file at `path`."""
    return ModelFile.open(path).meta


def load_checkpoint_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Load a training checkpoint safely (`load_torch_file`: the archive checked, no pickled code run)."""
    checkpoint = load_torch_file(path, "checkpoint")
    if not isinstance(checkpoint, dict):
        raise ModelFileError(f"{os.fsdecode(path)}: a torch file, but not an imgcheck checkpoint (not a dict).")
    return checkpoint


def load_torch_file(path: str | os.PathLike, what: str = "checkpoint", label: str | None = None) -> Any:
    """What torch.save wrote to `path`, loaded safely: the only way imgcheck unpickles a torch file.

    The zip's index is checked first (`check_torch_file`: no zip bomb), then torch.load(weights_only=True) reads the
    same open file (no pickled code runs). `what` ("checkpoint", "weights file") and `label` (default: the path)
    name it in messages; every refusal is one line in imgcheck's words, never torch's advice."""
    name = label or os.fsdecode(path)
    with _checked_torch_zip(path, what, name) as fh:
        try:
            import torch
        except ImportError:
            raise DependencyMissingError(
                f"{name} is a {what} saved by torch; reading it needs torch: {install_extra('train')} (or export it "
                "to ONNX on a machine that has torch).")
        try:
            return torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelFileError(f"{name}: {torch_load_refusal(exc, what)}") from None


def check_torch_file(path: str | os.PathLike, what: str = "model file", label: str | None = None) -> None:
    """Refuse a torch file (torch.save or torch.jit.save) that is no zip archive, or whose zip index declares more
    than its size could hold (`safety.check_torch_archive`), before torch reads it: for a reader that must hand
    torch a path (torch.jit.load)."""
    with _checked_torch_zip(path, what, label or os.fsdecode(path)):
        pass


@contextlib.contextmanager
def _checked_torch_zip(path: str | os.PathLike, what: str, name: str) -> Iterator[BinaryIO]:
    """The open torch zip at `path`, its index checked, positioned at its start; one-line refusals naming `name`."""
    try:
        with open_regular_file(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if fh.read(4) != _ZIP_MAGIC:
                raise ModelFileError(f"{name}: not a {what} written by torch.save (a zip archive); imgcheck reads "
                                     "no other torch format. Re-save it with torch.save from a current torch.")
            fh.seek(0)
            try:
                with zipfile.ZipFile(fh) as archive:
                    check_torch_archive(name, archive, size)
            except _DAMAGED_ZIP as exc:
                raise ModelFileError(f"{name}: damaged zip archive, not a readable torch file ({exc}).")
            fh.seek(0)
            yield fh
    except OSError as exc:
        raise ModelFileError(f"{name}: cannot read it ({exc.strerror or exc}).")


def torch_load_refusal(exc: BaseException, what: str = "checkpoint") -> str:
    """Why torch.load(weights_only=True) refused a file, in imgcheck's words (one line, no torch advice): pickled
    code or objects, named by the globals torch reports; a TorchScript file; or else the first line of a read
    error."""
    text = " ".join(str(exc).split())
    if "TorchScript archive" in text:  # torch.load refuses a torch.jit.save file with weights_only
        return (f"it is a TorchScript model, not a {what} of tensors; run it with `imgcheck scan --model`, or export "
                "the checkpoint it came from.")
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text or "Weights only" in text:
        names = ", ".join(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", text)))
        holds = f"pickled code ({names})" if names else "pickled code or objects, not only tensors and plain values"
        return (f"refused to load this {what} safely: it holds {holds}, and imgcheck never unpickles code from a "
                "model file. Use one that holds only tensors and plain values, as `imgcheck train` and "
                "torch.save(model.state_dict()) write.")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot read this {what} ({first[:200]})."


def meta_from_checkpoint(checkpoint: dict[str, Any], source: str) -> ModelMeta:
    """The validated ModelMeta a checkpoint dict stores under "meta"."""
    raw = checkpoint.get(CHECKPOINT_KEY)
    if raw is None:
        raise ModelMetaError(
            f"{source}: this checkpoint has no '{CHECKPOINT_KEY}' entry, so its preprocessing is unknown. "
            "Checkpoints written by `imgcheck train` carry one."
        )
    return parse_meta(raw, source)


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file ({exc.strerror or exc}).")


def _archive_member(name: str, suffix: str) -> bool:
    """True for `<archive root>/<suffix>` (torch nests every member one folder deep)."""
    return name.count("/") == suffix.count("/") + 1 and name.endswith("/" + suffix)
