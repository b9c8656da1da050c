"""Fuzzing the decode + preprocess path with mutated JPEG/PNG/GIF/WebP bytes (hypothesis, bounded; slow marker).

Every input either becomes a correct model input (uint8 pixels of the model's size, a finite float32 tensor in the
range the normalisation allows, the same on a second decode) or raises ImageDecodeError with a one-line reason.
Anything else (another exception, a hang past the deadline, a crash) fails the test.
"""

import io
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.preprocess import Preprocessor
from tiny_models import tiny_meta

META = tiny_meta()
PRE = Preprocessor.from_meta(META)  # the scan's own limits: mutated headers claiming huge sizes are part of the test


def _encoded(fmt: str, mode: str = "RGB", **options) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt, **options)
    return buffer.getvalue()


SEEDS = [
    _encoded("JPEG"), _encoded("JPEG", progressive=True), _encoded("JPEG", "CMYK"), _encoded("PNG"),
    _encoded("PNG", "P", transparency=3), _encoded("PNG", "LA"), _encoded("GIF"), _encoded("WEBP"),
    _encoded("BMP"), _encoded("TIFF"),
]


@st.composite
def mutated(draw) -> bytes:
    """A seed image with bytes flipped, overwritten, inserted, deleted or cut off."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            del data[max(at, 1):]
        if not data:
            break
    return bytes(data)


def _check(source: bytes) -> None:
    try:
        pixels = PRE.load_pixels(source)
    except ImageDecodeError as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert pixels.dtype == np.uint8 and pixels.shape == (PRE.height, PRE.width, 3)
    tensor = PRE.normalize(pixels)
    low, high = PRE.shift, PRE.shift + 255 * PRE.scale
    assert tensor.dtype == np.float32 and tensor.shape == (3, PRE.height, PRE.width) and np.isfinite(tensor).all()
    assert (tensor >= low - 1e-5).all() and (tensor <= high + 1e-5).all()
    np.testing.assert_array_equal(PRE.load_pixels(source), pixels)  # deterministic


def test_every_seed_decodes():
    for seed in SEEDS:
        assert PRE.load_pixels(seed).shape == (PRE.height, PRE.width, 3)


@pytest.mark.slow
@settings(max_examples=4000, deadline=timedelta(seconds=5), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_images_decode_correctly_or_raise_the_documented_error(source):
    _check(source)


@pytest.mark.slow
@settings(max_examples=300, deadline=timedelta(seconds=5), database=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_correctly_or_raise_the_documented_error(source):
    _check(source)
