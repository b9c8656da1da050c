"""Static int8 quantization (onnxruntime, QDQ format, per-channel weights), calibrated on real images.

Two choices keep the int8 model's verdicts within the parity gate:
* the weights' sign follows the CPU (`imgcheck.export.int8_schemes`): signed (U8S8) where VNNI or AMX computes it
  exactly, unsigned (U8U8) on x86 CPUs without VNNI, where onnxruntime computes U8S8 with VPMADDUBSW, whose 16-bit
  saturation flipped 7% of a CIFAKE CNN's verdicts (U8U8: under 1%);
* the first convolution stays in float: it sees raw pixels and is the most sensitive layer.
Dynamic quantization is not offered: it leaves convolutions in float and runs them 3-4x slower on CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from imgcheck.export.int8_schemes import Int8Scheme, resolve_scheme

from imgcheck.export.job import ExportJob, quiet
from imgcheck.export.metadata import attach_to_onnx
from imgcheck.export.onnx_export import INPUT_NAME
from imgcheck.infer.errors import ImgcheckError


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over preprocessed calibration inputs."""

    def __init__(self, inputs: np.ndarray, batch_size: int = 32) -> None:
        self._batches = iter([inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def export_onnx_int8(job: ExportJob, path: Path) -> None:
    """Quantize the float32 ONNX export to int8 (QDQ, per-channel, `job.int8_scheme`), calibrated on
    `job.calibration`, and attach the ModelMeta."""
    import onnx

    if job.calibration is None or len(job.calibration) == 0:
        raise ImgcheckError("int8 export needs calibration images: --int8 --calibration DIR")
    quantize_onnx(job.onnx_fp32(), path, job.calibration, resolve_scheme(job.int8_scheme), job.workdir)
    proto = onnx.load(str(path))
    attach_to_onnx(proto, job.meta)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))


def quantize_onnx(source: Path, dest: Path, calibration: np.ndarray, scheme: Int8Scheme,
                  workdir: Path | None = None) -> None:
    """Write the static int8 (QDQ, per-channel weights, MinMax calibration on `calibration`, float32 model
    inputs) version of the float32 ONNX file `source` to `dest`, by `scheme`; the first convolution stays float."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = (workdir or dest.parent) / f".{os.getpid()}-prepared.onnx"
    try:
        with quiet():
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            first_conv = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"][:1]
            quantize_static(str(prepared), str(dest), _Batches(calibration), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=scheme.reduce_range, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8 if scheme.signed_weights else QuantType.QUInt8,
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=first_conv)
    finally:
        prepared.unlink(missing_ok=True)
