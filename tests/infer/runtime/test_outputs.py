import numpy as np
import pytest

from imgcheck.infer.runtime.outputs import (class_probabilities, combine_class_tiles, combine_tiles,
                                            no_class_scores_reason, to_p_fake)
from tiny_models import tiny_meta


def test_tiles_combine_as_declared():
    p = np.array([0.2, 0.9, 0.5, 0.5, 0.99, 0.01, 0.3, 0.6], np.float32)  # two images of four tiles
    mean_logit = combine_tiles(p, tiny_meta(fit="crop", tiles=4))
    logits = np.log(p / (1 - p)).reshape(2, 4).mean(axis=1)
    np.testing.assert_allclose(mean_logit, 1 / (1 + np.exp(-logits)), rtol=1e-6)
    np.testing.assert_allclose(combine_tiles(p, tiny_meta(fit="crop", tiles=4, tile_combine="max")), [0.9, 0.99])
    assert combine_tiles(p, tiny_meta()) is p  # one tile per image: as it is


@pytest.mark.parametrize("output, raw, expected", [
    ("probability", [[0.25], [0.75]], [0.25, 0.75]),
    ("logit", [0.0, 2.0], [0.5, 1 / (1 + np.exp(-2.0))]),
])
def test_single_outputs(output, raw, expected):
    np.testing.assert_allclose(to_p_fake(np.array(raw, np.float32), tiny_meta(output=output)), expected, rtol=1e-6)


def test_per_class_outputs_use_the_positive_column():
    meta = tiny_meta(output="logits", class_names=("real", "ai", "edited"), positive_class="ai")
    raw = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
    softmax = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(to_p_fake(raw, meta), softmax[:, 1], rtol=1e-6)
    np.testing.assert_allclose(to_p_fake(softmax, meta.replace(output="softmax")), softmax[:, 1], rtol=1e-6)


def _old_to_p_fake_of_logits(raw, columns):
    """p_fake of `logits` as imgcheck computed it before class_probabilities existed (the regression reference)."""
    shifted = raw.astype(np.float64) - raw.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp[:, columns].sum(axis=1) / exp.sum(axis=1)).astype(np.float32)


def _generator_meta(output):
    return tiny_meta(output=output, class_names=("REAL", "sd", "mj", "dalle"), positive_class="sd",
                     positive_classes=("sd", "mj", "dalle"))


def test_p_fake_of_logits_is_what_it_was_before_the_refactor():
    raw = np.random.default_rng(0).normal(0, 30, (500, 4)).astype(np.float32)
    three = tiny_meta(output="logits", class_names=("a", "b", "c"), positive_class="b")
    for meta in (_generator_meta("logits"), three):
        assert np.array_equal(to_p_fake(raw[:, :len(meta.class_names)], meta),
                              _old_to_p_fake_of_logits(raw[:, :len(meta.class_names)], list(meta.positive_indices)))


def test_class_probabilities_are_the_softmax_and_agree_with_p_fake():
    raw = np.random.default_rng(1).normal(0, 5, (64, 4)).astype(np.float32)
    raw[0] = [1000.0, 999.0, -1000.0, 0.0]  # no overflow: the largest logit is subtracted first
    meta = _generator_meta("logits")
    probabilities = class_probabilities(raw, meta)
    logits = raw.astype(np.float64)
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    assert probabilities.dtype == np.float32 and probabilities.shape == (64, 4)
    np.testing.assert_allclose(probabilities, softmax, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(probabilities[:, 1:].sum(axis=1), to_p_fake(raw, meta), rtol=1e-6)
    single = tiny_meta(output="logits", class_names=("REAL", "FAKE", "EDIT"))  # one positive class: its column
    assert np.array_equal(class_probabilities(raw[:, :3], single)[:, 1], to_p_fake(raw[:, :3], single))
    as_is = softmax.astype(np.float32)
    assert np.array_equal(class_probabilities(as_is, meta.replace(output="softmax")), as_is)


def test_single_outputs_have_no_class_probabilities():
    meta = tiny_meta(output="logit")
    assert "single logit of FAKE" in no_class_scores_reason(meta) and "p(REAL) is 1 - p_fake" in \
        no_class_scores_reason(meta)
    assert no_class_scores_reason(_generator_meta("softmax")) is None
    with pytest.raises(ValueError, match="per-class output"):
        class_probabilities(np.zeros((2, 1), np.float32), meta)


def test_class_tiles_are_averaged_per_image():
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0], [0.0, 1.0]], np.float32)  # two images, two tiles
    meta = tiny_meta(output="softmax", fit="crop", tiles=2)
    np.testing.assert_allclose(combine_class_tiles(probabilities, meta), [[0.4, 0.6], [0.5, 0.5]], rtol=1e-6)
    assert combine_class_tiles(probabilities, tiny_meta(output="softmax")) is probabilities
