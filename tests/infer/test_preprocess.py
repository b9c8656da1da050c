import io

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor, decode_image, to_rgb

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _encode(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _palette_image(transparent: bool) -> Image.Image:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([200, 30, 60] + [0, 0, 0] * 255)
    if transparent:
        img.info["transparency"] = 0
    return img


def _sixteen_bit(value: int) -> Image.Image:
    return Image.fromarray(np.full((8, 8), value, dtype=np.uint16))  # mode I;16


# (name, image, format, expected RGB of every pixel, tolerance for lossy codecs)
MODE_CASES = [
    ("1 white", Image.new("1", (8, 8), 1), "PNG", WHITE, 0),
    ("1 black bmp", Image.new("1", (8, 8), 0), "BMP", (0, 0, 0), 0),
    ("L", Image.new("L", (8, 8), 77), "PNG", (77, 77, 77), 0),
    ("L jpeg", Image.new("L", (8, 8), 77), "JPEG", (77, 77, 77), 2),
    ("LA opaque", Image.new("LA", (8, 8), (90, 255)), "PNG", (90, 90, 90), 0),
    ("LA transparent", Image.new("LA", (8, 8), (90, 0)), "PNG", WHITE, 0),
    ("P", _palette_image(False), "PNG", (200, 30, 60), 0),
    ("P gif", _palette_image(False), "GIF", (200, 30, 60), 0),
    ("P transparent png", _palette_image(True), "PNG", WHITE, 0),
    ("P transparent gif", _palette_image(True), "GIF", WHITE, 0),
    ("RGBA opaque", Image.new("RGBA", (8, 8), (10, 20, 30, 255)), "PNG", (10, 20, 30), 0),
    ("RGBA transparent", Image.new("RGBA", (8, 8), (10, 20, 30, 0)), "PNG", WHITE, 0),
    ("RGBA webp lossless", Image.new("RGBA", (8, 8), (10, 20, 30, 0)), "WEBP", WHITE, 0),
    ("CMYK jpeg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", RED, 3),
    ("CMYK tiff", Image.new("CMYK", (8, 8), (255, 255, 0, 0)), "TIFF", BLUE, 0),
    ("I;16 png", _sixteen_bit(257 * 100), "PNG", (100, 100, 100), 0),
    ("I;16 tiff", _sixteen_bit(65535), "TIFF", WHITE, 0),
    ("RGB jpeg", Image.new("RGB", (8, 8), (40, 120, 200)), "JPEG", (40, 120, 200), 3),
    ("RGB png", Image.new("RGB", (8, 8), (40, 120, 200)), "PNG", (40, 120, 200), 0),
    ("RGB webp", Image.new("RGB", (8, 8), (40, 120, 200)), "WEBP", (40, 120, 200), 4),
    ("RGB bmp", Image.new("RGB", (8, 8), (40, 120, 200)), "BMP", (40, 120, 200), 0),
    ("RGB tiff", Image.new("RGB", (8, 8), (40, 120, 200)), "TIFF", (40, 120, 200), 0),
]


def _identity_meta(height: int = 8, width: int = 8, **changes) -> ModelMeta:
    """mean 0 / std 1: the model input is the pixels / 255, easy to check."""
    return ModelMeta(arch="t", input_size=(3, height, width), mean=(0, 0, 0), std=(1, 1, 1), **changes)


@pytest.mark.parametrize("name, img, fmt, expected, tolerance", MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_every_mode_and_format_becomes_normalised_rgb(name, img, fmt, expected, tolerance):
    data = _encode(img, fmt, **({"lossless": True} if name.endswith("lossless") else {}))
    pre = Preprocessor.from_meta(_identity_meta())
    pixels = pre.load_pixels(data)
    assert pixels.dtype == np.uint8 and pixels.shape == (8, 8, 3)
    assert np.abs(pixels.astype(int) - np.array(expected)).max() <= tolerance
    tensor = pre(data)
    assert tensor.dtype == np.float32 and tensor.shape == (3, 8, 8)
    np.testing.assert_allclose(tensor, pixels.transpose(2, 0, 1) / 255.0, atol=1e-6)


def test_sixteen_bit_grey_scales_by_257_with_rounding():
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    rgb = np.asarray(to_rgb(Image.fromarray(values)))
    assert rgb[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_half_transparent_pixels_blend_over_white():
    rgb = np.asarray(to_rgb(Image.new("RGBA", (2, 2), (255, 0, 0, 128))))
    assert rgb[0, 0].tolist() == [255, 127, 127]


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pixels = Preprocessor.from_meta(_identity_meta()).load_pixels(buffer.getvalue())
    assert pixels[0, 0].tolist() == list(RED)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (20, 0, 40, 20))  # left red, right blue as stored
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180 degrees when displayed
    data = _encode(img, "PNG", exif=exif)
    pixels = Preprocessor.from_meta(_identity_meta(20, 40)).load_pixels(data)
    assert pixels[10, 2].tolist() == list(BLUE) and pixels[10, 37].tolist() == list(RED)
    exif[0x0112] = 6  # rotate 90 clockwise: 40x20 stored, 20x40 displayed
    rotated = decode_image(_encode(img, "PNG", exif=exif))
    assert rotated.size == (20, 40)


def test_normalisation_uses_the_models_mean_and_std():
    meta = ModelMeta(arch="t", input_size=(3, 2, 2), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    pre = Preprocessor.from_meta(meta)
    pixels = np.zeros((2, 2, 3), np.uint8)
    pixels[0, 0] = 255
    out = pre.normalize(pixels)
    np.testing.assert_allclose(out[:, 0, 0], [(1 - 0.5) / 0.5, (1 - 0.25) / 0.25, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1, 1], [-1.0, -1.0, 0.0], atol=1e-6)
    batch = pre.normalize(np.stack([pixels, pixels[::-1]]))
    assert batch.shape == (2, 3, 2, 2)
    assert np.array_equal(batch[0], out)  # batched and single normalisation are bit-identical


def test_normalisation_puts_every_value_in_its_channel_first_place():
    meta = ModelMeta(arch="t", input_size=(3, 5, 7), mean=(0.1, 0.5, 0.9), std=(0.2, 0.3, 0.4))
    pre = Preprocessor.from_meta(meta)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 10, 7, 3), dtype=np.uint8)[:, ::2]  # a strided view
    out = pre.normalize(pixels)
    assert out.shape == (4, 3, 5, 7) and out.dtype == np.float32 and out.flags.c_contiguous
    expected = (np.moveaxis(pixels, -1, 1) / 255.0 - np.array(meta.mean)[:, None, None]) \
        / np.array(meta.std)[:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"])
def test_resize_uses_the_models_interpolation(interpolation):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    pixels = Preprocessor.from_meta(_identity_meta(16, 24, interpolation=interpolation)).load_pixels(_encode(img, "PNG"))
    expected = np.asarray(img.resize((24, 16), resample=getattr(Image.Resampling, interpolation.upper())))
    assert np.array_equal(pixels, expected)


def test_bilinear_without_antialias_matches_torch_point_sampling():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    source = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    pre = Preprocessor.from_meta(_identity_meta(32, 40, antialias=False))
    ours = pre.load_pixels(_encode(Image.fromarray(source), "PNG")).astype(int)
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(source).permute(2, 0, 1)[None].float(), size=(32, 40), mode="bilinear",
        align_corners=False, antialias=False,
    )[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(int)
    assert np.abs(ours - reference).max() <= 1
    # and it differs from Pillow's antialiased shrink, so the flag really changes the pixels
    antialiased = Preprocessor.from_meta(_identity_meta(32, 40)).load_pixels(_encode(Image.fromarray(source), "PNG"))
    assert np.abs(antialiased.astype(int) - ours).mean() > 5


def test_path_bytes_and_file_object_sources_agree(tmp_path):
    data = _encode(Image.new("RGB", (40, 30), (1, 2, 3)), "JPEG")
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    pre = Preprocessor.from_meta(_identity_meta())
    assert np.array_equal(pre(path), pre(data))
    assert np.array_equal(pre(str(path)), pre(io.BytesIO(data)))


def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(2)
    data = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"this is not an image at all", "not an image format"),
        (_truncated_jpeg(), "truncated or corrupt"),
    ],
    ids=["empty", "not-an-image", "truncated"],
)
def test_bad_bytes_raise_one_clear_reason(data, reason):
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data)
    assert reason in caught.value.reason and "\n" not in caught.value.reason


def test_too_many_pixels_is_refused_before_decoding():
    data = _encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(ImageDecodeError, match="image too large: 300x200"):
        decode_image(data, max_pixels=50_000)
    assert decode_image(data, max_pixels=60_000).size == (300, 200)


def test_files_that_are_not_there_or_not_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    cases = {tmp_path / "missing.jpg": "file not found", tmp_path: "is a directory", tmp_path / "empty.jpg": "empty file"}
    for path, reason in cases.items():
        with pytest.raises(ImageDecodeError, match=reason):
            decode_image(path)


def test_inspect_sees_the_loaded_image_and_its_stored_size_before_draft_decoding(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1024, 768), (30, 60, 90)).save(path, quality=90)
    seen = []
    pre = Preprocessor.from_meta(ModelMeta(arch="x"), draft=True)
    pre.load_tiles(str(path), lambda img, size, stream: seen.append((img.format, img.size, size)))
    (fmt, decoded, stored), = seen
    assert fmt == "JPEG" and stored == (1024, 768) and decoded[0] < 1024  # drafted, and the stored size kept
    pre.load_tiles(np.zeros((8, 8, 3), np.uint8), lambda img, size, stream: seen.append(size))
    assert len(seen) == 1  # in-memory images are not inspected
