"""Several detectors as one model file: each member's logit, shifted by its own threshold, averaged with weights.

    image (N, 3, h, w): the smallest member's input, pixels scaled to [0, 1]
      -> per member: upsampled to its input inside the graph (its own filter), normalised by its mean/std,
         its network, its logit z_i (the input of a final Sigmoid, or log p - log(1 - p) of its probability)
      -> logit = sum_i w_i * (z_i - logit(threshold_i)) / sum_i w_i          (threshold 0.5: logit >= 0 is FAKE)

Every member is an ONNX file that carries ModelMeta (`imgcheck export` or `imgcheck import`); the ensemble is one
ONNX file with its own ModelMeta, the members' records kept in provenance.extra["ensemble"]. Two gates, each on the
seeded random pixels and the --check-images images; either failing writes nothing:

* wiring: the ensemble scores its own input as the members' files do, run one by one by onnxruntime on that input
  resized by Pillow (float pixels, the member's filter) and combined in float64: max |delta p_fake| <= atol. With an
  int8 (or fp16) member the file is int8 (fp16) by content, and the bound is `imgcheck export`'s for that precision
  (verdicts agree on >= 99.5% of the check images, |delta ROC-AUC| <= 0.002): once its normalisation moves into
  the graph, float rounding of the member's input differs in the last bit, which its quantised activations amplify;
* faithfulness: on the real check images, the ensemble (every member fed from the smallest input) agrees with the
  members fed by their own preprocessing (each image resized straight to each member's input): verdict agreement
  >= 99.5% and |delta ROC-AUC| <= 0.002. On images of the smallest member's size (CIFAKE's 32x32 for a 32 + 64
  pair) the two differ only by the uint8 rounding of the upsampled pixels; on much larger images they can differ,
  and the gate says so.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from imgcheck.export.foreign import check_out
from imgcheck.export.metadata import attach_to_onnx
from imgcheck.export.parity import (MAX_AUC_DELTA, MIN_AGREEMENT, CheckSet, Parity, build_check_set, compare,
                                    resolve_check_images, roc_auc_or_none)
from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import PER_CLASS_OUTPUTS, ModelMeta, Provenance
from imgcheck.infer.models.model_file import ONNX, ModelFile
from imgcheck.infer.models.shipped import resolve_model_path
from imgcheck.infer.runtime import load_backend
from imgcheck.infer.runtime.outputs import to_p_fake

INPUT_NAME = "image"
OUTPUT_NAME = "logit"
# Resize attributes that reproduce Pillow's upsampling filters on float pixels (checked in the tests).
UPSAMPLING = {
    "bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
    "bicubic": {"mode": "cubic", "coordinate_transformation_mode": "half_pixel", "cubic_coeff_a": -0.5,
                "exclude_outside": 1},
}
_PIL_FILTERS = {"bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling.BILINEAR / BICUBIC
_PROBABILITY_EPS = 1e-7  # probabilities are clipped to [eps, 1 - eps] before log p - log(1 - p)
MIN_OPSET = 11  # Resize's cubic exclude_outside


class EnsembleRefused(ImgcheckError):
    """Members that cannot be combined, or an ensemble that failed a gate; nothing was written."""


@dataclass(frozen=True)
class Member:
    """One member: its file, ModelMeta, weight, and its graph cut to the logit of the positive class."""

    path: Path
    meta: ModelMeta
    sha256: str
    weight: float
    logit_model: onnx.ModelProto  # float32 (N, 3, H, W) normalised -> float32 (N,) logit

    @cached_property
    def session(self) -> Any:
        """An onnxruntime CPU session of `logit_model`, made once (both gates run the member)."""
        import onnxruntime

        return onnxruntime.InferenceSession(self.logit_model.SerializeToString(), providers=["CPUExecutionProvider"])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W): the member's input."""
        return self.meta.input_size[1], self.meta.input_size[2]

    @property
    def shift(self) -> float:
        """logit(threshold): subtracted from the member's logit, so each member's own verdict flips at 0."""
        t = self.meta.threshold
        return math.log(t) - math.log1p(-t)

    def record(self) -> dict[str, Any]:
        """What provenance.extra["ensemble"]["members"] keeps of this member."""
        return {"file": self.path.name, "sha256": self.sha256, "weight": self.weight, "arch": self.meta.arch,
                "input_size": list(self.meta.input_size), "threshold": self.meta.threshold,
                "meta": self.meta.to_dict()}


@dataclass(frozen=True)
class Faithfulness:
    """The ensemble against its members fed by their own preprocessing, on the real check images."""

    n: int
    verdict_agreement: float
    max_abs_diff: float
    auc_members: float | None
    auc_ensemble: float | None
    passed: bool
    failure: str | None = None


@dataclass(frozen=True)
class EnsembleOutcome:
    """The written file, its ModelMeta, its members, and both gates."""

    path: Path
    meta: ModelMeta
    members: list[Member]
    wiring: Parity
    faithfulness: Faithfulness
    check_images: Path
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


def build_ensemble(paths: list[str | os.PathLike], out: str | os.PathLike, *,
                   check_images: str | os.PathLike | None = None, weights: list[float] | None = None,
                   force: bool = False, atol: float = 1e-4) -> EnsembleOutcome:
    """Combine the ONNX models at `paths` into one ONNX file at `out` (see the module docstring); refuse, writing
    nothing, when they cannot be combined or a gate fails."""
    out = Path(out)
    if len(paths) < 2:
        raise EnsembleRefused("an ensemble needs at least two models.")
    weights = list(weights) if weights else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise EnsembleRefused(f"{len(weights)} --weight value(s) for {len(paths)} models: give one per model, in order.")
    if any(not (w > 0 and math.isfinite(w)) for w in weights):
        raise EnsembleRefused(f"weights must be positive finite numbers, got {', '.join(f'{w:g}' for w in weights)}.")
    check_out(out, force)
    if out.is_dir():
        raise EnsembleRefused(f"--out {out} is a folder; give the path of the ONNX file to write.")
    for path in paths:
        if out.exists() and out.resolve() == resolve_model_path(path).resolve():
            raise EnsembleRefused(f"--out {out} is one of the members; imgcheck never overwrites its input.")
    folder = resolve_check_images(check_images, "the ensemble's gates compare it with its members")
    members = [read_member(Path(p), w) for p, w in zip(paths, weights)]
    base = smallest_member(members)
    meta = ensemble_meta(members, base)
    proto = ensemble_graph(members, base.size)
    attach_to_onnx(proto, meta)
    with staged_path(out) as staged:
        onnx.save(proto, os.fspath(staged))
        written = ModelFile.open(staged)
        checks = build_check_set(meta, folder=folder)  # the seeded pixels, then the check images
        exported = load_backend(written, device="cpu")(checks.inputs)
        wiring = check_wiring(written, members, checks, exported, atol)
        if not wiring.passed:
            raise EnsembleRefused(f"the ensemble does not score as its members do: {wiring.failure}. Nothing was "
                                  "written.")
        faithful = check_faithfulness(written, members, folder, checks, exported)
        if not faithful.passed:
            raise EnsembleRefused(f"{faithful.failure}. Nothing was written.")
    notes = [f"{m.path.name} sees the {base.size[0]}x{base.size[1]} input upsampled to {m.size[0]}x{m.size[1]} "
             f"({m.meta.interpolation}) inside the model" for m in members if m.size != base.size]
    return EnsembleOutcome(out, meta, members, wiring, faithful, folder, checks.skipped, notes)


def read_member(path: Path, weight: float = 1.0) -> Member:
    """Open one member (a file, or a shipped model's name) and cut its graph to the positive class's logit; refuse
    what an ensemble cannot hold."""
    model_file = ModelFile.open(path)
    meta, path = model_file.meta, model_file.path

    def refuse(what: str) -> None:
        raise EnsembleRefused(f"{path}: refused as an ensemble member: {what}. Nothing was written.")

    if model_file.carrier != ONNX:
        refuse(f"it is a {model_file.carrier} file; export it to ONNX first (`imgcheck export --format onnx`)")
    if meta.fit != "resize" or meta.tiles != 1:
        refuse(f"it scores {meta.describe_resize()}; members must take the whole image resized")
    if meta.resize != "fixed" or meta.resize_size is not None:
        refuse(f"its resize rule is '{meta.describe_resize()}'; members must take the whole image resized to their "
               "input, without a crop")
    if meta.output in PER_CLASS_OUTPUTS and (len(meta.class_names) != 2 or len(meta.positive_indices) != 1):
        refuse(f"it outputs {meta.output} over {len(meta.class_names)} classes; members must have two classes")
    model_file.check_external_data()
    proto = onnx.load(os.fspath(path))
    default_opset = _default_opset(proto)
    if default_opset < MIN_OPSET:
        refuse(f"its ONNX opset is {default_opset}; members need opset {MIN_OPSET} or later (re-export it)")
    return Member(path, meta, model_file.sha256(), float(weight), logit_model(proto, meta))


def smallest_member(members: list[Member]) -> Member:
    """The member with the smallest input: the ensemble's input. Every other member's input must be at least as
    large on both sides (it is upsampled inside the graph) and use a filter the graph reproduces exactly."""
    base = min(members, key=lambda m: (m.size[0] * m.size[1], members.index(m)))
    names = {(m.meta.class_names, m.meta.positive_class) for m in members}
    if len(names) > 1:
        raise EnsembleRefused("the members name their classes differently ("
                              + "; ".join(f"{m.path.name}: {', '.join(m.meta.class_names)} (positive "
                                          f"{m.meta.positive_class})" for m in members) + "). Nothing was written.")
    for m in members:
        if m.size == base.size:
            continue
        if m.size[0] < base.size[0] or m.size[1] < base.size[1]:
            raise EnsembleRefused(f"{m.path.name} takes {m.size[0]}x{m.size[1]} and {base.path.name} "
                                  f"{base.size[0]}x{base.size[1]}: the ensemble feeds every member from the smallest "
                                  "input by upsampling, so each side must be at least the smallest member's. Nothing "
                                  "was written.")
        if m.meta.interpolation not in UPSAMPLING:
            raise EnsembleRefused(f"{m.path.name} resizes with {m.meta.interpolation}; an ensemble upsamples larger "
                                  f"members inside the graph with {' or '.join(UPSAMPLING)} only. Nothing was written.")
    return base


def ensemble_meta(members: list[Member], base: Member) -> ModelMeta:
    """The ensemble's ModelMeta: the smallest member's geometry and filter, pixels scaled to [0, 1], one logit,
    threshold 0.5; the members' records in provenance.extra["ensemble"]."""
    datasets = list(dict.fromkeys(m.meta.provenance.dataset for m in members))
    sizes = [m.meta.provenance.train_image_sizes for m in members]
    envelope = None
    if all(s is not None for s in sizes):
        envelope = ((min(s[0][0] for s in sizes), min(s[0][1] for s in sizes)),  # type: ignore[index]
                    (max(s[1][0] for s in sizes), max(s[1][1] for s in sizes)))  # type: ignore[index]
    total = sum(m.weight for m in members)
    rule = ("logit = sum_i w_i * (logit_i - logit(threshold_i)) / sum_i w_i; every member fed from the "
            f"{base.size[0]}x{base.size[1]} input, larger ones upsampled inside the model")
    provenance = Provenance(
        dataset=datasets[0] if len(datasets) == 1 else "+".join(str(d) for d in datasets),
        extra={"ensemble": {"rule": rule, "weights": [m.weight / total for m in members],
                            "members": [m.record() for m in members]}},
        train_image_sizes=envelope,
    )
    return ModelMeta(arch="ensemble(" + "+".join(m.meta.arch for m in members) + ")",
                     input_size=(3, *base.size), interpolation=base.meta.interpolation, antialias=base.meta.antialias,
                     mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), class_names=base.meta.class_names,
                     positive_class=base.meta.positive_class, output="logit", threshold=0.5, provenance=provenance)


def logit_model(proto: onnx.ModelProto, meta: ModelMeta) -> onnx.ModelProto:
    """A copy of a member's graph whose one output is the positive class's logit, float32 (N,).

    A probability made by a final Sigmoid gives that Sigmoid's input (exact, however confident the member);
    any other probability gives log p - log(1 - p), p clipped to [1e-7, 1 - 1e-7]; a two-class output the
    difference of its positive and negative scores (log-probabilities for softmax)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    score = graph.output[-1].name
    nodes: list[onnx.NodeProto] = []
    if meta.output == "logit":
        logit = score
    elif meta.output == "probability":
        producer = next((n for n in graph.node if score in n.output), None)
        if producer is not None and producer.op_type == "Sigmoid" and not _used_elsewhere(graph, score, producer):
            graph.node.remove(producer)
            logit = producer.input[0]
        else:
            logit = _logit_of_probability(score, nodes, graph)
    else:
        positive, negative = meta.positive_indices[0], 1 - meta.positive_indices[0]
        columns = []
        for name, index in (("pos", positive), ("neg", negative)):
            const = _const(graph, f"ens_{name}_index", np.asarray([index], np.int64))
            nodes.append(helper.make_node("Gather", [score, const], [f"ens_{name}_score"], axis=1))
            columns.append(f"ens_{name}_score")
        if meta.output == "softmax":
            columns = [_log_clipped(column, nodes, graph, stem) for column, stem in zip(columns, ("pos", "neg"))]
        nodes.append(helper.make_node("Sub", columns, ["ens_score_difference"]))
        logit = "ens_score_difference"
    flat = _const(graph, "ens_flat_shape", np.asarray([-1], np.int64))
    nodes.append(helper.make_node("Reshape", [logit, flat], ["member_logit"]))
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("member_logit", TensorProto.FLOAT, ["N"]))
    del graph.value_info[:]  # shapes inferred for the old outputs no longer hold everywhere
    return model


def ensemble_graph(members: list[Member], size: tuple[int, int]) -> onnx.ModelProto:
    """One ONNX model: the `size` input, each member's resize + normalisation + logit graph, the weighted mean."""
    opset = max(_default_opset(m.logit_model) for m in members)
    others: dict[str, int] = {}
    for m in members:
        for entry in m.logit_model.opset_import:
            if entry.domain not in ("", "ai.onnx"):
                if others.setdefault(entry.domain, entry.version) != entry.version:
                    raise EnsembleRefused(f"the members use different versions of the ONNX domain {entry.domain!r}; "
                                          "export them with the same onnxruntime/torch. Nothing was written.")
    total = sum(m.weight for m in members)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    value_info: list[onnx.ValueInfoProto] = []
    functions: list[onnx.FunctionProto] = []
    shifted = []
    batch_dims = "ens_batch_dims"
    nodes.append(helper.make_node("Shape", [INPUT_NAME], [batch_dims], start=0, end=2))
    for i, m in enumerate(members):
        model = m.logit_model
        if _default_opset(model) != opset:
            from onnx import version_converter

            model = version_converter.convert_version(model, opset)
        prefix = f"m{i}_"
        model = onnx.compose.add_prefix(model, prefix)
        x = INPUT_NAME
        if m.size != size:
            sizes = numpy_helper.from_array(np.asarray(m.size, np.int64), f"{prefix}ens_size")
            initializers.append(sizes)
            nodes.append(helper.make_node("Concat", [batch_dims, sizes.name], [f"{prefix}ens_sizes"], axis=0))
            nodes.append(helper.make_node("Resize", [x, "", "", f"{prefix}ens_sizes"], [f"{prefix}ens_resized"],
                                          **UPSAMPLING[m.meta.interpolation]))
            x = f"{prefix}ens_resized"
        mean = numpy_helper.from_array(np.asarray(m.meta.mean, np.float32).reshape(1, 3, 1, 1), f"{prefix}ens_mean")
        std = numpy_helper.from_array(np.asarray(m.meta.std, np.float32).reshape(1, 3, 1, 1), f"{prefix}ens_std")
        initializers += [mean, std]
        nodes.append(helper.make_node("Sub", [x, mean.name], [f"{prefix}ens_centred"]))
        nodes.append(helper.make_node("Div", [f"{prefix}ens_centred", std.name], [model.graph.input[0].name]))
        nodes.extend(model.graph.node)
        initializers.extend(model.graph.initializer)
        value_info.extend(model.graph.value_info)
        functions.extend(model.functions)  # add_prefix renamed them too: two members' functions never clash
        shift = numpy_helper.from_array(np.asarray(m.shift, np.float32), f"{prefix}ens_shift")
        weight = numpy_helper.from_array(np.asarray(m.weight / total, np.float32), f"{prefix}ens_weight")
        initializers += [shift, weight]
        nodes.append(helper.make_node("Sub", [model.graph.output[0].name, shift.name], [f"{prefix}ens_shifted"]))
        nodes.append(helper.make_node("Mul", [f"{prefix}ens_shifted", weight.name], [f"{prefix}ens_weighted"]))
        shifted.append(f"{prefix}ens_weighted")
    nodes.append(helper.make_node("Sum", shifted, [OUTPUT_NAME]))
    graph = helper.make_graph(
        nodes, "imgcheck_ensemble",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, *size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"])],
        initializers, value_info=value_info)
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in sorted(others.items())]
    model = helper.make_model(graph, opset_imports=imports, functions=functions, producer_name="imgcheck ensemble")
    model.ir_version = max(m.logit_model.ir_version for m in members)
    onnx.checker.check_model(model)
    return model


def check_wiring(written: ModelFile, members: list[Member], checks: CheckSet, exported: np.ndarray,
                 atol: float) -> Parity:
    """The ensemble file's p_fake on `checks` (`exported`) against its members run one by one on the same input
    (resized by Pillow for larger members), combined in float64, under the parity bound of the file's precision
    (fp32: max |dp| <= atol)."""
    logits = [run_logits(m, normalise(m, resize_like_pillow(checks.inputs, m))) for m in members]
    reference = combine(members, logits)
    return compare(written.format, reference, exported, checks.labels, written.meta.threshold, atol, checks.seeded)


def check_faithfulness(written: ModelFile, members: list[Member], folder: Path, checks: CheckSet,
                       exported: np.ndarray) -> Faithfulness:
    """The ensemble on the real check images (those after the seeded pixels of `checks`, scored `exported`)
    against its members fed by their own preprocessing from the files under `folder`."""
    exported, labels = exported[checks.seeded:], checks.labels[checks.seeded:]
    logits = []
    for m in members:
        inputs = build_check_set(m.meta, count=0, folder=folder).inputs
        logit = run_logits(m, inputs)
        alone = load_backend(ModelFile.open(m.path), device="cpu")(inputs)
        if not np.allclose(to_p_fake(logit, m.meta.replace(output="logit")), alone, atol=1e-5):
            raise EnsembleRefused(f"{m.path.name}: its logit, read from inside its graph, does not give the p_fake "
                                  "the file itself gives. Nothing was written.")
        logits.append(logit)
    reference = combine(members, logits)
    threshold = written.meta.threshold
    same = (reference >= threshold) == (exported >= threshold)
    agreement = float(same.mean())
    auc_members, auc_ensemble = roc_auc_or_none(labels, reference), roc_auc_or_none(labels, exported)
    diff = float(np.abs(reference.astype(np.float64) - exported).max())
    failure = None
    if agreement < MIN_AGREEMENT:
        failure = (f"fed from the {written.meta.input_size[1]}x{written.meta.input_size[2]} input, the ensemble agrees "
                   f"with its members fed by their own preprocessing on only {agreement:.2%} of the {len(same)} check "
                   f"images (bound {MIN_AGREEMENT:.1%}): these images are far from the smallest member's size")
    elif auc_members is not None and abs(auc_members - auc_ensemble) > MAX_AUC_DELTA:  # type: ignore[operator]
        failure = (f"fed from the smallest input, the ensemble's ROC-AUC on the check images is {auc_ensemble:.4f} "
                   f"against {auc_members:.4f} with each member's own preprocessing (bound {MAX_AUC_DELTA})")
    return Faithfulness(len(same), agreement, diff, auc_members, auc_ensemble, failure is None, failure)


def run_logits(member: Member, inputs: np.ndarray) -> np.ndarray:
    """The member's logit for a batch of its normalised inputs, by onnxruntime on the CPU."""
    session = member.session
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i:i + 64]})[0].reshape(-1)
                           for i in range(0, len(inputs), 64)])


def resize_like_pillow(inputs: np.ndarray, member: Member) -> np.ndarray:
    """[0, 1] float pixels (N, 3, h, w) resized to the member's input by Pillow's filter on float images (mode F),
    channel by channel: the reference for the graph's Resize."""
    from PIL import Image

    height, width = member.size
    if inputs.shape[2:] == (height, width):
        return inputs
    filt = _PIL_FILTERS[member.meta.interpolation]
    return np.stack([np.stack([np.asarray(Image.fromarray(channel, mode="F").resize((width, height), filt))
                               for channel in image]) for image in inputs.astype(np.float32)])


def normalise(member: Member, pixels01: np.ndarray) -> np.ndarray:
    """[0, 1] pixels to the member's input: (x - mean) / std, as the graph computes it."""
    mean = np.asarray(member.meta.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(member.meta.std, np.float32).reshape(1, 3, 1, 1)
    return ((pixels01 - mean) / std).astype(np.float32)


def combine(members: list[Member], logits: list[np.ndarray]) -> np.ndarray:
    """p_fake of the weighted mean of threshold-shifted logits, in float64 (returned as float32)."""
    total = sum(m.weight for m in members)
    mixed = sum(m.weight / total * (z.astype(np.float64) - m.shift) for m, z in zip(members, logits))
    return (1.0 / (1.0 + np.exp(-np.asarray(mixed)))).astype(np.float32)


def _default_opset(model: onnx.ModelProto) -> int:
    return next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), 0)


def _used_elsewhere(graph: onnx.GraphProto, name: str, producer: onnx.NodeProto) -> bool:
    return any(name in n.input for n in graph.node if n is not producer)


def _const(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def _log_clipped(name: str, nodes: list[onnx.NodeProto], graph: onnx.GraphProto, stem: str) -> str:
    low = _const(graph, f"ens_{stem}_low", np.asarray(_PROBABILITY_EPS, np.float32))
    high = _const(graph, f"ens_{stem}_high", np.asarray(1 - _PROBABILITY_EPS, np.float32))
    nodes.append(helper.make_node("Clip", [name, low, high], [f"ens_{stem}_clipped"]))
    nodes.append(helper.make_node("Log", [f"ens_{stem}_clipped"], [f"ens_{stem}_log"]))
    return f"ens_{stem}_log"


def _logit_of_probability(name: str, nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> str:
    """log p - log(1 - p), p clipped to [eps, 1 - eps]."""
    log_p = _log_clipped(name, nodes, graph, "p")
    one = _const(graph, "ens_one", np.asarray(1.0, np.float32))
    nodes.append(helper.make_node("Sub", [one, "ens_p_clipped"], ["ens_p_rest"]))
    nodes.append(helper.make_node("Log", ["ens_p_rest"], ["ens_p_log_rest"]))
    nodes.append(helper.make_node("Sub", [log_p, "ens_p_log_rest"], ["ens_p_logit"]))
    return "ens_p_logit"
