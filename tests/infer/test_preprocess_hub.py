"""Hub models' preprocessing, tensor for tensor: imgcheck's input equals the model's own image processor's.

Processors are built in the test and saved with `save_pretrained`; their `preprocessor_config.json` goes through
`meta_fields_from_hf_processor` into a ModelMeta, and Preprocessor.from_meta(meta, draft=False) must give, on
real-looking PNG images (exact decoding) of several sizes and aspect ratios, transformers' PIL backend's
`pixel_values` within float32 rounding, and timm's eval transform's likewise. transformers' default torchvision
backend resizes with torch's own antialiased kernels, which differ from Pillow's by a few grey levels: measured and
bounded below. Also here: the version-4 ModelMeta fields and p_fake summed over several classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.errors import ImageDecodeError, ModelMetaError
from imgcheck.infer.meta import ModelMeta, parse_meta
from imgcheck.infer.models.processor_rules import meta_fields_from_hf_processor, meta_fields_from_timm_cfg
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.runtime.outputs import to_p_fake
from hub_models import real_looking_images

# (width, height): landscape, portrait, a slight downscale, an upscale, a strip, one whose 256-px shortest-edge
# resize leaves an odd crop room of 35 (floor and round start the crop one pixel apart), and the exact size.
IMAGE_SIZES = [(640, 480), (480, 640), (225, 300), (100, 100), (1000, 180), (259, 256), (224, 224)]
EXACT = 1e-5  # float32 rounding: imgcheck computes x * 1/(255 std) - mean/std, the processors (x/255 - mean) / std

# name: (processor class, its arguments, max |difference| from the torchvision backend in grey levels, measured
# on these images). Grey levels are |delta| * std * 255. Bilinear: 1 level. Bicubic: 4 at most, on the 225x300
# image (a slight downscale: about a quarter of its values 1 level apart, one value 4), elsewhere 1-2: torchvision
# resizes bicubic in float and rounds once, Pillow rounds and clips to uint8 between its two passes.
PROCESSORS = {
    "vit-bilinear": ("ViTImageProcessor", {"size": {"height": 224, "width": 224}, "resample": 2}, 1),
    "vit-bicubic-imagenet": ("ViTImageProcessor", {"resample": 3, "image_mean": [0.485, 0.456, 0.406],
                                                   "image_std": [0.229, 0.224, 0.225]}, 4),
    "vit-rescale-127.5": ("ViTImageProcessor", {"rescale_factor": 1 / 127.5, "image_mean": 1.0, "image_std": 1.0}, 1),
    "convnext-224-crop_pct": ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "crop_pct": 0.875}, 2),
    "convnext-384": ("ConvNextImageProcessor", {"size": {"shortest_edge": 384}}, 2),
    "clip-224": ("CLIPImageProcessor", {}, 1),
    "deit-256-crop-224": ("DeiTImageProcessor", {}, 4),
    "bit-231-crop-224": ("BitImageProcessor", {"size": {"shortest_edge": 231}}, 2),  # odd crop rooms
}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Smooth gradients and a ripple plus noise, saved as PNG so that every decoder reads the same pixels."""
    return real_looking_images(tmp_path_factory.mktemp("hub_images"), IMAGE_SIZES, seed=29)


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


def _saved(transformers, name: str, tmp_path: Path):
    """The processor saved as a Hub folder, and its preprocessor_config.json as imgcheck reads it."""
    cls, kwargs, _ = PROCESSORS[name]
    getattr(transformers, cls)(**kwargs).save_pretrained(tmp_path)
    return tmp_path, json.loads((tmp_path / "preprocessor_config.json").read_text())


def _ours(meta: ModelMeta, path: Path) -> np.ndarray:
    pre = Preprocessor.from_meta(meta, draft=False)
    return pre.normalize(pre.load_pixels(path))


def _theirs(processor, path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(processor(img.convert("RGB"), return_tensors="pt")["pixel_values"][0].numpy())


@pytest.mark.parametrize("name", PROCESSORS)
def test_tensor_equals_the_processors_pil_backend(name, images, transformers, tmp_path):
    folder, config = _saved(transformers, name, tmp_path)
    processor = transformers.AutoImageProcessor.from_pretrained(folder, backend="pil", local_files_only=True)
    assert type(processor).__name__.endswith("Pil")
    meta = ModelMeta(arch=name, **meta_fields_from_hf_processor(config))
    for path in images:
        ours, theirs = _ours(meta, path), _theirs(processor, path)
        assert ours.shape == theirs.shape == meta.input_size, path.name
        assert np.abs(ours - theirs).max() <= EXACT, path.name  # measured: at most 4.8e-7


@pytest.mark.parametrize("name", PROCESSORS)
def test_tensor_is_within_a_few_grey_levels_of_the_default_torchvision_backend(name, images, transformers, tmp_path):
    pytest.importorskip("torchvision")
    folder, config = _saved(transformers, name, tmp_path)
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    assert not type(processor).__name__.endswith("Pil")  # the default: what `pipeline(...)` runs
    meta = ModelMeta(arch=name, **meta_fields_from_hf_processor(config))
    std = np.asarray(meta.std, np.float32).reshape(3, 1, 1)
    levels, mean_levels = 0.0, []
    for path in images:
        delta = np.abs(_ours(meta, path) - _theirs(processor, path)) * std * 255
        levels = max(levels, float(delta.max()))
        mean_levels.append(float(delta.mean()))
    # Measured: the levels in PROCESSORS (max |delta| after normalisation 0.0078 for vit-bilinear, 0.070 for
    # vit-bicubic-imagenet: 4 levels / (255 * 0.224)); mean |delta| at most 0.26 levels.
    assert levels <= PROCESSORS[name][2] + 1e-3
    assert max(mean_levels) <= 0.3


TIMM_CFGS = [
    {"input_size": (3, 224, 224), "crop_pct": 0.875, "interpolation": "bicubic"},  # resize 256, crop 224
    {"input_size": (3, 224, 224), "crop_pct": 0.9, "interpolation": "bilinear", "mean": (0.5,) * 3, "std": (0.5,) * 3},
    {"input_size": (3, 384, 384), "crop_pct": 1.0, "interpolation": "bicubic"},
]


@pytest.mark.parametrize("cfg", TIMM_CFGS, ids=["224-0.875", "224-0.9-bilinear", "384-1.0"])
def test_tensor_equals_timms_eval_transform(cfg, images):
    data = pytest.importorskip("timm.data")
    transform = data.create_transform(**data.resolve_data_config(pretrained_cfg=cfg))
    meta = ModelMeta(arch="timm", **meta_fields_from_timm_cfg(cfg))
    for path in images:
        with Image.open(path) as img:
            theirs = transform(img.convert("RGB")).numpy()
        assert np.abs(_ours(meta, path) - theirs).max() <= EXACT, path.name


def test_timm_crop_starts_are_rounded_not_floored(images):
    """The 259x256 image leaves a crop room of 35 px after timm's 256 resize: torchvision's CenterCrop starts at
    round(17.5) = 18, transformers would start at 17. crop_offset records which."""
    meta = ModelMeta(arch="timm", **meta_fields_from_timm_cfg(TIMM_CFGS[0]))
    path = next(p for p in images if p.name == "259x256.png")
    pixels = Preprocessor.from_meta(meta, draft=False).load_pixels(path)
    floored = Preprocessor.from_meta(meta.replace(crop_offset="floor"), draft=False).load_pixels(path)
    with Image.open(path) as img:
        source = np.asarray(img.convert("RGB"))
    assert np.array_equal(pixels, source[16:240, 18:242]) and np.array_equal(floored, source[16:240, 17:241])


def test_shortest_edge_resize_keeps_the_aspect_ratio_and_crops_the_centre():
    """A 300x150 image, shortest edge 100 -> 200x100 (int(100 * 300 / 150)), then the centre 100x80."""
    meta = ModelMeta(arch="t", input_size=(3, 80, 100), mean=(0, 0, 0), std=(1, 1, 1), resize="shortest_edge",
                     resize_size=100, interpolation="nearest")
    x = np.tile(np.arange(300, dtype=np.uint8)[None, :, None] // 2, (150, 1, 3))  # column value: x // 2
    pixels = Preprocessor.from_meta(meta).load_pixels(x)
    assert pixels.shape == (80, 100, 3)
    expected = np.asarray(Image.fromarray(x).resize((200, 100), Image.Resampling.NEAREST))[10:90, 50:150]
    assert np.array_equal(pixels, expected)


def test_a_strip_too_long_to_resize_by_its_shortest_edge_is_unreadable_not_a_memory_bomb():
    meta = ModelMeta(arch="t", input_size=(3, 224, 224), resize="shortest_edge", resize_size=256)
    with pytest.raises(ImageDecodeError, match="aspect ratio too extreme: 100000x2 .* 12800000x256"):
        Preprocessor.from_meta(meta).load_pixels(np.zeros((2, 100_000, 3), np.uint8))


def test_shortest_edge_draft_asks_for_twice_the_resized_size(tmp_path):
    """A large JPEG is decoded at reduced scale, but never below twice the shorter side's target (2 x 224)."""
    path = tmp_path / "big.jpg"
    Image.new("RGB", (2400, 1800), (90, 140, 200)).save(path, quality=90)
    meta = ModelMeta(arch="t", input_size=(3, 224, 224), resize="shortest_edge", resize_size=224)
    decoded = []
    Preprocessor.from_meta(meta).load_pixels(path, inspect=lambda img, size, stream: decoded.append(img.size))
    assert decoded == [(600, 450)]  # scale 1/4: 1800 // 448 = 4; the shorter side 450 >= 448
    square = ModelMeta(arch="t", input_size=(3, 224, 224), resize="fixed", resize_size=256)
    Preprocessor.from_meta(square).load_pixels(path, inspect=lambda img, size, stream: decoded.append(img.size))
    assert decoded[1] == (1200, 900)  # resized to 256 x 256 first: 1800 // 512 = 3, so scale 1/2


# ModelMeta version 4: resize rules and positive_classes

def _hub_meta(**changes) -> ModelMeta:
    fields = dict(arch="hub", input_size=(3, 224, 224), class_names=("REAL", "sd", "mj", "dalle"),
                  positive_class="sd", output="logits")
    return ModelMeta(**{**fields, **changes})


def test_version_4_fields_round_trip_and_are_written_only_when_used():
    meta = _hub_meta(resize="shortest_edge", resize_size=256, crop_offset="round",
                     positive_classes=["dalle", "sd", "mj"])
    assert meta.positive_classes == ("sd", "mj", "dalle")  # in class order
    assert meta.schema_version == 4 and parse_meta(meta.to_json()) == meta and parse_meta(meta.to_dict()) == meta
    assert meta.positive_indices == (1, 2, 3) and meta.negative_class == "REAL"
    plain = _hub_meta()
    record = json.loads(plain.to_json())
    assert record["schema_version"] == 2
    assert not {"resize", "resize_size", "crop_offset", "positive_classes"} & set(record)
    assert parse_meta(record) == plain and plain.resize == "fixed" and plain.positive_classes is None
    assert _hub_meta(positive_classes=("sd",)).positive_classes is None  # the positive class alone: the default
    assert _hub_meta(resize_size=256).schema_version == 4  # fixed 256 x 256, then the centre 224 (DeiT)


@pytest.mark.parametrize("changes, fragment", [
    ({"resize": "longest_edge"}, "'resize' must be one of fixed, shortest_edge"),
    ({"resize": "shortest_edge"}, "'resize_size' is required when resize is shortest_edge"),
    ({"resize": "shortest_edge", "resize_size": 200}, "'resize_size' must be at least the input's larger side 224"),
    ({"resize_size": "256"}, "'resize_size' must be int or null"),
    ({"crop_offset": "ceil", "resize_size": 256}, "'crop_offset' must be one of floor, round"),
    ({"crop_offset": "round"}, "'crop_offset' applies only to a centre crop"),
    ({"fit": "crop", "resize_size": 256}, "'resize' must be fixed with no resize_size when fit is crop"),
    ({"positive_classes": []}, "'positive_classes' must be a non-empty list"),
    ({"positive_classes": ["sd", "flux"]}, "unknown: flux"),
    ({"positive_classes": ["sd", "sd"]}, "must not repeat a class"),
    ({"positive_classes": ["mj", "dalle"]}, "must include positive_class 'sd'"),
    ({"positive_classes": ["REAL", "sd", "mj", "dalle"]}, "must leave at least one class out"),
    ({"output": "softmax", "positive_classes": "sd"}, "'positive_classes' must be a non-empty list"),
    ({"output": "logit", "class_names": ("REAL", "sd"), "positive_classes": ["sd"]},
     "applies only to per-class outputs"),
])
def test_bad_version_4_fields_are_named(changes, fragment):
    with pytest.raises(ModelMetaError, match="ModelMeta field") as caught:
        _hub_meta(**changes)
    assert fragment in caught.value.message


def test_p_fake_sums_the_positive_classes_for_softmax_and_logits():
    logits = np.array([[2.0, 0.5, -1.0, 0.0], [-3.0, 1.0, 1.0, 1.0], [800.0, -800.0, 0.0, 10.0]], np.float32)
    exp = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)
    every_generator = _hub_meta(positive_classes=("sd", "mj", "dalle"))
    p = to_p_fake(logits, every_generator)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p, 1 - probs[:, 0], rtol=1e-6, atol=1e-7)  # 1 - p(REAL)
    softmax = every_generator.replace(output="softmax")
    np.testing.assert_allclose(to_p_fake(probs.astype(np.float32), softmax), 1 - probs[:, 0], rtol=1e-6, atol=1e-7)
    two = _hub_meta(positive_classes=("sd", "dalle"))
    np.testing.assert_allclose(to_p_fake(logits, two), probs[:, 1] + probs[:, 3], rtol=1e-6, atol=1e-7)
    single = _hub_meta(output="softmax")  # positive_class alone: its column, exactly as before
    assert np.array_equal(to_p_fake(probs.astype(np.float32), single), probs.astype(np.float32)[:, 1])


@pytest.mark.parametrize(("fields", "words"), [
    ({}, "resize to 224x224 (bicubic)"),
    ({"resize": "shortest_edge", "resize_size": 256}, "shortest edge to 256 (bicubic), centre crop 224x224"),
    ({"resize_size": 256}, "resize to 256x256 (bicubic), centre crop 224x224"),
])
def test_the_resize_rule_in_words(fields, words):
    meta = ModelMeta(arch="x", input_size=(3, 224, 224), interpolation="bicubic", **fields)
    assert meta.describe_resize() == words
