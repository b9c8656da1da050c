"""A generator zoo made here, from real images only: small generative models whose outputs are fakes a detector can
train on (issue 19). Aligned fakes first: autoencoders whose reconstructions of real images keep the content and
carry only the decoder's traces (Rajan et al., ICLR 2025, "aligned" training data), one per upsampling family:

* ``transpose``    - 4x4 transposed convolutions, stride 2 (the checkerboard-prone decoder of many GANs);
* ``nearest``      - nearest-neighbour upsampling, then a 3x3 convolution;
* ``bilinear``     - bilinear upsampling, then a 3x3 convolution;
* ``pixelshuffle`` - a 3x3 convolution to 4x the channels, then a sub-pixel shuffle (ESPCN).

All share one encoder (three stride-2 convolutions, 32x32 -> 4x4x`latent`), train on uint8 pixels scaled to [0, 1]
with an L1 loss, seeded, on the CPU in minutes. `benchmarks/generators/make_zoo.py` trains them on CIFAKE's REAL
training images and writes their samples as JPEG q75 4:2:0, like CIFAKE.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

DECODERS = ("transpose", "nearest", "bilinear", "pixelshuffle")


def _up(kind: str, channels_in: int, channels_out: int) -> list[nn.Module]:
    """One 2x upsampling step of the given family."""
    if kind == "transpose":
        return [nn.ConvTranspose2d(channels_in, channels_out, 4, stride=2, padding=1)]
    if kind in ("nearest", "bilinear"):
        return [nn.Upsample(scale_factor=2, mode=kind), nn.Conv2d(channels_in, channels_out, 3, padding=1)]
    if kind == "pixelshuffle":
        return [nn.Conv2d(channels_in, channels_out * 4, 3, padding=1), nn.PixelShuffle(2)]
    raise ValueError(f"unknown decoder {kind!r}; choose one of {', '.join(DECODERS)}")


class AutoEncoder(nn.Module):
    """32x32 RGB in [0, 1] -> a 4x4x`latent` code -> 32x32 RGB in [0, 1], upsampled by `decoder`'s family."""

    def __init__(self, decoder: str = "transpose", width: int = 64, latent: int = 32) -> None:
        super().__init__()
        self.decoder_kind = decoder
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.ReLU(),             # 16x16
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),     # 8x8
            nn.Conv2d(2 * width, latent, 4, stride=2, padding=1),               # 4x4
        )
        self.decoder = nn.Sequential(
            *_up(decoder, latent, 2 * width), nn.ReLU(),
            *_up(decoder, 2 * width, width), nn.ReLU(),
            *_up(decoder, width, width), nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float() / 255.0


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3), rounded."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def train_autoencoder(pixels: np.ndarray, decoder: str, epochs: int = 3, batch_size: int = 64, lr: float = 2e-3,
                      seed: int = 0, width: int = 64, latent: int = 32) -> tuple[AutoEncoder, list[float]]:
    """An autoencoder trained on `pixels` (uint8 (N, 32, 32, 3)) with an L1 loss; returns it (in eval mode) and the
    mean loss of each epoch."""
    torch.manual_seed(seed)
    model = AutoEncoder(decoder, width, latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    data = to_tensor(pixels)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size]]
            loss = (model(batch) - batch).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(data))
    return model.eval(), losses


@torch.no_grad()
def reconstruct(model: AutoEncoder, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's uint8 reconstructions of `pixels`: aligned fakes of those real images."""
    out = [to_pixels(model(to_tensor(pixels[i:i + batch_size]))) for i in range(0, len(pixels), batch_size)]
    return np.concatenate(out) if out else np.empty((0, *pixels.shape[1:]), np.uint8)


def write_jpegs(pixels: np.ndarray, folder: Path, names: list[str], quality: int = 75) -> list[Path]:
    """Each image as a baseline JPEG of `quality` with 4:2:0 chroma (CIFAKE's encoding), named `names`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, name in zip(pixels, names, strict=True):
        path = folder / f"{Path(name).stem}.jpg"
        Image.fromarray(image).save(path, format="JPEG", quality=quality, subsampling=2)
        paths.append(path)
    return paths


def sample_grid(pixels: np.ndarray, path: Path, columns: int = 8, scale: int = 3) -> Path:
    """The first `columns` x `columns` images as one PNG grid (each image enlarged `scale` times, nearest)."""
    count = min(len(pixels), columns * columns)
    rows = -(-count // columns)
    height, width = pixels.shape[1:3]
    grid = np.full((rows * (height + 2), columns * (width + 2), 3), 255, np.uint8)
    for index in range(count):
        r, c = divmod(index, columns)
        grid[r * (height + 2): r * (height + 2) + height, c * (width + 2): c * (width + 2) + width] = pixels[index]
    picture = Image.fromarray(grid)
    picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST).save(path)
    return path


def timed(function, *args, **kwargs):  # noqa: ANN001, ANN201 - a small helper for the zoo script's records
    """(function's result, seconds it took)."""
    start = time.perf_counter()
    return function(*args, **kwargs), time.perf_counter() - start
