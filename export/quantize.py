"""int8 quantization with onnxruntime: static (QDQ format, per-channel weights, calibrated on real images) or
dynamic (the MatMuls only, activations quantized at run time), as the scheme says (`imgcheck.export.int8_schemes`).

Two choices keep a static int8 model's verdicts within the parity gate:
* the weights follow the CPU (`imgcheck.export.int8_schemes`): signed 8-bit (U8S8) where VNNI or AMX computes them
  exactly; on x86 CPUs without VNNI, where onnxruntime computes U8S8 with VPMADDUBSW, whose 16-bit saturation
  flipped 7% of a CIFAKE CNN's verdicts, signed 7-bit ones (reduce_range, which cannot saturate) or unsigned (U8U8);
* the first convolution stays in float: it sees raw pixels and is the most sensitive layer.
Dynamic quantization leaves convolutions in float (quantized dynamically they run 3-4x slower on CPU), so it is
offered for MatMul-bound models (transformers) only by name, never by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imgcheck.export.int8_schemes import Int8Scheme, resolve_scheme
from imgcheck.export.job import ExportJob, quiet
from imgcheck.export.metadata import attach_to_onnx
from imgcheck.export.onnx_export import INPUT_NAME
from imgcheck.infer.errors import ImgcheckError

if TYPE_CHECKING:
    import onnx


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over preprocessed calibration inputs. `set_range` (in batches)
    lets the quantizer collect one batch at a time (its CalibStridedMinMax option): the histogram calibrators keep
    every activation they are given in memory until they build their histograms."""

    def __init__(self, inputs: np.ndarray, batch_size: int = 32) -> None:
        self._all = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)]
        self._batches = iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._batches = iter(self._all[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def export_onnx_int8(job: ExportJob, path: Path) -> None:
    """Quantize the float32 ONNX export to int8 by `job.int8_scheme` (static: calibrated on `job.calibration`),
    and attach the ModelMeta."""
    import onnx

    scheme = resolve_scheme(job.int8_scheme)
    if not scheme.dynamic and (job.calibration is None or len(job.calibration) == 0):
        raise ImgcheckError("int8 export needs calibration images: --int8 --calibration DIR")
    quantize_onnx(job.onnx_fp32(), path, job.calibration, scheme, job.workdir, job.int8_calibration)
    proto = onnx.load(str(path))
    attach_to_onnx(proto, job.meta)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))


def quantize_onnx(source: Path, dest: Path, calibration: np.ndarray | None, scheme: Int8Scheme,
                  workdir: Path | None = None, method: str | None = "minmax", keep_float: Sequence[str] = ()) -> None:
    """Write the int8 version of the float32 ONNX file `source` to `dest`, by `scheme`: static (QDQ, per-channel
    weights, activation ranges from `calibration` by `method`, one of CALIBRATION_METHODS, the first convolution
    and the nodes named in `keep_float` in float) or dynamic (per-channel signed weights of the MatMuls,
    activations quantized per batch); float32 model inputs and outputs either way."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = (workdir or dest.parent) / f".{os.getpid()}-prepared.onnx"
    try:
        with quiet():
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if scheme.dynamic:
                matmuls = weight_matmuls(onnx.load(str(prepared)))
                if not matmuls:
                    raise ImgcheckError(f"the {scheme.name} int8 scheme quantizes MatMuls, and this model has none "
                                        "with weights (a convolutional network?): choose a static scheme "
                                        "(--int8-scheme auto) with --calibration DIR.")
                quantize_dynamic(str(prepared), str(dest), per_channel=True, reduce_range=scheme.reduce_range,
                                 weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                                 nodes_to_quantize=matmuls)
                return
            graph = onnx.load(str(prepared)).graph
            infinite = non_finite_constants(graph)
            if infinite:
                raise ImgcheckError(f"cannot quantize to int8: the float graph holds {len(infinite)} constant(s) that "
                                    f"are not finite ({', '.join(infinite[:3])}), so calibration's ranges would be "
                                    "infinite; export without --int8, or rebuild the model without infinite constants")
            first_conv = [n.name for n in graph.node if n.op_type == "Conv"][:1]
            calibrators = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                           "entropy": CalibrationMethod.Entropy}
            # histograms are built one batch at a time (bounded memory); MinMax keeps its running extremes anyway
            strided = {} if method == "minmax" else {"CalibStridedMinMax": 1}
            try:
                quantize_static(str(prepared), str(dest), _Batches(calibration), quant_format=QuantFormat.QDQ,
                                per_channel=True, reduce_range=scheme.reduce_range, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8 if scheme.signed_weights else QuantType.QUInt8,
                                calibrate_method=calibrators[method], nodes_to_exclude=[*first_conv, *keep_float],
                                extra_options=strided)
            except ValueError as exc:
                if "not finite" not in str(exc):
                    raise
                raise ImgcheckError(f"cannot quantize to int8: an activation's range on the calibration images is not "
                                    f"finite ({exc}); export without --int8") from exc
    finally:
        prepared.unlink(missing_ok=True)


def non_finite_constants(graph: onnx.GraphProto) -> list[str]:
    """The names of the floating-point constants in `graph` (initializers, Constant nodes' and other tensor
    attributes, subgraphs included) that hold an infinity or a NaN: calibration would give their ranges as infinite
    (minmax silently, writing a file that disagrees with the float model; the histogram methods by crashing)."""
    from onnx import AttributeProto, TensorProto, numpy_helper

    def bad(tensor: TensorProto) -> bool:
        if tensor.data_location == TensorProto.EXTERNAL:
            return False  # read by onnxruntime, not here; the external-data check vets where it lives
        values = numpy_helper.to_array(tensor)
        return values.dtype.kind in "fc" and not bool(np.isfinite(values).all())

    found = [t.name for t in graph.initializer if bad(t)]
    for node in graph.node:
        for attribute in node.attribute:
            tensors = [attribute.t] if attribute.type == AttributeProto.TENSOR else list(attribute.tensors)
            found += [node.name or node.op_type for t in tensors if bad(t)]
            subgraphs = [attribute.g] if attribute.type == AttributeProto.GRAPH else list(attribute.graphs)
            for subgraph in subgraphs:
                found += non_finite_constants(subgraph)
    return found


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """The MatMul nodes with a weight (an initializer) among their inputs: the ones dynamic quantization turns to
    int8. MatMuls of two activations (attention's scores and mix) stay float: both sides would be quantized at run
    time, which costs accuracy for a small share of the work; so do Gemm layers (a classifier on pooled features)."""
    weights = {initializer.name for initializer in model.graph.initializer}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and any(name in weights for name in node.input)]


def weight_nodes(path: Path) -> list[str]:
    """The names of the nodes with weights a static scheme quantizes (Conv, Gemm, MatMul), in graph order, of the
    ONNX file at `path`: the candidates `keep_float` picks from."""
    import onnx

    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
