"""A generator zoo made here, from real images only: small generative models whose outputs are fakes a detector can
train on (issue 19). Aligned fakes first: autoencoders whose reconstructions of real images keep the content and
carry only the decoder's traces (Rajan et al., ICLR 2025, "aligned" training data), one per upsampling family:

* ``transpose``    - 4x4 transposed convolutions, stride 2 (the checkerboard-prone decoder of many GANs);
* ``nearest``      - nearest-neighbour upsampling, then a 3x3 convolution;
* ``bilinear``     - bilinear upsampling, then a 3x3 convolution;
* ``pixelshuffle`` - a 3x3 convolution to 4x the channels, then a sub-pixel shuffle (ESPCN).

All share one encoder (three stride-2 convolutions, 32x32 -> 4x4x`latent`), train on uint8 pixels scaled to [0, 1]
with an L1 loss, seeded, on the CPU in minutes.

The second family is unaligned: small GANs (DCGAN-shaped generator, spectral-normalised discriminator, hinge loss;
Miyato et al., ICLR 2018) whose generator upsamples with any decoder family above, sampled from noise.

`benchmarks/generators/make_zoo.py` trains both on CIFAKE's REAL training images and writes their samples as JPEG
q75 4:2:0, like CIFAKE.
"""

from __future__ import annotations

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


class GanGenerator(nn.Module):
    """Noise (N, `noise`) -> 32x32 RGB in [0, 1]: a 4x4x(4`width`) seed, three 2x upsamplings of `decoder`'s family
    with batch norm and ReLU, a 3x3 convolution to RGB."""

    def __init__(self, decoder: str = "transpose", width: int = 64, noise: int = 64) -> None:
        super().__init__()
        self.decoder_kind, self.noise = decoder, noise
        self.seed = nn.Linear(noise, 4 * width * 16)
        self.width = width
        blocks: list[nn.Module] = [nn.BatchNorm2d(4 * width), nn.ReLU()]
        for channels_in, channels_out in ((4 * width, 2 * width), (2 * width, width), (width, width)):
            blocks += [*_up(decoder, channels_in, channels_out), nn.BatchNorm2d(channels_out), nn.ReLU()]
        self.body = nn.Sequential(*blocks, nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.body(self.seed(noise).view(-1, 4 * self.width, 4, 4))


class GanDiscriminator(nn.Module):
    """32x32 RGB in [0, 1] -> one realness score: spectral-normalised stride-2 convolutions, leaky ReLU."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        for channels_in, channels_out in ((3, width), (width, 2 * width), (2 * width, 4 * width)):
            layers += [sn(nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.1)]
        self.body = nn.Sequential(*layers, nn.Flatten(), sn(nn.Linear(4 * width * 16, 1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images * 2 - 1).squeeze(1)


def train_gan(pixels: np.ndarray, decoder: str, epochs: int = 5, batch_size: int = 64, lr: float = 2e-4,
              seed: int = 0, width: int = 32, noise: int = 64) -> tuple[GanGenerator, dict[str, list[float]]]:
    """A hinge-loss GAN trained on `pixels` (uint8 (N, 32, 32, 3)); returns the generator (in eval mode) and each
    epoch's mean discriminator and generator losses."""
    torch.manual_seed(seed)
    generator_net, critic = GanGenerator(decoder, width, noise), GanDiscriminator(width)
    optimise_g = torch.optim.Adam(generator_net.parameters(), lr=lr, betas=(0.0, 0.9))
    optimise_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.0, 0.9))
    data = to_tensor(pixels)
    rng = torch.Generator().manual_seed(seed)
    losses: dict[str, list[float]] = {"d": [], "g": []}
    for _ in range(epochs):
        generator_net.train()
        order = torch.randperm(len(data), generator=rng)
        totals, batches = [0.0, 0.0], 0
        for start in range(0, len(data) - batch_size + 1, batch_size):
            real = data[order[start:start + batch_size]]
            fake = generator_net(torch.randn(batch_size, noise, generator=rng))
            loss_d = (torch.relu(1 - critic(real)).mean() + torch.relu(1 + critic(fake.detach())).mean())
            optimise_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimise_d.step()
            loss_g = -critic(fake).mean()
            optimise_g.zero_grad(set_to_none=True)
            loss_g.backward()
            optimise_g.step()
            totals[0] += loss_d.item()
            totals[1] += loss_g.item()
            batches += 1
        losses["d"].append(totals[0] / max(1, batches))
        losses["g"].append(totals[1] / max(1, batches))
    return generator_net.eval(), losses


@torch.no_grad()
def sample_gan(model: GanGenerator, count: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """`count` uint8 (count, 32, 32, 3) samples of a trained generator, from seeded noise."""
    rng = torch.Generator().manual_seed(seed)
    out = [to_pixels(model(torch.randn(min(batch_size, count - i), model.noise, generator=rng)))
           for i in range(0, count, batch_size)]
    return np.concatenate(out) if out else np.empty((0, 32, 32, 3), np.uint8)


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
