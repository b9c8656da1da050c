"""ONNX exports: float32 (torch's recommended dynamo exporter) and float16 (onnxruntime's converter)."""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

from imgcheck.export.job import ExportJob, quiet
from imgcheck.export.metadata import attach_to_onnx

INPUT_NAME = "image"  # the output is named by the job (ExportJob.output_name)


def export_onnx(job: ExportJob, path: Path) -> None:
    """float32 ONNX: input `image` [N, 3, H, W] (dynamic N), output `p_fake` [N] (or what `job.output_name` names:
    an imported model's per-class probabilities [N, K]), ModelMeta in metadata_props."""
    example = torch.zeros(2, *job.meta.input_size)
    with quiet():
        program = torch.onnx.export(
            job.model, (example,), input_names=[INPUT_NAME], output_names=[job.output_name],
            dynamic_shapes={"image": {0: torch.export.Dim("batch", min=1)}}, opset_version=job.opset,
            dynamo=True, verbose=False, optimize=True,
        )
    proto = program.model_proto
    _finish(proto, job, path)


def export_onnx_fp16(job: ExportJob, path: Path) -> None:
    """float16 weights and compute, float32 input and output (onnxruntime's float16 converter)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with quiet():
        proto = convert_float_to_float16(onnx.load(str(job.onnx_fp32())), keep_io_types=True)
    _sort_topologically(proto.graph)  # the converter appends its input casts after the nodes that read them
    _finish(proto, job, path)


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder graph.node so that every node comes after the nodes producing its inputs (Kahn's algorithm)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError("ONNX graph has a cycle or an input that no node produces")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        pending = [n for n in pending if all(n is not r for r in ready)]
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def _finish(proto: onnx.ModelProto, job: ExportJob, path: Path) -> None:
    attach_to_onnx(proto, job.meta)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
