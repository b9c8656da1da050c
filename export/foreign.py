"""Import a foreign detector: an ONNX or TorchScript image classifier without ModelMeta (exported from timm,
torchvision, Hugging Face, ...) gets a copy that carries one, so that every imgcheck command accepts it.

What the user declares (input size, normalisation, what the last output is, which class is AI-generated) is
checked against the model itself before anything is written: its input and output signature (onnxruntime's view of
an ONNX graph; for TorchScript, the forward schema and a probe run), then a probe batch through the runtime.
The copy is staged beside `--out`, opened back with imgcheck's own runtime, compared with the raw model on the
probe batch, and only then renamed into place: a refusal or a failure writes nothing.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.meta import IMAGENET_MEAN, IMAGENET_STD, PER_CLASS_OUTPUTS, ModelMeta, Provenance
from imgcheck.infer.models.model_file import CHECKPOINT, ONNX, ModelFile, check_torch_file, file_sha256, sniff
from imgcheck.infer.models.safety import output_shape_problem
from imgcheck.infer.version import install_extra

PROBE_BATCH = 2


class ImportRefused(ImgcheckError):
    """A foreign model that does not match what was declared about it (nothing was written)."""


@dataclass(frozen=True)
class ForeignSpec:
    """What the user declares about a foreign model (`imgcheck import` options)."""

    output: str  # probability, logit, softmax or logits: what the model's last output is
    input_size: tuple[int, int] | None = None  # (H, W); None: read it from the model's fixed input shape
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    fake_index: int | None = None  # the AI-generated class's index in per-class outputs [default: 1]
    class_names: tuple[str, ...] | None = None  # in output order [default: REAL, FAKE]
    threshold: float = 0.5
    arch: str | None = None  # [default: "imported:<file stem>"]
    dynamic_batch: bool = False  # rewrite a fixed batch of 1 to a dynamic one (ONNX)


@dataclass
class ImportResult:
    """What was written, with what, and anything the user should know about how it will run."""

    path: Path
    meta: ModelMeta
    notes: list[str] = field(default_factory=list)


def import_model(src: str | os.PathLike, out: str | os.PathLike, spec: ForeignSpec, force: bool = False
                 ) -> ImportResult:
    """Write a copy of the foreign model `src` at `out` that carries a ModelMeta built from `spec`."""
    src, out = Path(src), Path(out)
    if out.exists() and out.resolve() == src.resolve():
        raise ImgcheckError(f"--out {out} is the model being imported; imgcheck never overwrites its input.")
    check_out(out, force)
    carrier, _, _ = sniff(src)
    if carrier == CHECKPOINT:
        raise ImportRefused(f"{src} is a torch checkpoint, not an exported model: export it to ONNX or TorchScript "
                            "first (an imgcheck checkpoint needs no import: every command reads it).")
    importer = _OnnxImport(src, spec) if carrier == ONNX else _TorchScriptImport(src, spec)
    return importer.write(out)


def check_out(out: Path, force: bool) -> None:
    """Refuse an `--out` that exists (unless `force`) or whose folder does not: every import writes one file."""
    if out.exists() and not force:
        raise ImgcheckError(f"{out} already exists; pass --force to replace it.")
    if not out.parent.is_dir():
        raise ImgcheckError(f"cannot write {out}: the folder {out.parent} does not exist.")


class _Import:
    """The steps every carrier shares: build the meta from what the model says and the user declared, probe it,
    write the staged copy, check it through imgcheck's runtime, rename it into place."""

    carrier = ""

    def __init__(self, src: Path, spec: ForeignSpec) -> None:
        self.src, self.spec, self.notes = src, spec, []

    def fail(self, what: str) -> None:
        raise ImportRefused(f"{self.src}: refused: {what}. Nothing was written.")

    def write(self, out: Path) -> ImportResult:
        height, width = self.input_size()
        classes = self.classes()
        meta = self.build_meta(height, width, classes)
        probe = _probe_batch(meta)
        raw = self.run_raw(probe)
        self.check_output(raw, meta)
        with staged_path(out) as staged:
            self.write_copy(staged, meta)
            from imgcheck.infer.runtime import load_backend
            from imgcheck.infer.runtime.outputs import to_p_fake

            written = ModelFile.open(staged)
            p_fake = load_backend(written, device="cpu")(probe)
            expected = to_p_fake(raw, meta)
            if written.meta != meta or not np.allclose(p_fake, expected, atol=1e-5):
                raise ImgcheckError(f"{out}: the written copy does not score the probe batch like the model itself; "
                                    "nothing was saved.")
        return ImportResult(out, meta, self.notes)

    def classes(self) -> int | None:
        """The number of per-class scores the model's last output has, when its shape says (None: it does not)."""
        return None

    def build_meta(self, height: int, width: int, classes: int | None) -> ModelMeta:
        spec = self.spec
        names = spec.class_names or ("REAL", "FAKE")
        per_class = spec.output in PER_CLASS_OUTPUTS
        if per_class:
            index = 1 if spec.fake_index is None else spec.fake_index
            if not 0 <= index < len(names):
                self.fail(f"--fake-index {index} is out of range for {len(names)} classes ({', '.join(names)})")
            if classes is not None and classes != len(names):
                self.fail(f"declared {spec.output} over {len(names)} classes ({', '.join(names)}), the model outputs "
                          f"[N, {classes}] (name its {classes} classes with --class-names)")
            positive = names[index]
        else:
            if spec.fake_index not in (None, 1) or (spec.class_names and len(names) != 2):
                self.fail(f"--fake-index and more than two --class-names need per-class outputs (--output softmax "
                          f"or logits); the model's output was declared as one {spec.output} per image")
            positive = names[1]
        extra = {"imported": {"source": self.src.name, "sha256": file_sha256(self.src), "carrier": self.carrier,
                              "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
        try:
            return ModelMeta(arch=spec.arch or f"imported:{self.src.stem}", input_size=(3, height, width),
                             interpolation=spec.interpolation, antialias=True, mean=spec.mean, std=spec.std,
                             class_names=tuple(names), positive_class=positive, output=spec.output,
                             threshold=spec.threshold, provenance=Provenance(extra=extra))
        except ImgcheckError as exc:
            self.fail(exc.message.split(": ", 1)[-1].rstrip("."))
            raise  # unreachable: fail raises

    def check_output(self, raw: np.ndarray, meta: ModelMeta) -> None:
        """The probe's output must have the declared shape and look like the declared kind of score."""
        shape = list(raw.shape)
        problem = output_shape_problem(shape, meta)
        if problem:
            self.fail(f"on a probe batch of {PROBE_BATCH} its output {problem}")
        values = raw.reshape(len(raw), -1).astype(np.float64)
        if not np.isfinite(values).all():
            self.fail("its output on a probe batch holds NaN or infinity")
        in_unit = bool(((values >= 0) & (values <= 1)).all())
        sums_to_one = bool(np.allclose(values.sum(axis=1), 1.0, atol=1e-3))
        if meta.output == "probability" and not in_unit:
            self.fail(f"declared probability, but the model outputs {values.ravel()[0]:.4g} on a probe image (a logit? "
                      "use --output logit)")
        if meta.output == "softmax" and not (in_unit and sums_to_one):
            self.fail("declared softmax, but the per-class outputs of a probe batch are not probabilities summing to "
                      "1 (raw scores? use --output logits)")
        if meta.output == "logits" and in_unit and sums_to_one and values.shape[1] > 1:
            self.fail("declared logits, but the outputs of a probe batch are probabilities summing to 1 (use "
                      "--output softmax)")

    # carrier-specific steps
    def input_size(self) -> tuple[int, int]:
        raise NotImplementedError

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def write_copy(self, staged: Path, meta: ModelMeta) -> None:
        raise NotImplementedError

    def declared_size(self, model_hw: tuple[Any, Any] | None) -> tuple[int, int]:
        """The input size: the model's fixed (H, W), which --input-size must agree with, or --input-size for a
        model that takes any size (`model_hw` None: the file records no input shape)."""
        fixed = model_hw is not None and all(isinstance(d, int) and d > 0 for d in model_hw)
        if self.spec.input_size is None:
            if model_hw is None:
                self.fail("a TorchScript file records no input size; give --input-size (the size it was trained "
                          "at, e.g. 224)")
            if not fixed:
                self.fail(f"its input takes any size ({' x '.join(map(str, model_hw))}); give --input-size "
                          "(the size it was trained at, e.g. 224)")
            return int(model_hw[0]), int(model_hw[1])
        if fixed and tuple(model_hw) != tuple(self.spec.input_size):
            self.fail(f"declared --input-size {self.spec.input_size[0]}x{self.spec.input_size[1]}, but the model "
                      f"takes {model_hw[0]}x{model_hw[1]}")
        return self.spec.input_size


class _OnnxImport(_Import):
    carrier = ONNX

    def __init__(self, src: Path, spec: ForeignSpec) -> None:
        super().__init__(src, spec)
        from imgcheck.infer.models.onnx_proto import read_onnx_graph
        from imgcheck.infer.models.safety import check_external_data
        from imgcheck.infer.runtime.onnx import onnx_session

        data = src.read_bytes()
        self.graph_bytes = data
        self.external = read_onnx_graph(data, str(src)).external_data_locations
        check_external_data(src, self.external)
        self.session = onnx_session(src, "cpu")
        self.inputs, self.outputs = self.session.get_inputs(), self.session.get_outputs()
        if not self.inputs:
            self.fail("it has no input; imgcheck feeds one image batch")
        if len(self.inputs) > 1:
            self.fail(f"it has {len(self.inputs)} inputs ({', '.join(i.name for i in self.inputs)}); imgcheck feeds "
                      "exactly one image batch")
        image = self.inputs[0]
        if image.type != "tensor(float)":
            self.fail(f"its input {image.name!r} is {image.type}; imgcheck feeds float32 (normalised) pixels")
        shape = list(image.shape)
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            self.fail(f"its input {image.name!r} has shape {shape}, not an image batch [N, 3, H, W]")
        if not self.outputs:
            self.fail("it has no output")
        fixed = shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) and fixed > 0 else None

    def write(self, out: Path) -> ImportResult:
        self.copied: list[Path] = []
        try:
            return super().write(out)
        except BaseException:
            for path in self.copied:  # a refused or failed import leaves nothing, external data included
                path.unlink(missing_ok=True)
            raise

    def input_size(self) -> tuple[int, int]:
        return self.declared_size((self.inputs[0].shape[2], self.inputs[0].shape[3]))

    def classes(self) -> int | None:
        shape = self.outputs[-1].shape
        return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None

    def build_meta(self, height: int, width: int, classes: int | None) -> ModelMeta:
        meta = super().build_meta(height, width, classes)
        problem = output_shape_problem(list(self.outputs[-1].shape), meta)
        if problem:
            self.fail(f"its output {self.outputs[-1].name!r} {problem}")
        if self.fixed_batch is not None and self.fixed_batch != PROBE_BATCH and not self.spec.dynamic_batch:
            self.notes.append(f"its input has a fixed batch of {self.fixed_batch}: imgcheck runs it {self.fixed_batch} "
                              "image(s) at a time (slower); --dynamic-batch rewrites the graph to take any batch")
        return meta

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        from imgcheck.infer.runtime.onnx import run_in_batches_of

        run = lambda chunk: self.session.run([self.outputs[-1].name], {self.inputs[0].name: chunk})[0]  # noqa: E731
        return run_in_batches_of(run, batch, self.fixed_batch)

    def write_copy(self, staged: Path, meta: ModelMeta) -> None:
        from imgcheck.infer.meta import ONNX_METADATA_KEY
        from imgcheck.infer.models.onnx_proto import copy_with_metadata

        self._place_external_data(staged.parent)
        if self.spec.dynamic_batch and self.fixed_batch is not None:
            self._write_dynamic_batch(staged, meta)
            return
        copy_with_metadata(self.src, staged, {ONNX_METADATA_KEY: meta.to_json()})

    def _place_external_data(self, folder: Path) -> None:
        """Weights stored beside the source (external data) are copied beside the copy, under the same names."""
        for location in dict.fromkeys(self.external):
            source, target = self.src.parent / location, folder / location
            if target.exists() and target.resolve() == source.resolve():
                continue
            if target.exists() and file_sha256(target) != file_sha256(source):
                self.fail(f"its external data {location!r} would overwrite a different file in {folder}")
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                self.copied.append(target)
                self.notes.append(f"copied its external data {location} beside the copy")

    def _write_dynamic_batch(self, staged: Path, meta: ModelMeta) -> None:
        try:
            import onnx
        except ImportError:
            raise DependencyMissingError("--dynamic-batch rewrites the ONNX graph with onnx: pip install onnx "
                                         "(or import without it: the model then runs one batch at a time)")
        from imgcheck.infer.meta import ONNX_METADATA_KEY
        from imgcheck.infer.runtime.onnx import onnx_session

        proto = onnx.load_from_string(self.graph_bytes)
        for value in (*proto.graph.input, *proto.graph.output):
            dims = value.type.tensor_type.shape.dim
            if dims:
                dims[0].dim_param = "N"
        del proto.graph.value_info[:]  # inferred shapes may carry the old batch size
        entry = next((p for p in proto.metadata_props if p.key == ONNX_METADATA_KEY), None)
        entry = entry or proto.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_KEY, meta.to_json()
        onnx.save(proto, str(staged))
        probe = _probe_batch(meta)
        try:
            together = onnx_session(staged, "cpu").run([self.outputs[-1].name], {self.inputs[0].name: probe})[0]
        except ImgcheckError as exc:
            together = exc
        except Exception as exc:  # onnxruntime's own errors: the graph fixes the batch somewhere inside
            together = exc
        one_by_one = self.run_raw(probe)
        if isinstance(together, BaseException) or together.shape != one_by_one.shape or not np.allclose(
                together, one_by_one, atol=1e-4):
            detail = f" ({short_reason(together)})" if isinstance(together, BaseException) else ""
            self.fail(f"--dynamic-batch: the graph hard-codes its batch of {self.fixed_batch} inside{detail}; import "
                      f"without --dynamic-batch to run it {self.fixed_batch} image(s) at a time")
        self.notes.append(f"rewrote the fixed batch of {self.fixed_batch} to a dynamic one (checked on a batch of "
                          f"{PROBE_BATCH})")


class _TorchScriptImport(_Import):
    carrier = "torchscript"

    def __init__(self, src: Path, spec: ForeignSpec) -> None:
        super().__init__(src, spec)
        try:
            import torch
        except ImportError:
            raise DependencyMissingError(f"{src} is TorchScript; importing it needs torch: {install_extra('train')} "
                                         "(or import its ONNX export)")
        self.torch = torch
        check_torch_file(src, "TorchScript file")  # its zip index first: no archive bomb reaches torch.jit.load
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch deprecates torch.jit; the files still load
                self.module = torch.jit.load(str(src), map_location="cpu").eval()
        except Exception as exc:
            self.fail(f"torch.jit cannot load it ({short_reason(exc)})")
        schema = getattr(getattr(self.module, "forward", None), "schema", None)
        if schema is not None:
            inputs = [a for a in schema.arguments[1:] if not a.has_default_value()]
            if len(inputs) != 1:
                self.fail(f"its forward takes {len(inputs)} inputs ({', '.join(a.name for a in inputs)}); imgcheck "
                          "feeds exactly one image batch")

    def input_size(self) -> tuple[int, int]:
        return self.declared_size(None)  # TorchScript records no input shape: --input-size is required

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            try:
                out = self.module(self.torch.from_numpy(batch))
            except Exception as exc:
                self.fail(f"it fails on a probe batch shaped {list(batch.shape)} ({short_reason(exc)})")
        if isinstance(out, (tuple, list)):
            out = out[-1]  # the last output is the score, as for ONNX
        if not isinstance(out, self.torch.Tensor) or not out.is_floating_point():
            self.fail(f"its output is {type(out).__name__}, not a float tensor")
        return out.float().numpy()

    def write_copy(self, staged: Path, meta: ModelMeta) -> None:
        from imgcheck.infer.meta import TORCHSCRIPT_EXTRA_FILE

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.torch.jit.save(self.module, str(staged), _extra_files={TORCHSCRIPT_EXTRA_FILE: meta.to_json()})


def _probe_batch(meta: ModelMeta) -> np.ndarray:
    """A seeded batch of random images, normalised as the model expects."""
    from imgcheck.infer.preprocess import Preprocessor

    _, height, width = meta.input_size
    pixels = np.random.default_rng(0).integers(0, 256, (PROBE_BATCH, height, width, 3), dtype=np.uint8)
    return Preprocessor.from_meta(meta).normalize(pixels)


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, cut to `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
