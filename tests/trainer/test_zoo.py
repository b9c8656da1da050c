"""The generator zoo's code paths on tiny data: every decoder family builds, learns, reconstructs and writes JPEGs."""

import numpy as np
import pytest
from PIL import Image

from imgcheck.trainer.zoo import DECODERS, AutoEncoder, reconstruct, sample_grid, train_autoencoder, write_jpegs
from synthetic_data import textured_batch


@pytest.fixture
def pixels():
    return textured_batch(noise=10)


@pytest.mark.parametrize("decoder", DECODERS)
def test_each_decoder_learns_and_reconstructs_aligned_images(pixels, decoder, tmp_path):
    model, losses = train_autoencoder(pixels, decoder, epochs=4, batch_size=16, seed=0, width=16, latent=8)
    assert len(losses) == 4 and losses[-1] < losses[0]
    fakes = reconstruct(model, pixels)
    assert fakes.shape == pixels.shape and fakes.dtype == np.uint8
    again, _ = train_autoencoder(pixels, decoder, epochs=4, batch_size=16, seed=0, width=16, latent=8)
    assert np.array_equal(reconstruct(again, pixels), fakes)  # seeded: the zoo can be remade exactly
    paths = write_jpegs(fakes[:3], tmp_path / "FAKE", ["a.jpg", "b (2).jpg", "c.png"])
    assert [p.name for p in paths] == ["a.jpg", "b (2).jpg", "c.jpg"]
    with Image.open(paths[0]) as img:
        assert img.format == "JPEG" and img.size == (32, 32)
    assert sample_grid(fakes, tmp_path / "grid.png").exists()


def test_decoders_differ_in_their_upsampling_and_unknown_ones_are_refused():
    kinds = {d: {type(m).__name__ for m in AutoEncoder(d, 8, 4).decoder} for d in DECODERS}
    assert "ConvTranspose2d" in kinds["transpose"] and "PixelShuffle" in kinds["pixelshuffle"]
    assert "Upsample" in kinds["nearest"] and "Upsample" in kinds["bilinear"]
    with pytest.raises(ValueError, match="unknown decoder"):
        AutoEncoder("deconv")


@pytest.mark.parametrize("decoder", ["transpose", "nearest"])
def test_gan_trains_and_samples_seeded_images(pixels, decoder, tmp_path):
    from imgcheck.trainer.zoo import GanGenerator, sample_gan, train_gan
    model, losses = train_gan(pixels, decoder, epochs=2, batch_size=8, seed=0, width=8, noise=16)
    assert isinstance(model, GanGenerator) and not model.training
    assert len(losses["d"]) == len(losses["g"]) == 2 and all(np.isfinite(losses["d"] + losses["g"]))
    samples = sample_gan(model, 10, seed=1, batch_size=4)
    assert samples.shape == (10, 32, 32, 3) and samples.dtype == np.uint8
    assert samples.std() > 0  # not a constant image
    again, _ = train_gan(pixels, decoder, epochs=2, batch_size=8, seed=0, width=8, noise=16)
    assert np.array_equal(sample_gan(again, 10, seed=1, batch_size=4), samples)  # seeded: remade exactly
    assert not np.array_equal(sample_gan(model, 10, seed=2), samples)
    kinds = {type(m).__name__ for m in model.body}
    assert ("ConvTranspose2d" if decoder == "transpose" else "Upsample") in kinds
