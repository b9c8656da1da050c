"""Export a checkpoint to every requested format, gate each file on parity, and only then write them."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from imgcheck.export.int8_schemes import CALIBRATION_METHODS, Int8Scheme, candidate_schemes

from imgcheck.export.job import ExportJob, job_from_checkpoint
from imgcheck.export.parity import (HELD_OUT_LIMIT, HOLD_OUT_EVERY, CheckSet, ExportParityError, Parity,
                                     build_check_set, compare, hold_out, image_paths)
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.formats import FORMATS, ModelFormat
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.runtime import load_backend
from imgcheck.infer.runtime.outputs import to_p_fake
from imgcheck.infer.timing import images_per_second

DEFAULT_FORMATS = ("onnx", "torchscript")
BATCH = 64


@dataclass(frozen=True)
class ExportRecord:
    """One written file: where, how big, how it compares with PyTorch, and how fast it runs on CPU."""

    format: str
    path: Path
    size_bytes: int
    parity: Parity
    images_per_s_batch1: float
    images_per_s_batch64: float
    int8_scheme: str | None = None  # the quantizer scheme of an int8 file (imgcheck.export.int8_schemes)
    int8_calibration: str | None = None  # a static int8 file's range rule (int8_schemes.CALIBRATION_METHODS)
    check_images: str | None = None  # where the gate's real images came from, in words (None: random pixels only)
    int8_refused: tuple[tuple[str, str], ...] = ()  # (scheme, gate failure) of each scheme auto tried first

    def as_dict(self) -> dict[str, Any]:
        record = {"format": self.format, "path": str(self.path), "size_bytes": self.size_bytes,
                  "parity": self.parity.as_dict(), "check_images": self.check_images,
                  "cpu_images_per_s": {"batch_1": self.images_per_s_batch1, "batch_64": self.images_per_s_batch64}}
        if self.int8_scheme is not None:
            record["int8_scheme"] = self.int8_scheme
        if self.int8_calibration is not None:
            record["int8_calibration"] = self.int8_calibration
        if self.int8_refused:
            record["int8_schemes_refused"] = [{"scheme": s, "failure": f} for s, f in self.int8_refused]
        return record


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, formats: list[str], *,
                      name: str | None = None, opset: int | None = None, atol: float = 1e-4,
                      check_images: str | os.PathLike | None = None, calibration: str | os.PathLike | None = None,
                      calibration_limit: int = 512, measure_speed: bool = True, job: ExportJob | None = None,
                      int8_scheme: str = "auto", int8_calibration: str = "minmax") -> list[ExportRecord]:
    """Write `formats` of `checkpoint` into `out_dir`. Either every file passes its parity gate and is written,
    or none is: files are exported under temporary names and renamed only when all have passed. `int8_scheme`
    names the quantizer scheme of onnx-int8 (auto: this CPU's schemes in turn, the first whose file passes the
    gate, `imgcheck.export.int8_schemes.auto_schemes`), and
    `int8_calibration` how a static scheme sets its activation ranges (CALIBRATION_METHODS)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ImgcheckError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    schemes = candidate_schemes(int8_scheme)  # an unknown name is refused before any work
    scheme = schemes[0]
    calibrated = "onnx-int8" in formats and not scheme.dynamic
    if int8_calibration not in CALIBRATION_METHODS:
        raise ImgcheckError(f"unknown int8 calibration {int8_calibration!r}; choose from "
                            f"{', '.join(CALIBRATION_METHODS)}")
    if scheme.dynamic and int8_calibration != "minmax":
        raise ImgcheckError(f"--int8-calibration {int8_calibration} sets a static scheme's activation ranges; the "
                            f"{scheme.name} scheme computes them per batch at run time and calibrates nothing.")
    reduced = [FORMATS[f].precision for f in formats if FORMATS[f].precision != "fp32"]
    if calibrated and calibration is None:
        raise ImgcheckError("--int8 needs --calibration DIR: images (ideally from the training data) to calibrate on.")
    if reduced and check_images is None and calibration is None:
        raise ImgcheckError(_random_pixels_refusal(reduced, scheme.dynamic))
    job = job or job_from_checkpoint(checkpoint, out, opset)  # a refused checkpoint leaves no folder behind
    job.int8_scheme, job.int8_calibration = scheme.name, None if scheme.dynamic else int8_calibration
    check, calibration_paths = gate_images(job.meta, check_images, calibration if reduced else None)
    if calibrated:
        job.calibration = build_check_set(job.meta, count=0, folder=calibration, limit=calibration_limit,
                                          paths=calibration_paths, option="--calibration").inputs
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stem = name or job.meta.arch
    reference = _torch_outputs(job.model, check.inputs, job.meta)
    temporaries: list[Path] = []
    records: list[ExportRecord] = []
    try:
        for format_name in formats:
            fmt = FORMATS[format_name]
            temporary = out / f".{stem}{fmt.suffix}.{os.getpid()}.tmp"
            temporaries.append(temporary)  # before exporting: a half-written file is removed too
            final = out / f"{stem}{fmt.suffix}"
            records.append(_export_int8(schemes, job, temporary, final, check, reference, atol, measure_speed)
                           if fmt.name == "onnx-int8" else
                           _export_one(fmt, job, temporary, final, check, reference, atol, measure_speed))
        for temporary, record in zip(temporaries, records):
            os.replace(temporary, record.path)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        job.cleanup()
        if created and not records and not any(out.iterdir()):
            out.rmdir()  # a failed export into a new folder leaves nothing, not an empty folder
    return records


def gate_images(meta: ModelMeta, check_images: str | os.PathLike | None,
                calibration: str | os.PathLike | None) -> tuple[CheckSet, list[Path] | None]:
    """(the gate's check set, the images to calibrate on; None: all of --calibration). The real images are
    --check-images when given; else, when `calibration` is given (an fp16/int8 export), the images held out of it
    (`parity.hold_out`: every 5th by sorted path, at most HELD_OUT_LIMIT read), which calibration then skips."""
    if check_images is not None or calibration is None:
        return build_check_set(meta, folder=check_images), None
    every = image_paths(calibration)
    kept, held = hold_out(every)
    if not held:
        raise ImgcheckError(f"--calibration {calibration}: {len(every)} image(s), too few to hold every "
                            f"{HOLD_OUT_EVERY}th out for the fp16/int8 parity gate; add images, or pass "
                            "--check-images DIR.")
    read = f"{len(held)}" if len(held) <= HELD_OUT_LIMIT else f"{HELD_OUT_LIMIT} of the {len(held)}"
    source = (f"{read} images held out of --calibration {calibration} (every {HOLD_OUT_EVERY}th by sorted path; "
              "not calibrated on)")
    check = build_check_set(meta, folder=calibration, limit=HELD_OUT_LIMIT, paths=held, option="--calibration",
                            source=source)
    return check, kept


def _random_pixels_refusal(reduced: list[str], dynamic: bool) -> str:
    """The one line refusing an fp16/int8 export that only random pixels would check."""
    which = " and ".join(dict.fromkeys(reduced))
    where = ("pass --check-images DIR (labelled real images like those you will scan)" if dynamic and
             "fp16" not in reduced else "pass --check-images DIR (labelled real images the model was not calibrated "
             f"on), or --calibration DIR to hold every {HOLD_OUT_EVERY}th image out for the check")
    return (f"the {which} parity gate compares verdicts on real images, and there are none: {where}. Random pixels "
            "alone prove little (a network saturates on them in either precision).")


def _export_int8(schemes: tuple[Int8Scheme, ...], job: ExportJob, temporary: Path, final: Path, check: CheckSet,
                 reference: np.ndarray, atol: float, measure_speed: bool) -> ExportRecord:
    """The int8 file of the first of `schemes` whose file passes the gate (auto's order), recording those refused;
    when every one is refused, the last refusal, naming the earlier ones."""
    refused: list[tuple[str, str]] = []
    for scheme in schemes:
        job.int8_scheme = scheme.name
        try:
            record = _export_one(FORMATS["onnx-int8"], job, temporary, final, check, reference, atol, measure_speed,
                                 tuple(refused))
        except ExportParityError as exc:
            if scheme is schemes[-1]:
                raise
            refused.append((scheme.name, exc.parity.failure))
            continue
        return dataclasses.replace(record, int8_refused=tuple(refused))
    raise AssertionError("no int8 scheme to try")  # candidate_schemes always gives one


def _export_one(fmt: ModelFormat, job: ExportJob, temporary: Path, final: Path, check: CheckSet,
                reference: np.ndarray, atol: float, measure_speed: bool,
                refused: tuple[tuple[str, str], ...] = ()) -> ExportRecord:
    fmt.exporter_function()(job, temporary)
    backend = load_backend(ModelFile.open(temporary))
    exported = np.concatenate([backend(check.inputs[i : i + BATCH]) for i in range(0, len(check.inputs), BATCH)])
    parity = compare(fmt, reference, exported, check.labels, job.meta.threshold, atol, seeded=check.seeded)
    if not parity.passed:
        images = f", from {check.source}" if check.source else ""
        raise ExportParityError(
            f"{fmt.name} export of {job.meta.arch} failed the parity gate against PyTorch: {parity.failure}; worst "
            f"|dp_fake| {parity.max_abs_diff:.3g} over {parity.n} inputs ({check.seeded} random-pixel, "
            f"{check.real} real{images}; bound: {parity.bound}). No file was written."
            f"{_int8_options(fmt, job, refused)}", parity)
    speeds = (images_per_second(backend, check.inputs, 1), images_per_second(backend, check.inputs, BATCH)) \
        if measure_speed else (float("nan"), float("nan"))
    return ExportRecord(fmt.name, final, temporary.stat().st_size, parity, *speeds,
                        int8_scheme=job.int8_scheme if fmt.name == "onnx-int8" else None, check_images=check.source,
                        int8_calibration=job.int8_calibration if fmt.name == "onnx-int8" else None)


def _int8_options(fmt: ModelFormat, job: ExportJob, refused: tuple[tuple[str, str], ...] = ()) -> str:
    """For a refused static int8 file: the schemes auto tried before it, and the other quantizations to try (the
    bound is not an option)."""
    if fmt.name != "onnx-int8" or job.int8_calibration is None:  # None: a dynamic scheme, nothing calibrated
        return ""
    others = [m for m in CALIBRATION_METHODS if m != job.int8_calibration]
    before = "".join(f" (after scheme {name}, refused: {failure})" for name, failure in refused)
    return (f" It was quantized with scheme {job.int8_scheme}{before} and {job.int8_calibration} calibration: try "
            f"--int8-calibration {' or '.join(others)}, another --int8-scheme, or more --calibration images; or "
            "ship the fp32 or fp16 file.")


@torch.no_grad()
def _torch_outputs(model: torch.nn.Module, inputs: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """p_fake of the PyTorch model, read from its raw output as the runtime reads the exported file's (to_p_fake):
    one probability per image for `imgcheck export`, per-class scores for imported models."""
    outputs = [model(torch.from_numpy(inputs[i : i + BATCH])).numpy() for i in range(0, len(inputs), BATCH)]
    return to_p_fake(np.concatenate(outputs), meta)
