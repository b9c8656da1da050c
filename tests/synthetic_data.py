"""A small, learnable REAL/FAKE dataset in the CIFAKE layout, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def cifake_name(index: int, category: int) -> str:
    """CIFAKE's naming: category 1 has no suffix, the others ' (k)'."""
    return f"{index}.jpg" if category == 1 else f"{index} ({category}).jpg"


def make_dataset(root: Path, train_per_group: int = 10, test_per_group: int = 3, categories: int = 10,
                 cifake_names: bool = True, seed: int = 0) -> Path:
    """root/{train,test}/{REAL,FAKE}: 32x32 JPEGs (quality 75, 4:2:0). FAKE images are brighter and carry a
    fine stripe pattern, so a small model separates them within an epoch or two."""
    rng = np.random.default_rng(seed)
    for split, per_group in (("train", train_per_group), ("test", test_per_group)):
        for label, class_name in enumerate(("REAL", "FAKE")):
            folder = root / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            index = 0
            for category in range(1, categories + 1):
                for _ in range(per_group):
                    base = rng.normal(90 + 80 * label, 25, (8, 8, 3))
                    pixels = np.kron(base, np.ones((4, 4, 1)))
                    if label:
                        pixels[:, ::2] += 30
                    name = cifake_name(index, category) if cifake_names else f"img_{index:04d}.jpg"
                    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                        folder / name, format="JPEG", quality=75, subsampling=2)
                    index += 1
    return root


def noise_images(folder: Path, count: int, size: tuple[int, int] = (32, 32), name: str = "img_{:03d}.png") -> Path:
    """`folder` (created) with `count` PNGs of seeded uniform noise, `size` (W, H), named by `name`'s format."""
    folder.mkdir(parents=True)
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name.format(i))
    return folder


def gray_image(path: Path, level: int, size: tuple[int, int] = (32, 32)) -> Path:
    """A uniform RGB PNG of one gray level (0-255)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), level, np.uint8)).save(path)
    return path


def textured_batch(count: int = 48, seed: int = 0, noise: float = 20.0) -> np.ndarray:
    """uint8 (count, 32, 32, 3): smooth colour gradients plus Gaussian noise, textured as photos are (so blur,
    resampling, JPEG and reconstruction visibly change them)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32]
    base = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1).astype(np.float32)
    return np.clip(base[None] + rng.normal(0, noise, (count, 32, 32, 3)), 0, 255).astype(np.uint8)
