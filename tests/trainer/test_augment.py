import io

import numpy as np
import pytest
import torch
from PIL import Image

from imgcheck.trainer.augment import ORDER, augment_batch, parse_augment
from synthetic_data import textured_batch


@pytest.fixture
def pixels():
    return textured_batch(noise=20)


def test_flips_and_shifts_are_named_seeded_and_real(pixels):
    original = pixels.copy()
    flipped = augment_batch(pixels, "hflip", torch.Generator().manual_seed(1))
    assert np.array_equal(flipped, augment_batch(pixels, "hflip", torch.Generator().manual_seed(1)))
    was_flipped = [np.array_equal(f, p[:, ::-1]) for f, p in zip(flipped, pixels)]
    unchanged = [np.array_equal(f, p) for f, p in zip(flipped, pixels)]
    assert all(a or b for a, b in zip(was_flipped, unchanged)) and 8 < sum(was_flipped) < 40
    cropped = augment_batch(pixels, "hflip-crop", torch.Generator().manual_seed(1))
    assert cropped.shape == pixels.shape and not np.array_equal(cropped, flipped)
    assert np.array_equal(cropped, augment_batch(pixels, "hflip,shift", torch.Generator().manual_seed(1)))
    assert np.array_equal(pixels, original)  # the cache itself is never modified


@pytest.mark.parametrize("name", ["resize", "blur", "noise", "jpeg"])
def test_each_robustness_augmentation_changes_pixels_and_is_reproducible_by_seed(pixels, name):
    every = augment_batch(pixels, name, torch.Generator().manual_seed(3), p=1.0)
    assert every.dtype == np.uint8 and every.shape == pixels.shape
    changed = [not np.array_equal(a, b) for a, b in zip(every, pixels)]
    assert sum(changed) >= 40  # a sigma, factor or quality near the identity may leave an image as it was
    assert np.array_equal(every, augment_batch(pixels, name, torch.Generator().manual_seed(3), p=1.0))
    assert not np.array_equal(every, augment_batch(pixels, name, torch.Generator().manual_seed(4), p=1.0))
    none = augment_batch(pixels, name, torch.Generator().manual_seed(3), p=0.0)
    assert np.array_equal(none, pixels)
    some = augment_batch(pixels, name, torch.Generator().manual_seed(3), p=0.25)
    touched = sum(not np.array_equal(a, b) for a, b in zip(some, pixels))
    assert 2 <= touched <= 24  # about a quarter of 48


def test_what_each_one_does(pixels):
    one = pixels[:1]
    blurred = augment_batch(one, "blur", torch.Generator().manual_seed(0), p=1.0)
    assert np.abs(np.diff(blurred.astype(int), axis=2)).mean() < np.abs(np.diff(one.astype(int), axis=2)).mean()
    noisy = augment_batch(one, "noise", torch.Generator().manual_seed(0), p=1.0)
    assert 0 < np.abs(noisy.astype(int) - one.astype(int)).mean() < 10
    recoded = augment_batch(one, "jpeg", torch.Generator().manual_seed(0), p=1.0)
    for quality in range(30, 101):  # it is exactly a JPEG round trip at some quality in 30-100
        buffer = io.BytesIO()
        Image.fromarray(one[0]).save(buffer, format="JPEG", quality=quality)
        if np.array_equal(np.asarray(Image.open(buffer).convert("RGB")), recoded[0]):
            break
    else:
        pytest.fail("not a JPEG re-encoding at a quality in 30-100")


def test_names_combine_in_a_fixed_order_and_unknown_ones_are_refused(pixels):
    assert parse_augment("jpeg,hflip,blur") == ("hflip", "blur", "jpeg")
    assert parse_augment("none") == () and parse_augment("hflip-crop") == ("hflip", "shift")
    assert parse_augment(",".join(ORDER)) == ORDER
    everything = augment_batch(pixels, ",".join(ORDER), torch.Generator().manual_seed(5), p=0.5)
    assert np.array_equal(everything, augment_batch(pixels, ",".join(reversed(ORDER)),
                                                    torch.Generator().manual_seed(5), p=0.5))
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        parse_augment("hflip,rotate")
