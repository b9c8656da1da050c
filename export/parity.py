"""The parity gate: an exported file must give the same answers as the PyTorch model it came from.

Inputs: a fixed seeded batch (random pixels through the shared preprocessing) plus, when given, real images
from --check-images (labelled when they sit under REAL/FAKE folders). Bounds:

* fp32 formats: max |delta p_fake| <= atol, and identical verdicts at the model's threshold (inputs whose
  reference p_fake lies within atol of the threshold are counted but not compared: either verdict is right);
* fp16 / int8: verdicts agree on at least 99.5% of inputs, and on labelled check images of both classes
  |delta ROC-AUC| <= 0.002.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgcheck.infer.errors import ImageDecodeError, ImgcheckError
from imgcheck.infer.models.formats import ModelFormat
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.image_files import has_image_suffix, label_from_path

SEEDED = 64  # random-pixel inputs that open every check set
MIN_AGREEMENT = 0.995
MAX_AUC_DELTA = 0.002


class ExportParityError(ImgcheckError):
    """An export whose outputs differ from PyTorch beyond the bound."""


@dataclass(frozen=True)
class CheckSet:
    """Model inputs for the gate, with labels (1 FAKE, 0 REAL, -1 unknown) for the check images."""

    inputs: np.ndarray
    labels: np.ndarray
    seeded: int  # how many of the inputs are the seeded random batch (they come first)
    skipped: int = 0  # check images that could not be read


@dataclass(frozen=True)
class Parity:
    """How one exported file compares with the PyTorch reference."""

    format: str
    precision: str
    n: int
    max_abs_diff: float
    verdict_agreement: float
    near_threshold: int
    auc_reference: float | None
    auc_export: float | None
    bound: str
    passed: bool
    failure: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_check_set(meta: ModelMeta, count: int = SEEDED, seed: int = 0, folder: str | os.PathLike | None = None,
                    limit: int | None = None) -> CheckSet:
    """The seeded batch (`count` random images) plus the readable images under `folder` (at most `limit`,
    drawn evenly from the sorted file list)."""
    pre = Preprocessor.from_meta(meta)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (count, pre.height, pre.width, 3), dtype=np.uint8)
    inputs, labels, skipped = [pre.normalize(pixels)], [np.full(count, -1)], 0
    if folder is not None:
        images, image_labels = [], []
        paths = sorted(p for p in Path(folder).rglob("*") if has_image_suffix(p.name) and p.is_file())
        if limit is not None and len(paths) > limit:
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
        for path in paths:
            try:
                images.append(pre.load_pixels(path))
            except ImageDecodeError:
                skipped += 1
                continue
            found = label_from_path(path.relative_to(folder).parts[:-1])
            image_labels.append(found[0] if found else -1)
        if not images:
            raise ImgcheckError(f"--check-images {folder}: no readable images there.")
        inputs.append(pre.normalize(np.stack(images)))
        labels.append(np.asarray(image_labels))
    return CheckSet(np.concatenate(inputs), np.concatenate(labels), count, skipped)


def compare(fmt: ModelFormat, reference: np.ndarray, exported: np.ndarray, labels: np.ndarray, threshold: float,
            atol: float) -> Parity:
    """Apply the gate of `fmt`'s precision to reference and exported p_fake."""
    diff = np.abs(reference.astype(np.float64) - exported.astype(np.float64))
    same_verdict = (reference >= threshold) == (exported >= threshold)
    near = np.abs(reference - threshold) <= atol
    auc_reference, auc_export = _auc(labels, reference), _auc(labels, exported)
    worst = int(np.argmax(diff))
    failure = None
    if fmt.precision == "fp32":
        bound = f"max |dp| <= {atol:g}, identical verdicts at threshold {threshold:g}"
        flipped = int((~same_verdict & ~near).sum())
        if diff[worst] > atol:
            failure = f"max |dp| = {diff[worst]:.3g} (input {worst}) exceeds {atol:g}"
        elif flipped:
            failure = f"{flipped} verdict(s) differ at threshold {threshold:g}"
    else:
        bound = f"verdict agreement >= {MIN_AGREEMENT:.1%}, |dROC-AUC| <= {MAX_AUC_DELTA} on labelled check images"
        if same_verdict.mean() < MIN_AGREEMENT:
            failure = f"verdict agreement {same_verdict.mean():.2%} is below {MIN_AGREEMENT:.1%}"
        elif auc_reference is not None and abs(auc_reference - auc_export) > MAX_AUC_DELTA:
            failure = f"|dROC-AUC| = {abs(auc_reference - auc_export):.4f} exceeds {MAX_AUC_DELTA}"
    return Parity(fmt.name, fmt.precision, len(diff), float(diff[worst]), float(same_verdict.mean()), int(near.sum()),
                  auc_reference, auc_export, bound, failure is None, failure)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    known = labels >= 0
    if len(np.unique(labels[known])) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels[known], scores[known]))
