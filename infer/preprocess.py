"""The one preprocessing path, shared by training and inference (numpy and Pillow only, no torch).

    fit resize: source --decode_image--> RGB PIL image --resize_to_input--> uint8 (H, W, 3) --normalize--> (3, H, W)
                (resize_to_input: the meta's resize rule - to (H, W), or a square or the shorter side, then
                the centre crop)
    fit crop:   source --decode_image (native size)--> uint8 (h, w, 3) --tiles_of--> uint8 (K, H, W, 3) --normalize-->

`load_pixels` is decode + resize: what the trainer caches as uint8 for a resize model. `load_native` decodes at
native resolution (what the trainer caches for a crop model, which takes a random crop each epoch); `load_tiles`
is what scan workers produce for either: one resized image, or the model's K native-resolution tiles (a centre
crop for K = 1, else a grid spread over the image; images smaller than the input are padded by reflection).
`normalize` turns pixels into the model's input. Every parameter comes from the ModelMeta. An `inspect` callback
sees each decoded file's image as opened (its metadata, and its stored size before any reduced-scale decoding), so
a scan reads provenance and size from the same open as the pixels.

Colour rules (documented in docs/export.md):
* only the first frame of animated files (GIF, WebP, ...) is used;
* EXIF orientation is applied (an unreadable EXIF block is ignored, the pixels are kept as stored);
* transparency (RGBA, LA, PA, palette or RGB/L images with a transparent colour) is composited over white;
* 16-bit greyscale (I;16*, I) is scaled to 8 bits by value / 257, rounded; 32-bit float (F) is clipped to 0..255;
* every other mode (1, L, P, CMYK, YCbCr, HSV, ...) is converted by Pillow's own `convert("RGB")`;
  ICC profiles are not applied.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from dataclasses import dataclass
from collections.abc import Callable
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgcheck.infer.errors import ImageDecodeError
from imgcheck.infer.image_signatures import open_image
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.png_chunks import reopen_without_refused_metadata
from imgcheck.infer.regular_files import NotRegularFileError, open_regular_file

ImageSource = Union[str, os.PathLike, bytes, BinaryIO]  # a file: its path, its bytes, or a binary stream
PixelSource = Union[ImageSource, Image.Image, np.ndarray]  # ... or an image already in memory
# Called once per decoded file with the loaded image (before orientation and colour conversion), its stored
# (width, height) and the open binary stream it was read from (still open, position anywhere); it must not raise.
Inspector = Callable[[Image.Image, tuple[int, int], BinaryIO], None]

# Larger images are refused as possible decompression bombs (Pillow's own default limit, 89.5 MP).
DEFAULT_MAX_PIXELS = 89_478_485
TRANSPARENCY_BACKGROUND = (255, 255, 255)

_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

# imgcheck enforces its own pixel limit (max_pixels) before decoding, so Pillow's warning is noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Pillow warns about damaged metadata it skips ("Corrupt EXIF data"); the image still decodes, and a scan of a
# million files must not print one warning per bad file.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


@dataclass(frozen=True)
class Preprocessor:
    """Preprocessing parameters of one model, resolved once from its ModelMeta."""

    height: int
    width: int
    interpolation: str
    antialias: bool
    scale: np.ndarray  # float32 (3, 1, 1): 1 / (255 * std)
    shift: np.ndarray  # float32 (3, 1, 1): -mean / std
    max_pixels: int = DEFAULT_MAX_PIXELS
    draft: bool = True  # JPEGs far larger than the input decode at reduced size (see decode_image); resize fit only
    fit: str = "resize"  # or "crop": native-resolution crops, never resampled
    tiles: int = 1  # crops scored per image at inference (crop fit)
    resize: str = "fixed"  # ModelMeta.resize: "fixed" or "shortest_edge" (then the centre crop to height x width)
    resize_size: int | None = None  # ModelMeta.resize_size: the square's side, or the shorter side's length
    crop_offset: str = "floor"  # ModelMeta.crop_offset: how the centre crop's start is rounded

    def pixel_rule(self) -> tuple:
        """Every setting that decides the uint8 pixels this preprocessor makes (a cache of decoded pixels is valid
        for another preprocessor only when their rules are equal)."""
        return (self.height, self.width, self.interpolation, self.antialias, self.fit, self.tiles, self.resize,
                self.resize_size, self.crop_offset)

    @classmethod
    def from_meta(cls, meta: ModelMeta, max_pixels: int = DEFAULT_MAX_PIXELS, draft: bool = True) -> Preprocessor:
        """Build the preprocessing of the model that `meta` describes."""
        _, height, width = meta.input_size
        std = np.asarray(meta.std, dtype=np.float32).reshape(3, 1, 1)
        mean = np.asarray(meta.mean, dtype=np.float32).reshape(3, 1, 1)
        scale = (np.float32(1.0) / (np.float32(255.0) * std)).astype(np.float32)
        shift = (-mean / std).astype(np.float32)
        return cls(height, width, meta.interpolation, meta.antialias, scale, shift, max_pixels,
                   draft and meta.fit == "resize", meta.fit, meta.tiles, meta.resize, meta.resize_size,
                   meta.crop_offset)

    def load_pixels(self, source: PixelSource, inspect: Inspector | None = None) -> np.ndarray:
        """Decode `source` and resize it to the model's input: uint8 array (H, W, 3).

        `source` is an image file (path, bytes or binary stream), a PIL image, or a uint8 array shaped (H, W),
        (H, W, 3) or (H, W, 4) (RGB order); in-memory images follow the same colour rules as decoded files.
        `inspect` sees a decoded file's image (see `decode_image`); in-memory images are not inspected."""
        if isinstance(source, Image.Image):
            return resize_to_input(to_rgb(_first_frame(source)), self)
        if isinstance(source, np.ndarray):
            return resize_to_input(image_from_array(source), self)
        return resize_to_input(decode_image(source, self.max_pixels, self._draft_size(), inspect), self)

    def _draft_size(self) -> tuple[int, int] | None:
        """Twice the size the image is resized to before any crop: (2W, 2H), or 2S by 2S for a resize_size S (the
        shorter side's target: a draft keeps both decoded sides at least 2S, so the longer one at least twice its
        target too, the draft scaling both sides alike); None without draft."""
        if not self.draft:
            return None
        if self.resize_size is None:
            return 2 * self.width, 2 * self.height
        return 2 * self.resize_size, 2 * self.resize_size

    def load_native(self, source: PixelSource, max_side: int | None = None, inspect: Inspector | None = None
                    ) -> np.ndarray:
        """Decode `source` at its own resolution (shrunk only when a side exceeds `max_side`): uint8 (h, w, 3)."""
        if isinstance(source, Image.Image):
            img = to_rgb(_first_frame(source))
        elif isinstance(source, np.ndarray):
            img = image_from_array(source)
        else:
            img = decode_image(source, self.max_pixels, inspect=inspect)
        if max_side and max(img.size) > max_side:
            scale = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                             Image.Resampling.BILINEAR, reducing_gap=None)
        return np.asarray(img, dtype=np.uint8)

    def load_tiles(self, source: PixelSource, inspect: Inspector | None = None) -> np.ndarray:
        """The model's inputs for one image as uint8 (K, H, W, 3): the resized image (K = 1), or K tiles."""
        if self.fit == "resize":
            return self.load_pixels(source, inspect)[None]
        return tiles_of(self.load_native(source, inspect=inspect), self.height, self.width, self.tiles)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 (3, H, W), or uint8 (N, H, W, 3) -> float32 (N, 3, H, W)."""
        if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4) or pixels.shape[-1] != 3:
            raise ValueError(f"expected uint8 pixels shaped (H, W, 3) or (N, H, W, 3), got {pixels.dtype} {pixels.shape}")
        # Transposing the uint8 pixels first and casting a contiguous block is 2-3x faster than casting the
        # strided view (benchmarks/results/normalize_cost.md); the arithmetic is the same, so is every value.
        chw = np.ascontiguousarray(np.moveaxis(pixels, -1, -3)).astype(np.float32)
        chw *= self.scale
        chw += self.shift
        return chw

    def __call__(self, source: ImageSource) -> np.ndarray:
        """The model input for one image: float32 (3, H, W)."""
        return self.normalize(self.load_pixels(source))


def decode_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS,
                 draft_size: tuple[int, int] | None = None, inspect: Inspector | None = None) -> Image.Image:
    """Decode the first frame of any image Pillow reads, apply EXIF orientation, and convert to RGB.

    With `draft_size`, a JPEG at least twice that size is decoded at a reduced scale (1/2, 1/4 or 1/8,
    in the DCT domain: about 5x faster on 12 MP photos) that still covers `draft_size`. `inspect`, if given, is
    called with the loaded image (its metadata complete, e.g. PNG text after the pixels), its stored size and the
    stream it was read from (so metadata readers need not open the file again).

    Metadata never costs the pixels: a PNG that Pillow refuses for a text or ICC chunk over its limits (a zTXt
    bomb, too much text) is decoded without those chunks, which `png_chunks.skipped_chunks(img)` then lists.

    `source` is a path, the file's bytes, or a binary file object. Raises ImageDecodeError with a
    one-line reason for anything that is not a readable image of at most `max_pixels` pixels.
    """
    name = os.fsdecode(source) if isinstance(source, (str, os.PathLike)) else None
    if isinstance(source, bytes):
        if not source:
            raise ImageDecodeError("empty file (0 bytes)")
        source = io.BytesIO(source)
    with _open_file(source) if name is not None else contextlib.nullcontext(source) as stream:
        try:
            try:
                return _decoded(open_image(stream), stream, max_pixels, draft_size, inspect)
            except (ValueError, SyntaxError, UnidentifiedImageError):
                # Pillow refuses a PNG whose metadata passes its limits (a zTXt bomb): open it again without those
                # chunks (png_chunks); for anything else, or a PNG without such chunks, the error stands.
                img = reopen_without_refused_metadata(stream)
                if img is None:
                    raise
            return _decoded(img, stream, max_pixels, draft_size, inspect)
        except ImageDecodeError:
            raise
        except UnidentifiedImageError:
            if name is not None and _is_empty_file(name):
                raise ImageDecodeError("empty file (0 bytes)")
            raise ImageDecodeError("not an image format Pillow can read")
        except Image.DecompressionBombError as exc:
            raise ImageDecodeError(f"image too large (possible decompression bomb): {_one_line(exc)}")
        except OSError as exc:
            raise ImageDecodeError(f"truncated or corrupt image data: {_one_line(exc)}")
        except Exception as exc:  # any decoder failure on hostile bytes: one reason, never a crash
            raise ImageDecodeError(f"corrupt image ({type(exc).__name__}): {_one_line(exc)}")


def _decoded(img: Image.Image, stream: BinaryIO, max_pixels: int, draft_size: tuple[int, int] | None,
             inspect: Inspector | None) -> Image.Image:
    """`decode_image`'s work on the image opened from `stream` (closed when done)."""
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise ImageDecodeError(
                f"image too large: {width}x{height} = {width * height:,} pixels exceeds the limit of "
                f"{max_pixels:,} (possible decompression bomb)"
            )
        if draft_size and img.format == "JPEG":
            img.draft(None, draft_size)
        img.load()
        if inspect is not None:
            inspect(img, (width, height), stream)
        return to_rgb(_apply_exif_orientation(img))


def pad_to(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """`pixels` (h, w, 3) padded by reflection, centred, to at least (height, width)."""
    h, w, _ = pixels.shape
    dy, dx = max(0, height - h), max(0, width - w)
    if not dy and not dx:
        return pixels
    return np.pad(pixels, ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2), (0, 0)), mode="reflect")


def tile_offsets(image_size: int, tile_size: int, count: int) -> list[int]:
    """`count` start offsets of tiles along one side, spread evenly from one edge to the other (centred for one)."""
    room = image_size - tile_size
    if count == 1:
        return [room // 2]
    return [round(room * i / (count - 1)) for i in range(count)]


def tiles_of(pixels: np.ndarray, height: int, width: int, count: int) -> np.ndarray:
    """`count` native-resolution (height, width) tiles of `pixels`: the centre crop for one; otherwise a grid of
    ceil(sqrt(count)) per side, spread from edge to edge, the first `count` in row-major order."""
    pixels = pad_to(pixels, height, width)
    side = math.ceil(math.sqrt(count))
    rows = tile_offsets(pixels.shape[0], height, side if count > 1 else 1)
    cols = tile_offsets(pixels.shape[1], width, side if count > 1 else 1)
    starts = [(y, x) for y in rows for x in cols][:count]
    return np.stack([pixels[y:y + height, x:x + width] for y, x in starts])


def image_from_array(pixels: np.ndarray) -> Image.Image:
    """An RGB PIL image from a uint8 array shaped (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA; ImageDecodeError
    naming the problem otherwise."""
    if pixels.dtype != np.uint8:
        raise ImageDecodeError(f"an array of {pixels.dtype}; expected uint8 pixels")
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)) or 0 in pixels.shape:
        raise ImageDecodeError(f"an array shaped {pixels.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    return to_rgb(Image.fromarray(np.ascontiguousarray(pixels)))  # L, RGB or RGBA by the shape


def _first_frame(img: Image.Image) -> Image.Image:
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    return img


def _open_file(path: str | os.PathLike) -> BinaryIO:
    """Open an image file; a FIFO or device named x.jpg is refused, never read."""
    try:
        return open_regular_file(path)
    except NotRegularFileError as exc:
        raise ImageDecodeError("is a directory, not an image" if exc.kind == "a directory"
                               else f"not a regular file ({exc.kind})")
    except FileNotFoundError:
        raise ImageDecodeError("file not found (deleted or a broken link?)")
    except PermissionError:
        raise ImageDecodeError("permission denied")
    except IsADirectoryError:
        raise ImageDecodeError("is a directory, not an image")
    except OSError as exc:
        raise ImageDecodeError(f"cannot open: {exc.strerror or _one_line(exc)}")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB by the rules in this module's docstring."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.int64)
        eight_bit = ((np.clip(values, 0, 65535) * 2 + 257) // 514).astype(np.uint8)  # round(v / 257)
        return Image.fromarray(eight_bit, "L").convert("RGB")
    if img.mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0)
        return Image.fromarray(np.rint(np.clip(values, 0, 255)).astype(np.uint8), "L").convert("RGB")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, TRANSPARENCY_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def resize_to_input(img: Image.Image, pre: Preprocessor) -> np.ndarray:
    """Resize an RGB image by the model's resize rule and return uint8 pixels shaped (H, W, 3).

    The uint8 image is resized with Pillow (the meta's filter, no reducing gap) to `resized_size`, then, where
    that is larger than (H, W), its centre (H, W) is cropped: exactly what transformers' PIL backend does. A
    shortest-edge resize that would make more than `max_pixels` pixels (a 100000x10 strip) is refused as unreadable."""
    size = resized_size(img.size, pre)
    if pre.resize == "shortest_edge" and size[0] * size[1] > pre.max_pixels:
        raise ImageDecodeError(f"aspect ratio too extreme: {img.width}x{img.height} resized to shortest edge "
                               f"{pre.resize_size} would be {size[0]}x{size[1]} pixels (limit {pre.max_pixels:,})")
    if img.size != size:
        if pre.antialias or pre.interpolation == "nearest":
            img = img.resize(size, resample=_PIL_FILTERS[pre.interpolation], reducing_gap=None)
        else:  # point-sampled bilinear; ModelMeta allows no other non-antialiased filter
            return centre_crop(_bilinear_point_sampled(np.asarray(img), size[1], size[0]), pre)
    return centre_crop(np.asarray(img, dtype=np.uint8), pre)


def resized_size(image_size: tuple[int, int], pre: Preprocessor) -> tuple[int, int]:
    """(width, height) an image of `image_size` (width, height) is resized to, before the centre crop.

    shortest_edge: the shorter side becomes resize_size S, the longer ``int(S * long / short)`` - the same float
    expression as transformers' ``get_resize_output_image_size(default_to_square=False)`` and torchvision's
    ``Resize(S)``, so the same truncation. fixed: S x S with a resize_size, else the input's (W, H)."""
    if pre.resize == "shortest_edge":
        width, height = image_size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = pre.resize_size, int(pre.resize_size * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)
    if pre.resize_size is not None:
        return pre.resize_size, pre.resize_size
    return pre.width, pre.height


def centre_crop(pixels: np.ndarray, pre: Preprocessor) -> np.ndarray:
    """The centre (H, W) of uint8 `pixels` (h, w, 3), at least that large (ModelMeta keeps resize_size >= H, W).

    Each start is ``room // 2`` (crop_offset floor: transformers, both backends) or ``round(room / 2)``, ties to
    even (round: torchvision's CenterCrop, which timm's eval transform uses), room being the side minus the crop."""
    h, w = pixels.shape[:2]
    if (h, w) == (pre.height, pre.width):
        return pixels
    if h < pre.height or w < pre.width:
        raise ValueError(f"cannot centre-crop {w}x{h} pixels to {pre.width}x{pre.height} without padding")
    top, left = (_crop_start(h - pre.height, pre.crop_offset), _crop_start(w - pre.width, pre.crop_offset))
    return np.ascontiguousarray(pixels[top:top + pre.height, left:left + pre.width])


def _crop_start(room: int, rule: str) -> int:
    return room // 2 if rule == "floor" else int(round(room / 2.0))


def _bilinear_point_sampled(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize without antialiasing (half-pixel centres, as torch's align_corners=False)."""

    def taps(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
        hi = np.minimum(lo + 1, in_size - 1)
        return lo, hi, (src - lo).astype(np.float32)

    y0, y1, fy = taps(height, pixels.shape[0])
    x0, x1, fx = taps(width, pixels.shape[1])
    rows = pixels.astype(np.float32)
    fx = fx[None, :, None]
    top = rows[y0][:, x0] * (1 - fx) + rows[y0][:, x1] * fx
    bottom = rows[y1][:, x0] * (1 - fx) + rows[y1][:, x1] * fx
    fy = fy[:, None, None]
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def _apply_exif_orientation(img: Image.Image) -> Image.Image:
    if "exif" not in img.info and img.format != "TIFF":  # no EXIF block: nothing to orient (and no copy)
        return img
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a malformed EXIF block must not cost the image
        return img


def _is_empty_file(name: str) -> bool:
    try:
        return os.path.getsize(name) == 0
    except OSError:
        return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

