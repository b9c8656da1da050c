import numpy as np
import pytest

from imgcheck.infer.runtime.outputs import combine_tiles, to_p_fake
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
