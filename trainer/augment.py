"""Training augmentations on uint8 pixels, named, seeded and combinable: `--augment hflip,jpeg,blur,resize,noise`.

Applied to the decoded (cached) pixels before normalisation, in a fixed order, each drawing its randomness from the
epoch's torch generator, so an epoch augments identically whether it ran straight through or after a resume:

* ``hflip``  - flip left-right, half of the images;
* ``shift``  - shift by up to 4 pixels (a random crop of the image padded by reflection); ``hflip-crop`` is
               ``hflip,shift``;
* ``resize`` - down-then-up resampling by a factor in [0.25, 1] (bilinear), with probability `p`;
* ``blur``   - Gaussian blur with sigma in [0, 3], with probability `p`;
* ``noise``  - Gaussian noise with sigma in [0, 8] grey levels, with probability `p`;
* ``jpeg``   - JPEG re-encoding at a quality in [30, 100], with probability `p` (last: what a platform does).

`p` (`--augment-p`) defaults to 0.1 each, the habit of CNNDetection and B-Free: most images stay as they are.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageFilter

ORDER = ("hflip", "shift", "resize", "blur", "noise", "jpeg")  # the order they are applied in
ALIASES = {"none": (), "hflip-crop": ("hflip", "shift")}
SHIFT = 4
JPEG_QUALITY = (30, 100)
BLUR_SIGMA = (0.0, 3.0)
RESIZE_FACTOR = (0.25, 1.0)
NOISE_SIGMA = (0.0, 8.0)


def parse_augment(text: str) -> tuple[str, ...]:
    """The augmentations a comma list names, in application order; ValueError naming an unknown one."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part in ALIASES:
            names.extend(ALIASES[part])
        elif part in ORDER:
            names.append(part)
        else:
            choices = ", ".join((*ORDER, *ALIASES))
            raise ValueError(f"unknown augmentation {part!r}; choose from {choices} (comma-separated)")
    return tuple(name for name in ORDER if name in names)


def augment_batch(pixels: np.ndarray, augment: str | tuple[str, ...], generator: torch.Generator | None,
                  p: float = 0.1) -> np.ndarray:
    """A new uint8 (B, H, W, 3) batch with the named augmentations applied (see the module docstring)."""
    names = parse_augment(augment) if isinstance(augment, str) else augment
    count, height, width, _ = pixels.shape
    out = pixels.copy()
    if "hflip" in names:
        flip = torch.rand(count, generator=generator).numpy() < 0.5
        out[flip] = out[flip, :, ::-1]
    if "shift" in names:
        padded = np.pad(out, ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT), (0, 0)), mode="reflect")
        offsets = torch.randint(0, 2 * SHIFT + 1, (count, 2), generator=generator).numpy()
        for i, (dy, dx) in enumerate(offsets):
            out[i] = padded[i, dy: dy + height, dx: dx + width]
    for name in ("resize", "blur", "noise", "jpeg"):
        if name not in names:
            continue
        chosen = torch.rand(count, generator=generator).numpy() < p
        amounts = torch.rand(count, generator=generator).numpy()  # drawn for every image: the stream stays aligned
        for i in np.flatnonzero(chosen):
            out[i] = _APPLY[name](out[i], float(amounts[i]), generator)
    return out


def _between(bounds: tuple[float, float], unit: float) -> float:
    low, high = bounds
    return low + (high - low) * unit


def _resize(image: np.ndarray, unit: float, generator: torch.Generator | None) -> np.ndarray:
    height, width, _ = image.shape
    factor = _between(RESIZE_FACTOR, unit)
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    picture = Image.fromarray(image).resize(small, Image.Resampling.BILINEAR)
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))


def _blur(image: np.ndarray, unit: float, generator: torch.Generator | None) -> np.ndarray:
    sigma = _between(BLUR_SIGMA, unit)
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))


def _noise(image: np.ndarray, unit: float, generator: torch.Generator | None) -> np.ndarray:
    sigma = _between(NOISE_SIGMA, unit)
    noise = torch.randn(image.shape, generator=generator).numpy() * sigma
    return np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, unit: float, generator: torch.Generator | None) -> np.ndarray:
    quality = round(_between(JPEG_QUALITY, unit))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


_APPLY = {"resize": _resize, "blur": _blur, "noise": _noise, "jpeg": _jpeg}
