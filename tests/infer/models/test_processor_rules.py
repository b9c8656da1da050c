"""A Hub model's processor config -> ModelMeta fields: the rules, their defaults, and every refusal in one line.

Tensor-for-tensor equality with the processors themselves is tests/infer/test_preprocess_hub.py."""

from __future__ import annotations

import json

import pytest

from imgcheck.infer.errors import ModelMetaError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.processor_rules import (
    HF_PROCESSORS, PIL_RESAMPLE, meta_fields_from_hf_processor, meta_fields_from_timm_cfg,
)

STANDARD = (0.5, 0.5, 0.5)


def _hf(kind: str = "ViTImageProcessor", **config) -> dict:
    fields = meta_fields_from_hf_processor({"image_processor_type": kind, **config})
    ModelMeta(arch="hub", **fields)  # every result is a valid record
    return fields


def _geometry(fields: dict) -> tuple:
    return fields["input_size"], fields["resize"], fields["resize_size"], fields["crop_offset"]


@pytest.mark.parametrize("kind, config, expected", [
    ("ViTImageProcessor", {}, ((3, 224, 224), "fixed", None, "floor")),
    ("ViTImageProcessor", {"size": 384}, ((3, 384, 384), "fixed", None, "floor")),  # an int: a square (ViT)
    ("ViTImageProcessor", {"size": [160, 192]}, ((3, 160, 192), "fixed", None, "floor")),
    ("DeiTImageProcessor", {}, ((3, 224, 224), "fixed", 256, "floor")),  # 256 x 256, then the centre 224
    ("DeiTImageProcessor", {"crop_size": 256}, ((3, 256, 256), "fixed", None, "floor")),  # the crop is the whole
    ("BeitImageProcessor", {"do_reduce_labels": False}, ((3, 224, 224), "fixed", None, "floor")),
    ("CLIPImageProcessor", {}, ((3, 224, 224), "shortest_edge", 224, "floor")),
    ("CLIPImageProcessor", {"size": 336, "crop_size": 336}, ((3, 336, 336), "shortest_edge", 336, "floor")),
    ("BitImageProcessor", {"size": {"shortest_edge": 256}}, ((3, 224, 224), "shortest_edge", 256, "floor")),
    ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "crop_pct": 0.875},
     ((3, 224, 224), "shortest_edge", 256, "floor")),  # int(224 / 0.875) = 256
    ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "crop_pct": 0.95},
     ((3, 224, 224), "shortest_edge", 235, "floor")),  # int(235.79) = 235
    ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}}, ((3, 224, 224), "shortest_edge", 256, "floor")),
    ("ConvNextImageProcessor", {}, ((3, 384, 384), "fixed", None, "floor")),  # 384 and above: squashed, no crop
    ("ConvNextImageProcessor", {"size": 224}, ((3, 224, 224), "shortest_edge", 256, "floor")),  # int: shortest edge
    ("MobileNetV1ImageProcessor", {}, ((3, 224, 224), "shortest_edge", 256, "floor")),
    ("SiglipImageProcessor", {"size": {"height": 256, "width": 256}}, ((3, 256, 256), "fixed", None, "floor")),
])
def test_each_processor_rule_becomes_a_resize_rule(kind, config, expected):
    assert _geometry(_hf(kind, **config)) == expected


def test_filter_and_normalisation_come_from_the_config_or_the_class_defaults():
    vit = _hf()
    assert (vit["interpolation"], vit["mean"], vit["std"], vit["antialias"]) == ("bilinear", STANDARD, STANDARD, True)
    clip = _hf("CLIPImageProcessor")
    assert clip["interpolation"] == "bicubic" and clip["mean"] == (0.48145466, 0.4578275, 0.40821073)
    assert [_hf(resample=code)["interpolation"] for code in range(6)] == [PIL_RESAMPLE[c] for c in range(6)]
    # null means the class default, as transformers reads it
    assert _hf("DeiTImageProcessor", resample=None, size=None, crop_size=None) == _hf("DeiTImageProcessor")


@pytest.mark.parametrize("config, mean, std", [
    ({"rescale_factor": 1 / 127.5, "image_mean": [1, 1, 1], "image_std": [1, 1, 1]}, STANDARD, STANDARD),
    ({"do_normalize": False}, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    ({"do_rescale": False, "image_mean": 127.5, "image_std": [127.5]}, STANDARD, STANDARD),
    ({"do_rescale": False, "do_normalize": False}, (0.0, 0.0, 0.0), (1 / 255,) * 3),  # raw 0-255 values
    ({"rescale_factor": 0.00392156862745098}, STANDARD, STANDARD),  # 1/255 as JSON stores it: kept as written
])
def test_rescale_is_folded_exactly_into_mean_and_std(config, mean, std):
    fields = _hf(**config)
    assert fields["mean"] == pytest.approx(mean, rel=1e-12) and fields["std"] == pytest.approx(std, rel=1e-12)


def test_legacy_names_are_the_same_classes():
    assert _hf("ViTImageProcessorFast") == _hf("ViTImageProcessor")
    legacy = meta_fields_from_hf_processor({"feature_extractor_type": "DeiTFeatureExtractor"})
    assert legacy == _hf("DeiTImageProcessor")


@pytest.mark.parametrize("config, key", [
    ({"size": {"longest_edge": 224}}, "size"),
    ({"size": {"shortest_edge": 224, "longest_edge": 448}}, "size"),
    ({"size": {"max_height": 224, "max_width": 224}}, "size"),
    ({"size": {"height": 0, "width": 224}}, "size"),
    ({"size": {"shortest_edge": 224}}, "size"),  # no centre crop: every image its own size
    ({"do_pad": True}, "do_pad"),
    ({"do_reduce_labels": True}, "do_reduce_labels"),
    ({"size_divisor": 32}, "size_divisor"),
    ({"do_flip_channel_order": True}, "do_flip_channel_order"),
    ({"crop_pct": 0.9}, "crop_pct"),  # ViT ignores it; its author meant something
    ({"auto_map": {"AutoImageProcessor": "proc.MyProcessor"}}, "auto_map"),
    ({"do_resize": False}, "do_resize"),
    ({"resample": 7}, "resample"),
    ({"resample": True}, "resample"),
    ({"rescale_factor": 0}, "rescale_factor"),
    ({"image_std": [0.5, 0.0, 0.5]}, "image_std"),
    ({"image_mean": [0.5, 0.5]}, "image_mean"),
    ({"data_format": "channels_last"}, "data_format"),
    ({"do_center_crop": True, "crop_size": {"height": 256, "width": 256}}, "crop_size"),  # larger than 224: padded
    ({"size": {"height": 256, "width": 320}, "do_center_crop": True, "crop_size": 224}, "size"),
    ({"image_processor_type": "LevitImageProcessor"}, "image_processor_type"),
    ({"image_processor_type": None}, "image_processor_type"),
])
def test_what_cannot_be_reproduced_is_refused_in_one_line_naming_key_and_value(config, key):
    config = {"image_processor_type": "ViTImageProcessor", **config}
    with pytest.raises(ModelMetaError) as caught:
        meta_fields_from_hf_processor(config)
    message = caught.value.message
    assert "\n" not in message and message.startswith(f"preprocessor_config.json: {key} = ")
    assert json.dumps(config[key])[:40] in message and "cannot be reproduced exactly" in message


@pytest.mark.parametrize("kind, config, key", [
    ("CLIPImageProcessor", {"crop_size": 300}, "crop_size"),  # larger than shortest_edge 224
    ("CLIPImageProcessor", {"use_square_size": True}, "use_square_size"),
    ("ConvNextImageProcessor", {"size": {"height": 224, "width": 224}}, "size"),
    ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "crop_pct": 1.2}, "crop_pct"),
    ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "do_center_crop": True, "crop_size": 200},
     "crop_size"),  # a second centre crop
])
def test_processor_specific_refusals(kind, config, key):
    with pytest.raises(ModelMetaError, match=f"^preprocessor_config.json: {key} = "):
        meta_fields_from_hf_processor({"image_processor_type": kind, **config})


def test_the_defaults_table_matches_the_installed_transformers_classes():
    """HF_PROCESSORS restates each class's defaults (no transformers at import time); hold it to the classes."""
    transformers = pytest.importorskip("transformers")
    from transformers.image_processing_backends import PilBackend, TorchvisionBackend

    for name, defaults in HF_PROCESSORS.items():
        for cls, base in ((getattr(transformers, name), TorchvisionBackend),
                          (getattr(transformers, name + "Pil"), PilBackend)):
            assert int(cls.resample) == defaults.resample, name
            assert tuple(cls.image_mean) == defaults.mean and tuple(cls.image_std) == defaults.std, name
            assert cls.size == defaults.size and cls.default_to_square == defaults.default_to_square, name
            assert getattr(cls, "crop_size", None) == defaults.crop_size, name
            assert getattr(cls, "do_center_crop", None) == defaults.do_center_crop, name
            assert getattr(cls, "crop_pct", None) == defaults.crop_pct, name
            assert cls.do_resize and cls.do_rescale and cls.do_normalize and cls.rescale_factor == 1 / 255, name
            if defaults.crop_pct is None:  # the base rule: nothing overridden that touches pixels
                for method in ("resize", "center_crop", "rescale", "normalize", "rescale_and_normalize"):
                    assert getattr(cls, method, None) is getattr(base, method, None), (name, method)
                if name != "BeitImageProcessor":  # BEiT's own _preprocess differs only for segmentation maps
                    assert cls._preprocess is base._preprocess, name


# timm: transforms_imagenet_eval, resolved as resolve_data_config does

@pytest.mark.parametrize("cfg, expected", [
    ({}, ((3, 224, 224), "shortest_edge", 256, "round")),  # timm's defaults: 224, crop_pct 0.875, bicubic
    ({"input_size": [3, 224, 224], "crop_pct": 0.9}, ((3, 224, 224), "shortest_edge", 248, "round")),  # floor(248.9)
    ({"input_size": (3, 384, 384), "crop_pct": 1.0}, ((3, 384, 384), "shortest_edge", 384, "round")),
    ({"input_size": [3, 224, 224], "crop_pct": None, "crop_mode": "center"},
     ((3, 224, 224), "shortest_edge", 256, "round")),
    ({"input_size": [3, 288, 288], "crop_pct": 0.95, "test_input_size": [3, 320, 320], "test_crop_pct": 1.0},
     ((3, 288, 288), "shortest_edge", 303, "round")),  # test_* are used only when asked for: not by default
])
def test_timm_eval_transform_becomes_shortest_edge_and_a_rounded_centre_crop(cfg, expected):
    fields = meta_fields_from_timm_cfg(cfg)
    ModelMeta(arch="timm", **fields)
    assert _geometry(fields) == expected


def test_timm_filter_and_normalisation():
    fields = meta_fields_from_timm_cfg({"interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3})
    assert (fields["interpolation"], fields["mean"], fields["std"]) == ("bilinear", STANDARD, STANDARD)
    default = meta_fields_from_timm_cfg({})
    assert default["interpolation"] == "bicubic" and default["mean"] == (0.485, 0.456, 0.406)


@pytest.mark.parametrize("cfg, key", [
    ({"crop_mode": "squash"}, "crop_mode"),
    ({"crop_mode": "border"}, "crop_mode"),
    ({"input_size": [3, 224, 320]}, "input_size"),
    ({"input_size": [1, 224, 224]}, "input_size"),
    ({"crop_pct": 1.5}, "crop_pct"),
    ({"crop_pct": "0.9"}, "crop_pct"),
    ({"interpolation": "random"}, "interpolation"),
    ({"crop_border_pixels": 2}, "crop_border_pixels"),
    ({"std": [0.5, -0.5, 0.5]}, "std"),
])
def test_timm_refusals_are_one_line(cfg, key):
    with pytest.raises(ModelMetaError) as caught:
        meta_fields_from_timm_cfg(cfg)
    assert caught.value.message.startswith(f"pretrained_cfg: {key} = ") and "\n" not in caught.value.message
