"""A Hub model's own preprocessing, read as ModelMeta fields: the image processor is the contract.

`meta_fields_from_hf_processor` reads a transformers `preprocessor_config.json`, `meta_fields_from_timm_cfg` a timm
`pretrained_cfg`. Both return the keyword arguments of ModelMeta that describe the preprocessing - input_size,
interpolation, antialias, mean, std, resize, resize_size and crop_offset - so that the one preprocessing path
(`imgcheck.infer.preprocess`) produces, on the decoded RGB image, the tensor the model's own code produces: exactly
transformers' PIL backend and timm's eval transform (both resize the uint8 image with Pillow), within float32
rounding. Whatever cannot be reproduced exactly raises ModelMetaError with one line naming the key and its value.

Plain dicts in, plain dicts out: no torch, transformers or timm is imported (the rules were read from transformers
5.x `image_processing_*.py` and timm's `transforms_imagenet_eval`; tests/infer/models/test_processor_rules.py holds
the tables below against the installed classes).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from imgcheck.infer.errors import ModelMetaError

# PIL's resampling codes, as transformers stores `resample`.
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
TIMM_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")

_STANDARD = (0.5, 0.5, 0.5)  # transformers' IMAGENET_STANDARD_MEAN and _STD
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CLIP_MEAN, _CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
_SQUARE_224 = {"height": 224, "width": 224}


@dataclass(frozen=True)
class _Defaults:
    """A processor class's own defaults: what a key absent from (or null in) its config means."""

    resample: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: dict[str, int]
    default_to_square: bool = True
    crop_size: dict[str, int] | None = None
    do_center_crop: bool | None = None
    crop_pct: float | None = None  # ConvNext's rule only


# Processor classes that run the base rule (resize by `size`, optional centre crop, rescale, normalise) - and
# ConvNext's own. Swin uses ViT's; DINOv2 Bit's; Data2Vec-vision BEiT's; ResNet, RegNet, ConvNeXt V2 ConvNext's.
HF_PROCESSORS: dict[str, _Defaults] = {
    "ViTImageProcessor": _Defaults(2, _STANDARD, _STANDARD, _SQUARE_224),
    "DeiTImageProcessor": _Defaults(3, _STANDARD, _STANDARD, {"height": 256, "width": 256}, True, _SQUARE_224, True),
    "BeitImageProcessor": _Defaults(3, _STANDARD, _STANDARD, _SQUARE_224, True, _SQUARE_224, False),
    "CLIPImageProcessor": _Defaults(3, _CLIP_MEAN, _CLIP_STD, {"shortest_edge": 224}, False, _SQUARE_224, True),
    "BitImageProcessor": _Defaults(3, _CLIP_MEAN, _CLIP_STD, {"shortest_edge": 224}, False, _SQUARE_224, True),
    "SiglipImageProcessor": _Defaults(3, _STANDARD, _STANDARD, _SQUARE_224, False),
    "PvtImageProcessor": _Defaults(3, _IMAGENET_MEAN, _IMAGENET_STD, _SQUARE_224),
    "MobileNetV1ImageProcessor": _Defaults(2, _STANDARD, _STANDARD, {"shortest_edge": 256}, False, _SQUARE_224, True),
    "ConvNextImageProcessor": _Defaults(3, _STANDARD, _STANDARD, {"shortest_edge": 384}, False, crop_pct=224 / 256),
}
# ConvNext resizes the shortest edge to shortest_edge / crop_pct and crops below this size, squashes at or above it.
CONVNEXT_CROP_BELOW = 384
# Keys that set a pixel rule imgcheck does not reproduce (padding, label reduction, other processors' rules): refused
# when set to anything but null or false - even where the processor named ignores them, since an author who wrote
# them meant something - never ignored silently. crop_pct is ConvNext's own and read there.
_FOREIGN_PIXEL_KEYS = ("size_divisor", "size_divisibility", "do_flip_channel_order", "rescale_offset", "include_top",
                       "do_thumbnail", "do_align_long_axis", "do_crop_margin", "do_image_splitting", "do_split_image",
                       "use_square_size", "crop_pct", "do_reduce_labels", "do_pad")


def meta_fields_from_hf_processor(config: dict[str, Any]) -> dict[str, Any]:
    """ModelMeta fields that reproduce a transformers image processor from its `preprocessor_config.json` contents.

    The processor class (`image_processor_type`, or an older `feature_extractor_type`; a `Fast` suffix is the same
    class) must be one of HF_PROCESSORS; a key absent or null takes that class's default, as in transformers.
    Reproduced: `size` {height, width} (resize to it), or {shortest_edge} with a centre crop (`do_center_crop`,
    `crop_size`), or a square {height, width} then a smaller centre crop (DeiT); ConvNext's `crop_pct` rule;
    `resample` (PIL codes); `do_rescale`/`rescale_factor` and `do_normalize`/`image_mean`/`image_std`, folded into
    one mean and std per channel. Refused, with ModelMetaError: anything else that changes pixels.
    """
    if not isinstance(config, dict):
        raise ModelMetaError(f"preprocessor_config.json must be a JSON object, got {type(config).__name__}.")
    if config.get("auto_map") is not None:
        _refuse("auto_map", config["auto_map"], "the processor is the model's own code")
    name, defaults = _processor_class(config)
    value = _Values(config)
    if value.get("do_resize", True) is not True:
        _refuse("do_resize", config["do_resize"], "every image would keep its own size")
    for key in _FOREIGN_PIXEL_KEYS:
        if key == "crop_pct" and defaults.crop_pct is not None:
            continue
        if config.get(key) not in (None, False):
            _refuse(key, config[key], f"imgcheck does not reproduce this pixel rule (processor {name})")
    if config.get("data_format") not in (None, "channels_first"):
        _refuse("data_format", config["data_format"], "imgcheck's inputs are channels first")
    interpolation = _resample(value.get("resample", defaults.resample))
    size = _size_dict(value, defaults)
    crop = _crop_size(value, defaults) if value.get("do_center_crop", defaults.do_center_crop) else None
    if defaults.crop_pct is not None:
        geometry = _convnext_geometry(size, crop, value.get("crop_pct", defaults.crop_pct))
    else:
        geometry = _base_geometry(size, crop)
    height, width, resize, resize_size = geometry
    mean, std = _folded_normalisation(value, defaults)
    return {"input_size": (3, height, width), "interpolation": interpolation, "antialias": True, "mean": mean,
            "std": std, "resize": resize, "resize_size": resize_size, "crop_offset": "floor"}


def meta_fields_from_timm_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """ModelMeta fields that reproduce timm's eval transform (`resolve_data_config` + `transforms_imagenet_eval`)
    for a model's `pretrained_cfg`.

    timm resizes the shorter side to ``math.floor(size / crop_pct)`` with torchvision's `Resize` (Pillow, for PIL
    images: the same longer side ``int(S * long / short)`` as transformers) and takes torchvision's `CenterCrop`
    (start ``round(room / 2)``, ties to even: crop_offset round). Defaults as timm's: input_size (3, 224, 224),
    bicubic, crop_pct 0.875, ImageNet mean/std; `test_input_size`/`test_crop_pct` are not used (timm uses them only
    when asked to). Refused: crop_mode squash or border, a non-square input_size (timm's ResizeKeepRatio rounds
    differently), crop_pct above 1 (the crop would be padded), crop_border_pixels.
    """
    if not isinstance(cfg, dict):
        raise ModelMetaError(f"pretrained_cfg must be a JSON object, got {type(cfg).__name__}.")
    where = "pretrained_cfg"
    crop_mode = cfg.get("crop_mode") or "center"
    if crop_mode != "center":
        _refuse("crop_mode", crop_mode, "imgcheck reproduces timm's center crop only (squash and border are not)",
                where)
    if cfg.get("crop_border_pixels"):
        _refuse("crop_border_pixels", cfg["crop_border_pixels"], "border trimming is not reproduced", where)
    input_size = cfg.get("input_size") or (3, 224, 224)
    if (not isinstance(input_size, (list, tuple)) or len(input_size) != 3 or input_size[0] != 3
            or not all(_positive_int(v) for v in input_size)):
        _refuse("input_size", input_size, "must be [3, height, width] of positive integers", where)
    _, height, width = input_size
    if height != width:
        _refuse("input_size", input_size, "a non-square input uses timm's ResizeKeepRatio, which is not reproduced",
                where)
    crop_pct = cfg.get("crop_pct") or 0.875
    if not _positive_number(crop_pct) or crop_pct > 1:
        _refuse("crop_pct", crop_pct, "must be a number in (0, 1] (above 1 the crop would be padded)", where)
    interpolation = cfg.get("interpolation") or "bicubic"
    if interpolation not in TIMM_INTERPOLATIONS:
        _refuse("interpolation", interpolation, f"must be one of {', '.join(TIMM_INTERPOLATIONS)}", where)
    mean = _channels(cfg.get("mean") or _IMAGENET_MEAN, "mean", where)
    std = _channels(cfg.get("std") or _IMAGENET_STD, "std", where)
    if any(s <= 0 for s in std):
        _refuse("std", cfg.get("std"), "must be positive", where)
    return {"input_size": (3, height, width), "interpolation": interpolation, "antialias": True, "mean": mean,
            "std": std, "resize": "shortest_edge", "resize_size": math.floor(height / crop_pct), "crop_offset": "round"}


class _Values:
    """A processor config's values, a null one meaning the class default (transformers' `_set_attributes`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def get(self, key: str, default: Any) -> Any:
        value = self.config.get(key)
        return default if value is None else value


def _processor_class(config: dict[str, Any]) -> tuple[str, _Defaults]:
    key, name = "image_processor_type", config.get("image_processor_type")
    if name is None and isinstance(config.get("feature_extractor_type"), str):
        key, name = "feature_extractor_type", config["feature_extractor_type"]
        name = name.replace("FeatureExtractor", "ImageProcessor")
    if not isinstance(name, str):
        _refuse(key, name, "imgcheck cannot tell which processor class runs the model")
    base = name.removesuffix("Fast").removesuffix("Pil")
    if base not in HF_PROCESSORS:
        _refuse(key, config.get(key), f"imgcheck reproduces only {', '.join(HF_PROCESSORS)}")
    return base, HF_PROCESSORS[base]


def _resample(code: Any) -> str:
    if isinstance(code, bool) or code not in PIL_RESAMPLE:
        _refuse("resample", code, "must be a PIL filter code 0-5")
    return PIL_RESAMPLE[code]


def _size_dict(value: _Values, defaults: _Defaults) -> dict[str, int]:
    """`size` as transformers' get_size_dict reads it: an int is a square or the shortest edge (default_to_square),
    a pair (height, width); only {height, width} and {shortest_edge} are reproduced."""
    raw = value.get("size", defaults.size)
    if isinstance(raw, int) and not isinstance(raw, bool):
        square = value.get("default_to_square", defaults.default_to_square)
        size = {"height": raw, "width": raw} if square else {"shortest_edge": raw}
    elif isinstance(raw, (list, tuple)) and len(raw) == 2:
        size = {"height": raw[0], "width": raw[1]}
    else:
        size = raw
    if not isinstance(size, dict) or set(size) not in ({"height", "width"}, {"shortest_edge"}):
        _refuse("size", raw, "only {height, width} or {shortest_edge} is reproduced")
    if not all(_positive_int(v) for v in size.values()):
        _refuse("size", raw, "sides must be positive integers")
    return size


def _crop_size(value: _Values, defaults: _Defaults) -> tuple[int, int]:
    raw = value.get("crop_size", defaults.crop_size)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"height": raw, "width": raw}
    elif isinstance(raw, (list, tuple)) and len(raw) == 2:
        raw = {"height": raw[0], "width": raw[1]}
    if (not isinstance(raw, dict) or set(raw) != {"height", "width"}
            or not all(_positive_int(v) for v in raw.values())):
        _refuse("crop_size", value.config.get("crop_size"), "a centre crop needs {height, width} of positive integers")
    return raw["height"], raw["width"]


def _base_geometry(size: dict[str, int], crop: tuple[int, int] | None) -> tuple[int, int, str, int | None]:
    """(H, W, resize, resize_size) of the base rule: resize by `size`, then the centre crop if any."""
    if "shortest_edge" in size:
        edge = size["shortest_edge"]
        if crop is None:
            _refuse("size", size, "a shortest-edge resize without do_center_crop gives every image its own size")
        if max(crop) > edge:
            _refuse("crop_size", _hw(crop), f"is larger than shortest_edge {edge}: the crop would be padded")
        return crop[0], crop[1], "shortest_edge", edge
    height, width = size["height"], size["width"]
    if crop is None or crop == (height, width):
        return height, width, "fixed", None
    if height != width:
        _refuse("size", size, f"a non-square resize before a {_hw(crop)} centre crop is not reproduced")
    if max(crop) > height:
        _refuse("crop_size", _hw(crop), f"is larger than size {height}x{width}: the crop would be padded")
    return crop[0], crop[1], "fixed", height


def _convnext_geometry(size: dict[str, int], crop: tuple[int, int] | None, crop_pct: Any
                       ) -> tuple[int, int, str, int | None]:
    """ConvNext's resize: below 384, the shortest edge to int(shortest_edge / crop_pct) and the centre
    shortest_edge square; at 384 and above, a squash to the square. An extra centre crop only if it changes nothing
    (below 384) or is a square's centre crop (at 384 and above)."""
    if "shortest_edge" not in size:
        _refuse("size", size, "ConvNextImageProcessor needs {shortest_edge}")
    edge = size["shortest_edge"]
    if edge >= CONVNEXT_CROP_BELOW:
        return _base_geometry({"height": edge, "width": edge}, crop)
    if not _positive_number(crop_pct):
        _refuse("crop_pct", crop_pct, "must be a positive number")
    resize_size = int(edge / crop_pct)
    if resize_size < edge:
        _refuse("crop_pct", crop_pct, f"shortest_edge {edge} / crop_pct is below {edge}: the crop would be padded")
    if crop is not None and crop != (edge, edge):
        _refuse("crop_size", _hw(crop), f"a second centre crop after ConvNext's {edge}x{edge} one is not reproduced")
    return edge, edge, "shortest_edge", resize_size


def _folded_normalisation(value: _Values, defaults: _Defaults) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """mean and std on the [0, 1] scale imgcheck feeds: (x * r - m) / s = (x / 255 - m / (255 r)) / (s / (255 r)),
    with r = rescale_factor (1 without do_rescale) and m, s = image_mean, image_std (0, 1 without do_normalize)."""
    factor = value.get("rescale_factor", 1 / 255) if value.get("do_rescale", True) else 1.0
    if not _positive_number(factor):
        _refuse("rescale_factor", factor, "must be a positive number")
    if value.get("do_normalize", True):
        mean = _channels(value.get("image_mean", defaults.mean), "image_mean")
        std = _channels(value.get("image_std", defaults.std), "image_std")
        if any(s <= 0 for s in std):
            _refuse("image_std", value.config.get("image_std"), "must be positive")
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    unit = 255.0 * factor
    if math.isclose(unit, 1.0, rel_tol=1e-12):  # the usual 1/255: keep the author's numbers as written
        return mean, std
    return tuple(m / unit for m in mean), tuple(s / unit for s in std)


def _channels(raw: Any, key: str, where: str = "preprocessor_config.json") -> tuple[float, ...]:
    """Three finite numbers (one number, or a list of one, is every channel's)."""
    values = [raw] if _number(raw) else raw
    if isinstance(values, (list, tuple)) and len(values) == 1:
        values = list(values) * 3
    if not isinstance(values, (list, tuple)) or len(values) != 3 or not all(_number(v) for v in values):
        _refuse(key, raw, "must be one number or three finite numbers", where)
    return tuple(float(v) for v in values)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_number(value: Any) -> bool:
    return _number(value) and value > 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _hw(pair: tuple[int, int]) -> dict[str, int]:
    return {"height": pair[0], "width": pair[1]}


def _refuse(key: str, value: Any, why: str, where: str = "preprocessor_config.json") -> None:
    """Raise the one-line ModelMetaError naming the key and value imgcheck cannot reproduce."""
    shown = json.dumps(value, default=str)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise ModelMetaError(f"{where}: {key} = {shown} cannot be reproduced exactly: {why}.")
