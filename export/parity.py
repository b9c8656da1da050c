"""The parity gate: an exported file must give the same answers as the PyTorch model it came from.

Inputs: a fixed seeded batch of random pixels (through the shared preprocessing) followed by real images: those
under --check-images (labelled when they sit under REAL/FAKE folders) or, for an fp16/int8 export without them, the
images held out of --calibration (`hold_out`: every 5th file of its sorted list, which calibration then does not
use). Bounds:

* fp32 formats, on every input: max |delta p_fake| <= atol, and identical verdicts at the model's threshold (inputs
  whose reference p_fake lies within atol of the threshold are counted but not compared: either verdict is right);
* fp16 / int8, on the real images only: verdicts agree on at least 99.5% of them, and on labelled ones of both
  classes |delta ROC-AUC| <= 0.002. Random pixels never count towards that agreement: a network saturates on them
  and can answer them alike in either precision while it flips real verdicts (four ResNet int8 files passed a gate
  of random pixels alone, yet flipped 1.45-1.90% of real CIFAKE verdicts: benchmarks/results/int8_parity_real.md).
  They stay as a check for gross errors only: every output finite, and at least 90% of their verdicts agreeing.

Every precision fails on a non-finite exported p_fake (a NaN compares as a REAL verdict and as no difference).
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
MIN_AGREEMENT = 0.995  # fp16/int8: verdict agreement on the real images
MAX_AUC_DELTA = 0.002
SEEDED_MIN_AGREEMENT = 0.90  # fp16/int8: the random pixels' verdicts, a check for gross errors only
HOLD_OUT_EVERY = 5  # without --check-images, every 5th --calibration image (sorted by path) checks instead
HELD_OUT_LIMIT = 1000  # the most held-out images the gate reads (drawn evenly from them)
# The repository's sample images (REAL/ and FAKE/), next to the package in a clone; absent from an installed wheel.
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


class ExportParityError(ImgcheckError):
    """An export whose outputs differ from PyTorch beyond the bound; `parity` holds the comparison."""

    def __init__(self, message: str, parity: Parity | None = None) -> None:
        super().__init__(message)
        self.parity = parity


@dataclass(frozen=True)
class CheckSet:
    """Model inputs for the gate, with labels (1 FAKE, 0 REAL, -1 unknown) for the check images."""

    inputs: np.ndarray
    labels: np.ndarray
    seeded: int  # how many of the inputs are the seeded random batch (they come first); the rest are real images
    skipped: int = 0  # check images that could not be read
    source: str | None = None  # where the real images came from, in words (None: no real images)

    @property
    def real(self) -> int:
        """How many real images follow the seeded batch."""
        return len(self.inputs) - self.seeded


@dataclass(frozen=True)
class Parity:
    """How one exported file compares with the PyTorch reference. `n` counts every input compared (the seeded
    batch first); `verdict_agreement` is over every input for fp32 and over the `real_images` only for fp16/int8,
    whose random-pixel agreement is `seeded_agreement`."""

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
    real_images: int = 0
    seeded_agreement: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_check_images() -> Path | None:
    """The repository's samples/ folder when imgcheck runs from a clone, else None (--check-images is required)."""
    return SAMPLES if SAMPLES.is_dir() else None


def resolve_check_images(check_images: str | os.PathLike | None, gate: str) -> Path:
    """The --check-images folder, or the repository's samples/ without one; `gate` says, in a refusal, what the
    images are compared for ("the parity gate of an import compares the export with PyTorch")."""
    folder = Path(check_images) if check_images is not None else default_check_images()
    if folder is None:
        raise ImgcheckError(f"{gate} on real images: pass --check-images DIR (a few dozen images like those you will "
                            "scan).")
    if not folder.is_dir():
        raise ImgcheckError(f"--check-images {folder}: no such folder.")
    return folder


def image_paths(folder: str | os.PathLike) -> list[Path]:
    """The image files under `folder`, sorted by path: the order every draw from a folder is made in."""
    return sorted(p for p in Path(folder).rglob("*") if has_image_suffix(p.name) and p.is_file())


def evenly(paths: list[Path], limit: int | None) -> list[Path]:
    """At most `limit` of `paths`, drawn evenly from the list (all of them when `limit` is None)."""
    if limit is None or len(paths) <= limit:
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]


def hold_out(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(calibrate on, check on): every HOLD_OUT_EVERY-th of `paths` (sorted by path: the 5th, 10th, ...) is held out
    for the parity gate, the rest are calibration's. Deterministic, and about a fifth of each class folder."""
    held = paths[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    kept = [p for i, p in enumerate(paths) if (i + 1) % HOLD_OUT_EVERY]
    return kept, held


def build_check_set(meta: ModelMeta, count: int = SEEDED, seed: int = 0, folder: str | os.PathLike | None = None,
                    limit: int | None = None, paths: list[Path] | None = None, option: str = "--check-images",
                    source: str | None = None) -> CheckSet:
    """The seeded batch (`count` random images) plus the readable images under `folder`: `paths` (files under it)
    when given, else all of them; at most `limit`, drawn evenly from the sorted list. `option` names the folder in
    a refusal, `source` describes the images in the report (default: `option` and the folder)."""
    pre = Preprocessor.from_meta(meta)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (count, pre.height, pre.width, 3), dtype=np.uint8)
    inputs, labels, skipped = [pre.normalize(pixels)], [np.full(count, -1)], 0
    if folder is None:
        return CheckSet(inputs[0], labels[0], count)
    images, image_labels = [], []
    for path in evenly(image_paths(folder) if paths is None else paths, limit):
        try:
            images.append(pre.load_pixels(path))
        except ImageDecodeError:
            skipped += 1
            continue
        found = label_from_path(path.relative_to(folder).parts[:-1])
        image_labels.append(found[0] if found else -1)
    if not images:
        raise ImgcheckError(f"{option} {folder}: no readable images there.")
    inputs.append(pre.normalize(np.stack(images)))
    labels.append(np.asarray(image_labels))
    return CheckSet(np.concatenate(inputs), np.concatenate(labels), count, skipped, source or f"{option} {folder}")


def compare(fmt: ModelFormat, reference: np.ndarray, exported: np.ndarray, labels: np.ndarray, threshold: float,
            atol: float, seeded: int = 0) -> Parity:
    """Apply the gate of `fmt`'s precision to reference and exported p_fake; the first `seeded` inputs are the
    random-pixel batch, the rest real images (see the module's docstring for what each counts towards)."""
    diff = np.abs(reference.astype(np.float64) - exported.astype(np.float64))
    same_verdict = (reference >= threshold) == (exported >= threshold)
    near = np.abs(reference - threshold) <= atol
    real = slice(seeded, None)
    n_real = len(diff) - seeded
    auc_reference = roc_auc_or_none(labels[real], reference[real])
    auc_export = roc_auc_or_none(labels[real], exported[real])
    non_finite = int((~np.isfinite(exported)).sum())
    worst = int(np.nanargmax(diff)) if np.isfinite(diff).any() else 0
    agreement, seeded_agreement, failure = float(same_verdict.mean()), None, None
    if fmt.precision == "fp32":
        bound = f"max |dp| <= {atol:g}, identical verdicts at threshold {threshold:g}"
        flipped = int((~same_verdict & ~near).sum())
        if non_finite:
            failure = f"{non_finite} exported p_fake value(s) are not finite"
        elif diff[worst] > atol:
            failure = f"max |dp| = {diff[worst]:.3g} (input {worst}) exceeds {atol:g}"
        elif flipped:
            failure = f"{flipped} verdict(s) differ at threshold {threshold:g}"
    else:
        bound = (f"verdict agreement >= {MIN_AGREEMENT:.1%} and |dROC-AUC| <= {MAX_AUC_DELTA} on the real check "
                 f"images; random pixels only for gross errors (finite, >= {SEEDED_MIN_AGREEMENT:.0%} agreement)")
        agreement = float(same_verdict[real].mean()) if n_real else float("nan")
        seeded_agreement = float(same_verdict[:seeded].mean()) if seeded else None
        on_pixels = f" (the {seeded} random-pixel inputs: {seeded_agreement:.2%})" if seeded else ""
        if non_finite:
            failure = f"{non_finite} exported p_fake value(s) are not finite"
        elif not n_real:
            failure = ("no real images to compare verdicts on (random pixels alone prove little); pass "
                       "--check-images DIR")
        elif agreement < MIN_AGREEMENT:
            failure = (f"verdict agreement {agreement:.2%} on {n_real} real images is below {MIN_AGREEMENT:.1%}"
                       f"{on_pixels}")
        elif auc_reference is not None and abs(auc_reference - auc_export) > MAX_AUC_DELTA:
            failure = (f"|dROC-AUC| = {abs(auc_reference - auc_export):.4f} exceeds {MAX_AUC_DELTA} (verdict "
                       f"agreement {agreement:.2%} on {n_real} real images)")
        elif seeded_agreement is not None and seeded_agreement < SEEDED_MIN_AGREEMENT:
            failure = (f"verdicts agree on only {seeded_agreement:.2%} of the {seeded} random-pixel inputs (below "
                       f"{SEEDED_MIN_AGREEMENT:.0%}: a gross error)")
    return Parity(fmt.name, fmt.precision, len(diff), float(diff[worst]), agreement, int(near.sum()),
                  auc_reference, auc_export, bound, failure is None, failure, n_real, seeded_agreement)


def roc_auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC over the inputs whose label is known (>= 0); None without both classes or with a non-finite score."""
    known = labels >= 0
    if len(np.unique(labels[known])) < 2 or not np.isfinite(scores[known]).all():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels[known], scores[known]))
