"""A model's raw output -> p_fake, the probability of the positive class, as ModelMeta's `output` declares it; and,
for per-class outputs, the probability of every class (`class_probabilities`), read from the same output."""

from __future__ import annotations

import numpy as np

from imgcheck.infer.meta import PER_CLASS_OUTPUTS, ModelMeta


def to_p_fake(raw: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """float32 (N,) p_fake from a batch's raw output: as is (`probability`), the sigmoid of a `logit`, or for
    per-class outputs the sum of the positive classes' probabilities (`meta.positive_indices`: `positive_classes`,
    or `positive_class` alone): columns of `softmax` probabilities, or of the softmax of `logits` (`softmax_terms`)."""
    raw = np.asarray(raw, np.float32)
    if meta.output == "probability":
        return raw.reshape(-1)
    if meta.output == "logit":
        logit = raw.reshape(-1).astype(np.float64)
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    scores = _per_class(raw)
    columns = list(meta.positive_indices)
    if meta.output == "softmax":  # one column: its float32 values exactly (a float64 sum of one value is exact)
        return scores[:, columns].astype(np.float64).sum(axis=1).astype(np.float32)
    exp, total = softmax_terms(scores)
    return (exp[:, columns].sum(axis=1) / total[:, 0]).astype(np.float32)


def class_probabilities(raw: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """float32 (N, K) probability of each of `meta.class_names` from a per-class output: `softmax` probabilities
    as they are, or the softmax of `logits` (`softmax_terms`, as `to_p_fake` computes it). With one positive class
    its column equals `to_p_fake`'s p_fake exactly."""
    if meta.output not in PER_CLASS_OUTPUTS:
        raise ValueError(f"class_probabilities needs a per-class output, not {meta.output!r}")
    scores = _per_class(np.asarray(raw, np.float32))
    if meta.output == "softmax":
        return scores
    exp, total = softmax_terms(scores)
    return (exp / total).astype(np.float32)


def softmax_terms(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The softmax of (N, K) `logits` as its numerator and denominator: the float64 exp of each row less its
    largest value (no overflow), and their (N, 1) row sums. softmax = exp / total; p_fake sums the numerators of
    its classes before it divides."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp, exp.sum(axis=1, keepdims=True)


def no_class_scores_reason(meta: ModelMeta) -> str | None:
    """Why a model declared by `meta` has no per-class probabilities to report, or None when it has them."""
    if meta.output in PER_CLASS_OUTPUTS:
        return None
    return (f"the model outputs a single {meta.output} of {meta.positive_class} (ModelMeta output {meta.output!r}), "
            f"not one score per class (softmax or logits): its p_fake already is p({meta.positive_class}), and "
            f"p({meta.negative_class}) is 1 - p_fake")


def combine_tiles(p_tiles: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """One p_fake per image from the p_fake of its `meta.tiles` tiles (consecutive): the sigmoid of the tiles' mean
    logit (`mean_logit`) or their maximum (`max`). One tile per image: returned as it is."""
    if meta.tiles == 1:
        return p_tiles
    per_image = np.asarray(p_tiles, np.float64).reshape(-1, meta.tiles)
    if meta.tile_combine == "max":
        return per_image.max(axis=1).astype(np.float32)
    clipped = np.clip(per_image, 1e-7, 1 - 1e-7)
    mean_logit = np.log(clipped / (1 - clipped)).mean(axis=1)
    return (1.0 / (1.0 + np.exp(-mean_logit))).astype(np.float32)


def combine_class_tiles(probabilities: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """One row of class probabilities per image from its `meta.tiles` tiles' rows (consecutive): their mean, whatever
    `tile_combine` says (p_fake keeps its own rule, so its classes' columns need not add up to it). One tile per
    image: returned as it is."""
    if meta.tiles == 1:
        return probabilities
    per_image = np.asarray(probabilities, np.float64).reshape(-1, meta.tiles, probabilities.shape[1])
    return per_image.mean(axis=1).astype(np.float32)


def _per_class(raw: np.ndarray) -> np.ndarray:
    """A per-class output as (N, K) rows, one per input."""
    return raw.reshape(len(raw), -1)
