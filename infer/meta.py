"""ModelMeta: the one metadata record that travels with every checkpoint and exported model.

It is stored as one JSON string (`ModelMeta.to_json`) in every carrier:

* a training checkpoint dict, under key ``"meta"``, as a plain dict (`ModelMeta.to_dict`);
* an ONNX file's ``metadata_props``, under key ``"imgcheck"``;
* a TorchScript file's ``_extra_files``, as ``"imgcheck.json"``.

`parse_meta` is the one function that reads it back, from any of these, and validates every field.
Inference takes its preprocessing from this record and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imgcheck.infer.errors import ModelMetaError
from imgcheck.infer.version import imgcheck_version as _installed_version

# Version 2 added per-class outputs (softmax, logits), more than two classes, and native-resolution crops
# (fit, tiles, tile_combine); version 3 the training images' sizes (provenance.train_image_sizes); version 4 the
# resize rules of imported models (resize, resize_size, crop_offset) and p_fake summed over several classes
# (positive_classes). A record is written with the lowest version that can express it (a version-1 record leaves
# the version-2 fields out, and so on), so files that need nothing new stay readable by older imgcheck releases.
SCHEMA_VERSION = 4
# How an image meets the model: the whole image resized to the input size, or native-resolution crops of it
# (`tiles` of them at inference, spread over the image, their scores combined by `tile_combine`).
FITS = ("resize", "crop")
TILE_RULES = ("mean_logit", "max")
_V2_DEFAULTS = {"fit": "resize", "tiles": 1, "tile_combine": "mean_logit"}  # optional: absent in version-1 records
_V3_PROVENANCE_FIELD = "train_image_sizes"  # optional: absent in version-1 and version-2 records
# How the image is resized before it is normalised (fit resize only; see ModelMeta): the whole image to (H, W)
# or to a resize_size square, or its shorter side to resize_size; then, where the result is larger, the centre
# (H, W) crop, its offsets rounded down (transformers) or to the nearest, ties to even (torchvision's CenterCrop).
RESIZE_RULES = ("fixed", "shortest_edge")
CROP_OFFSETS = ("floor", "round")
_V4_DEFAULTS = {"resize": "fixed", "resize_size": None, "crop_offset": "floor", "positive_classes": None}
ONNX_METADATA_KEY = "imgcheck"
TORCHSCRIPT_EXTRA_FILE = "imgcheck.json"
CHECKPOINT_KEY = "meta"

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
# Pillow always antialiases when it shrinks with a filter wider than one pixel; imgcheck implements the
# non-antialiased (point-sampled) variant itself for these two only.
NON_ANTIALIASED_INTERPOLATIONS = ("nearest", "bilinear")
# What the model's (last) output is: one probability of the positive class, one logit of it, or one score per
# class ("softmax": probabilities; "logits": raw scores), the positive class at index class_names.index(positive_class).
OUTPUT_KINDS = ("probability", "logit", "softmax", "logits")
PER_CLASS_OUTPUTS = ("softmax", "logits")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_FIX = "Re-export the model with a current `imgcheck export`, or rebuild its metadata with ModelMeta."


@dataclass(frozen=True)
class Provenance:
    """Where a model came from. Every field is optional; `extra` holds anything a later step records.

    `train_image_sizes` is ((min H, min W), (max H, max W)): the smallest and largest side lengths of the stored
    training images (each side on its own), e.g. ((32, 32), (32, 32)) for CIFAKE; None when not recorded (records
    before schema 3). A scan warns when images are far outside it."""

    dataset: str | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    seed: int | None = None
    epochs: int | None = None
    selection_metric: str | None = None
    test_metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    train_image_sizes: tuple[tuple[int, int], tuple[int, int]] | None = None


@dataclass(frozen=True)
class ModelMeta:
    """Everything needed to feed a model and read its output, and where the model came from.

    `input_size` is (C, H, W). Pixels are resized with `interpolation`/`antialias` by the `resize` rule, scaled
    to [0, 1] and normalised per channel as ``(x - mean) / std``. The `resize` rules (fit resize only):

    * ``"fixed"``, `resize_size` None: the whole image resized to (H, W), its aspect ratio not kept;
    * ``"fixed"``, `resize_size` S: the whole image resized to S x S, then the centre (H, W) crop (DeiT's 256 -> 224);
    * ``"shortest_edge"``, `resize_size` S: the shorter side resized to S and the longer to
      ``int(S * long / short)`` (transformers' ``get_resize_output_image_size(default_to_square=False)``,
      torchvision's ``Resize(S)``), then the centre (H, W) crop (CLIP: S 224, crop 224; ConvNeXt: 256 -> 224).

    A crop starts ``room // 2`` pixels in (`crop_offset` ``"floor"``, transformers) or ``round(room / 2)``, ties
    to even (``"round"``, torchvision's CenterCrop, which timm uses), where room is the resized side minus the crop.
    `resize_size` is at least max(H, W), so the crop never needs padding: transformers pads a smaller image with
    zeros (and its two backends place the padding differently); imgcheck refuses such a rule instead.

    `output` says what the model's (last) output is: the probability of `positive_class` or its logit (one value
    per image), or one probability (`softmax`) or raw score (`logits`) per class of `class_names`; inference turns
    it into p_fake, the probability of `positive_class` - or, with per-class outputs and `positive_classes`, the
    sum of those classes' probabilities (one REAL class and several generator classes: every class but REAL, so
    p_fake = 1 - p(REAL)). None means (positive_class,). An image is `positive_class` when p_fake is at least
    `threshold`.
    """

    arch: str
    input_size: tuple[int, int, int] = (3, 32, 32)
    interpolation: str = "bilinear"
    antialias: bool = True
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    class_names: tuple[str, ...] = ("REAL", "FAKE")
    positive_class: str = "FAKE"
    output: str = "probability"
    threshold: float = 0.5
    fit: str = "resize"
    tiles: int = 1
    tile_combine: str = "mean_logit"
    resize: str = "fixed"
    resize_size: int | None = None
    crop_offset: str = "floor"
    positive_classes: tuple[str, ...] | None = None
    provenance: Provenance = field(default_factory=Provenance)
    imgcheck_version: str = field(default_factory=_installed_version)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Constructing a ModelMeta validates it exactly as reading one does, and normalises the types
        # (tuples, floats) so that a built record equals the same record read back.
        object.__setattr__(self, "schema_version", SCHEMA_VERSION)  # every field into the record that is parsed
        parsed = parse_meta(self.to_dict(), source="ModelMeta(...)")
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, getattr(parsed, f.name))
        object.__setattr__(self, "schema_version", _lowest_schema_version(self))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready plain dict (lists, not tuples) - the form a checkpoint stores."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        """The canonical JSON string: sorted keys, compact, no NaN; a version-1 record without version-2 fields."""
        record = dataclasses.asdict(self)
        if self.schema_version < 2:
            for name in _V2_DEFAULTS:
                record.pop(name)
        if self.schema_version < 3:
            record["provenance"].pop(_V3_PROVENANCE_FIELD)
        if self.schema_version < 4:
            for name in _V4_DEFAULTS:
                record.pop(name)
        try:
            return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ModelMetaError(
                f"ModelMeta cannot be written as JSON: {exc}. Use plain Python numbers, and None for undefined metrics."
            )

    def replace(self, **changes: Any) -> ModelMeta:
        """A copy with some fields changed (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def negative_class(self) -> str:
        """The class name outside the positive ones, if there is one; otherwise "not <positive_class>"."""
        positives = self.positive_classes or (self.positive_class,)
        others = [name for name in self.class_names if name not in positives]
        return others[0] if len(others) == 1 else f"not {self.positive_class}"

    @property
    def positive_index(self) -> int:
        """The index of `positive_class` in `class_names`: the column of p_fake in per-class outputs."""
        return self.class_names.index(self.positive_class)

    @property
    def positive_indices(self) -> tuple[int, ...]:
        """The columns of per-class outputs whose probabilities sum to p_fake (`positive_classes`, in class order)."""
        positives = self.positive_classes or (self.positive_class,)
        return tuple(index for index, name in enumerate(self.class_names) if name in positives)

    def describe_resize(self) -> str:
        """How an image becomes the input, in words: `shortest edge to 256 (bicubic), centre crop 224x224`."""
        _, height, width = self.input_size
        size = f"{height}x{width}"
        if self.fit == "crop":
            return f"native-resolution {size} crops ({self.tiles} per image, {self.tile_combine})"
        if self.resize == "shortest_edge":
            return f"shortest edge to {self.resize_size} ({self.interpolation}), centre crop {size}"
        if self.resize_size is not None:
            return f"resize to {self.resize_size}x{self.resize_size} ({self.interpolation}), centre crop {size}"
        return f"resize to {size} ({self.interpolation})"


def _lowest_schema_version(meta: ModelMeta) -> int:
    """The oldest schema version that can express `meta` (what it is written with)."""
    if any(getattr(meta, name) != default for name, default in _V4_DEFAULTS.items()):
        return 4
    if meta.provenance.train_image_sizes is not None:
        return 3
    uses_v2 = (meta.output in PER_CLASS_OUTPUTS or len(meta.class_names) != 2
               or any(getattr(meta, name) != default for name, default in _V2_DEFAULTS.items()))
    return 2 if uses_v2 else 1


def parse_meta(raw: str | bytes | Mapping[str, Any], source: str = "model") -> ModelMeta:
    """Read and validate a ModelMeta from its JSON string (or the dict a checkpoint holds).

    Raises ModelMetaError naming `source`, the field at fault and what to do about it.
    """
    data = _load_json(raw, source)
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelMetaError(f"{source}: ModelMeta has no valid 'schema_version' (got {version!r}). {_FIX}")
    if version > SCHEMA_VERSION:
        raise ModelMetaError(
            f"{source}: ModelMeta schema version {version} was written by a newer imgcheck; this one reads "
            f"up to version {SCHEMA_VERSION}. Upgrade imgcheck: git pull, then pip install -e . in the imgcheck clone"
        )
    _check_keys(data, {f.name for f in dataclasses.fields(ModelMeta)}, source, "ModelMeta")
    c = _Checker(source)
    arch = c.text(data, "arch")
    input_size = c.int_tuple(data, "input_size", 3)
    if input_size[0] != 3:
        c.fail("input_size", f"must have 3 channels (RGB) first, got {list(input_size)}")
    interpolation = c.choice(data, "interpolation", INTERPOLATIONS)
    antialias = c.boolean(data, "antialias")
    if not antialias and interpolation not in NON_ANTIALIASED_INTERPOLATIONS:
        c.fail("antialias", f"false is supported only with {' or '.join(NON_ANTIALIASED_INTERPOLATIONS)}")
    mean = c.float_tuple(data, "mean", input_size[0])
    std = c.float_tuple(data, "std", input_size[0])
    if any(s <= 0 for s in std):
        c.fail("std", f"must be positive, got {list(std)}")
    class_names = c.str_tuple(data, "class_names")
    if len(set(class_names)) != len(class_names):
        c.fail("class_names", f"must be different names, got {list(class_names)}")
    positive_class = c.choice(data, "positive_class", class_names)
    output = c.choice(data, "output", OUTPUT_KINDS)
    if output not in PER_CLASS_OUTPUTS and len(class_names) != 2:
        c.fail("class_names", f"must be two names for a single {output} output, got {list(class_names)}")
    threshold = c.number(data, "threshold")
    if not 0.0 <= threshold <= 1.0:
        c.fail("threshold", f"must be a probability in [0, 1], got {threshold}")
    data = {**_V2_DEFAULTS, **data}
    fit = c.choice(data, "fit", FITS)
    tiles = data.get("tiles")
    if not isinstance(tiles, int) or isinstance(tiles, bool) or not 1 <= tiles <= 64:
        c.fail("tiles", f"must be a whole number from 1 to 64, got {tiles!r}")
    if fit == "resize" and tiles != 1:
        c.fail("tiles", f"must be 1 when fit is resize (the whole image is one input), got {tiles}")
    tile_combine = c.choice(data, "tile_combine", TILE_RULES)
    data = {**_V4_DEFAULTS, **data}
    resize, resize_size, crop_offset = _parse_resize(data, c, input_size, fit)
    positive_classes = _parse_positive_classes(data.get("positive_classes"), c, class_names, positive_class, output)
    provenance = _parse_provenance(data.get("provenance"), c)
    version_text = c.text(data, "imgcheck_version")
    meta = object.__new__(ModelMeta)  # skip __post_init__: these values are already validated
    for name, value in (
        ("arch", arch), ("input_size", input_size), ("interpolation", interpolation), ("antialias", antialias),
        ("mean", mean), ("std", std), ("class_names", class_names), ("positive_class", positive_class),
        ("output", output), ("threshold", threshold), ("fit", fit), ("tiles", tiles), ("tile_combine", tile_combine),
        ("resize", resize), ("resize_size", resize_size), ("crop_offset", crop_offset),
        ("positive_classes", positive_classes), ("provenance", provenance),
        ("imgcheck_version", version_text), ("schema_version", version),
    ):
        object.__setattr__(meta, name, value)
    return meta


def _load_json(raw: str | bytes | Mapping[str, Any], source: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        # Round-trip through JSON so a checkpoint's dict is held to exactly the same rules as a string.
        try:
            raw = json.dumps(dict(raw), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ModelMetaError(f"{source}: ModelMeta dict is not plain JSON data ({exc}). {_FIX}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelMetaError(f"{source}: ModelMeta is not UTF-8 text. {_FIX}")
    if not isinstance(raw, str):
        raise ModelMetaError(f"{source}: ModelMeta must be a JSON string or dict, got {type(raw).__name__}. {_FIX}")

    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not allowed")

    try:
        data = json.loads(raw, parse_constant=reject_constant)
    except ValueError as exc:
        raise ModelMetaError(f"{source}: ModelMeta is not valid JSON ({exc}). {_FIX}")
    if not isinstance(data, dict):
        raise ModelMetaError(f"{source}: ModelMeta must be a JSON object, got {type(data).__name__}. {_FIX}")
    return data


def _check_keys(data: Mapping[str, Any], allowed: set[str], source: str, what: str) -> None:
    missing = sorted(allowed - set(data) - {"provenance", *_V2_DEFAULTS, *_V4_DEFAULTS})
    unknown = sorted(set(data) - allowed)
    if missing:
        raise ModelMetaError(f"{source}: {what} lacks field(s) {', '.join(missing)}. {_FIX}")
    if unknown:
        raise ModelMetaError(f"{source}: {what} has unknown field(s) {', '.join(unknown)}. {_FIX}")


def _parse_resize(data: Mapping[str, Any], c: _Checker, input_size: tuple[int, ...], fit: str
                  ) -> tuple[str, int | None, str]:
    """resize, resize_size and crop_offset (version 4), checked against each other, input_size and fit."""
    resize = c.choice(data, "resize", RESIZE_RULES)
    resize_size = c.optional(data, "resize_size", int)
    crop_offset = c.choice(data, "crop_offset", CROP_OFFSETS)
    if resize == "shortest_edge" and resize_size is None:
        c.fail("resize_size", "is required when resize is shortest_edge (the length of the shorter side)")
    if resize_size is not None and resize_size < max(input_size[1:]):
        c.fail("resize_size", f"must be at least the input's larger side {max(input_size[1:])} so that the centre "
                              f"crop needs no padding, got {resize_size}")
    if resize_size is None and crop_offset != "floor":
        c.fail("crop_offset", f"applies only to a centre crop (resize_size set); leave it floor, got {crop_offset!r}")
    if fit != "resize" and (resize != "fixed" or resize_size is not None):
        c.fail("resize", f"must be fixed with no resize_size when fit is {fit} (tiles are never resampled)")
    return resize, resize_size, crop_offset


def _parse_positive_classes(raw: Any, c: _Checker, class_names: tuple[str, ...], positive_class: str,
                            output: str) -> tuple[str, ...] | None:
    """positive_classes (version 4): null, or names of class_names, positive_class among them, in class order;
    (positive_class,) alone is the same as null and is read as null."""
    if raw is None:
        return None
    name = "positive_classes"
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
        c.fail(name, f"must be a non-empty list of class names or null, got {raw!r}")
    if output not in PER_CLASS_OUTPUTS:
        c.fail(name, f"applies only to per-class outputs ({', '.join(PER_CLASS_OUTPUTS)}), not {output}")
    unknown = [v for v in raw if v not in class_names]
    if unknown:
        c.fail(name, f"must name classes of class_names ({', '.join(class_names)}); unknown: {', '.join(unknown)}")
    if len(set(raw)) != len(raw):
        c.fail(name, f"must not repeat a class, got {raw!r}")
    if positive_class not in raw:
        c.fail(name, f"must include positive_class {positive_class!r}, got {raw!r}")
    if len(raw) == len(class_names):
        c.fail(name, f"must leave at least one class out (p_fake would always be 1), got {raw!r}")
    ordered = tuple(v for v in class_names if v in raw)
    return None if ordered == (positive_class,) else ordered


def _parse_provenance(raw: Any, c: _Checker) -> Provenance:
    if raw is None:
        return Provenance()
    if not isinstance(raw, dict):
        c.fail("provenance", f"must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(Provenance)})
    if unknown:
        c.fail("provenance", f"has unknown field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in ("dataset", "selection_metric"):
        values[name] = c.optional(raw, name, str, "provenance.")
    for name in ("train_size", "val_size", "test_size", "seed", "epochs"):
        values[name] = c.optional(raw, name, int, "provenance.")
    for name in ("test_metrics", "extra"):
        value = raw.get(name, {})
        if not isinstance(value, dict):
            c.fail(f"provenance.{name}", f"must be an object, got {type(value).__name__}")
        values[name] = value
    values["train_image_sizes"] = _parse_size_range(raw.get(_V3_PROVENANCE_FIELD), c)
    return Provenance(**values)


def _parse_size_range(raw: Any, c: _Checker) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """provenance.train_image_sizes: null, or [[min H, min W], [max H, max W]] of positive integers, min <= max."""
    if raw is None:
        return None
    name = f"provenance.{_V3_PROVENANCE_FIELD}"
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(pair, list) and len(pair) == 2 for pair in raw)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for pair in raw for v in pair)):
        c.fail(name, f"must be [[min H, min W], [max H, max W]] of positive integers or null, got {raw!r}")
    (min_h, min_w), (max_h, max_w) = raw
    if min_h > max_h or min_w > max_w:
        c.fail(name, f"must have each minimum at most its maximum, got {raw!r}")
    return (min_h, min_w), (max_h, max_w)


class _Checker:
    """Field-by-field type checks that raise one ModelMetaError naming the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, name: str, problem: str) -> None:
        raise ModelMetaError(f"{self.source}: ModelMeta field '{name}' {problem}. {_FIX}")

    def text(self, data: Mapping[str, Any], name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"must be a non-empty string, got {value!r}")
        return value

    def boolean(self, data: Mapping[str, Any], name: str) -> bool:
        value = data.get(name)
        if not isinstance(value, bool):
            self.fail(name, f"must be true or false, got {value!r}")
        return value

    def number(self, data: Mapping[str, Any], name: str) -> float:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(name, f"must be a finite number, got {value!r}")
        return float(value)

    def choice(self, data: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
        value = data.get(name)
        if value not in allowed:
            self.fail(name, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def _sequence(self, data: Mapping[str, Any], name: str, length: int) -> list[Any]:
        value = data.get(name)
        if not isinstance(value, list) or len(value) != length:
            self.fail(name, f"must be a list of {length} values, got {value!r}")
        return value

    def int_tuple(self, data: Mapping[str, Any], name: str, length: int) -> tuple[int, ...]:
        value = self._sequence(data, name, length)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            self.fail(name, f"must hold positive integers, got {value!r}")
        return tuple(value)

    def float_tuple(self, data: Mapping[str, Any], name: str, length: int) -> tuple[float, ...]:
        value = self._sequence(data, name, length)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            self.fail(name, f"must hold finite numbers, got {value!r}")
        return tuple(float(v) for v in value)

    def str_tuple(self, data: Mapping[str, Any], name: str) -> tuple[str, ...]:
        value = data.get(name)
        if not isinstance(value, list) or len(value) < 2:
            self.fail(name, f"must be a list of at least 2 names, got {value!r}")
        if not all(isinstance(v, str) and v for v in value):
            self.fail(name, f"must hold non-empty strings, got {value!r}")
        return tuple(value)

    def optional(self, data: Mapping[str, Any], name: str, kind: type, prefix: str = "") -> Any:
        value = data.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            self.fail(prefix + name, f"must be {kind.__name__} or null, got {value!r}")
        return value
