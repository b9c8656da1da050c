"""A model's raw output -> p_fake, the probability of the positive class, as ModelMeta's `output` declares it."""

from __future__ import annotations

import numpy as np

from imgcheck.infer.meta import ModelMeta


def to_p_fake(raw: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """float32 (N,) p_fake from a batch's raw output: as is (`probability`), the sigmoid of a `logit`, or for
    per-class outputs the sum of the positive classes' probabilities (`meta.positive_indices`: `positive_classes`,
    or `positive_class` alone): columns of `softmax` probabilities, or of the softmax of `logits`, computed in
    float64 with the row's largest logit subtracted first (no overflow)."""
    raw = np.asarray(raw, np.float32)
    if meta.output == "probability":
        return raw.reshape(-1)
    if meta.output == "logit":
        logit = raw.reshape(-1).astype(np.float64)
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    scores = raw.reshape(len(raw), -1)
    columns = list(meta.positive_indices)
    if meta.output == "softmax":  # one column: its float32 values exactly (a float64 sum of one value is exact)
        return scores[:, columns].astype(np.float64).sum(axis=1).astype(np.float32)
    shifted = scores.astype(np.float64) - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp[:, columns].sum(axis=1) / exp.sum(axis=1)).astype(np.float32)


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
