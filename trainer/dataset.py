"""Training inputs through the one shared preprocessing path (imgcheck.infer.preprocess).

Images are decoded once into uint8 pixels (Preprocessor.load_pixels, the same call scan workers make),
kept in memory or in a .npy cache, and turned into model inputs batch by batch with
Preprocessor.normalize - so training and serving see identical pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from imgcheck.infer.atomic_write import staged_path
from imgcheck.infer.errors import ImageDecodeError, ImgcheckError
from imgcheck.infer.preprocess import Preprocessor, pad_to, tiles_of
from imgcheck.trainer.augment import augment_batch
from imgcheck.trainer.data import Sample

Batch = tuple[np.ndarray, np.ndarray]  # uint8 pixels (B, H, W, 3), float32 targets (B,)


class PixelDataset(Dataset):
    """Item i is (uint8 pixels (H, W, 3), target, error): the decoded image, or zeros and the reason it failed."""

    def __init__(self, samples: Sequence[Sample], preprocessor: Preprocessor) -> None:
        self.samples = list(samples)
        self.preprocessor = preprocessor

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, float, str]:
        sample = self.samples[index]
        try:
            return self.preprocessor.load_pixels(sample.path), float(sample.label), ""
        except ImageDecodeError as exc:
            blank = np.zeros((self.preprocessor.height, self.preprocessor.width, 3), np.uint8)
            return blank, float(sample.label), f"{sample.path}: {exc.reason}"


def decode_all(samples: Sequence[Sample], preprocessor: Preprocessor, workers: int = 0,
               on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Decode every sample once: uint8 (N, H, W, 3). Unreadable images stop the run with a list of them."""
    pixels = np.empty((len(samples), preprocessor.height, preprocessor.width, 3), np.uint8)
    errors: list[str] = []
    position = 0
    for batch, _, batch_errors in _loader(PixelDataset(samples, preprocessor), range(len(samples)), 256, workers):
        pixels[position : position + len(batch)] = batch
        position += len(batch)
        errors.extend(e for e in batch_errors if e)
        if on_batch:
            on_batch(len(batch))
    refuse_unreadable(errors)
    return pixels


def refuse_unreadable(errors: list[str]) -> None:
    """Stop the run, listing (up to ten of) the training images that cannot be read."""
    if errors:
        listed = "\n  ".join(errors[:10])
        more = f"\n  ... and {len(errors) - 10:,} more" if len(errors) > 10 else ""
        raise ImgcheckError(f"{len(errors):,} training image(s) cannot be read; remove them from the data:\n  {listed}{more}")


def cached_pixels(samples: Sequence[Sample], preprocessor: Preprocessor, cache_dir: str | os.PathLike | None,
                  workers: int = 0, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """`decode_all`, kept in `cache_dir` as a .npy file keyed by the file list and the preprocessing."""
    if cache_dir is None:
        return decode_all(samples, preprocessor, workers, on_batch)
    path = Path(cache_dir) / f"pixels-{cache_key(samples, preprocessor)}.npy"
    if path.exists():
        return np.load(path)
    pixels = decode_all(samples, preprocessor, workers, on_batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_path(path) as temporary, open(temporary, "wb") as fh:
        np.save(fh, pixels)
    return pixels


def cache_key(samples: Sequence[Sample], preprocessor: Preprocessor) -> str:
    """A digest of every file's path, size and mtime, and of the preprocessor's pixel rule: any change, new key."""
    digest = hashlib.sha256()
    digest.update(json.dumps(preprocessor.pixel_rule()).encode())
    for sample in samples:
        stat = os.stat(sample.path)
        digest.update(f"{sample.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]


def decode_native(samples: Sequence[Sample], preprocessor: Preprocessor, max_side: int,
                  on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Decode every sample once at its own resolution (sides above `max_side` shrunk to it), for a crop model.
    Unreadable images stop the run with a list of them."""
    images, errors = [], []
    for index, sample in enumerate(samples):
        try:
            images.append(preprocessor.load_native(sample.path, max_side))
        except ImageDecodeError as exc:
            errors.append(f"{sample.path}: {exc.reason}")
        if on_batch and (index + 1) % 256 == 0:
            on_batch(256)
    if on_batch:
        on_batch(len(samples) % 256)
    refuse_unreadable(errors)
    return images


def crop_batches(images: Sequence[np.ndarray], targets: np.ndarray, order: Sequence[int], batch_size: int,
                 preprocessor: Preprocessor, generator: torch.Generator | None) -> Iterator[Batch]:
    """Training batches of a crop model: one random native-resolution crop of the input size per image (images
    smaller than it padded by reflection), the offsets drawn from the epoch's generator."""
    order = np.asarray(order)
    height, width = preprocessor.height, preprocessor.width
    for start in range(0, len(order), batch_size):
        index = order[start: start + batch_size]
        crops = []
        for i in index:
            image = pad_to(images[i], height, width)
            dy = int(torch.randint(0, image.shape[0] - height + 1, (1,), generator=generator))
            dx = int(torch.randint(0, image.shape[1] - width + 1, (1,), generator=generator))
            crops.append(image[dy: dy + height, dx: dx + width])
        yield np.stack(crops), targets[index]


def tile_batches(images: Sequence[np.ndarray], targets: np.ndarray, order: Sequence[int], batch_size: int,
                 preprocessor: Preprocessor) -> Iterator[Batch]:
    """Evaluation batches of a crop model: each image's K tiles (consecutive), exactly as a scan makes them."""
    order = np.asarray(order)
    for start in range(0, len(order), batch_size):
        index = order[start: start + batch_size]
        yield (np.concatenate([tiles_of(images[i], preprocessor.height, preprocessor.width, preprocessor.tiles)
                               for i in index]), targets[index])


def memory_batches(pixels: np.ndarray, targets: np.ndarray, order: Sequence[int], batch_size: int) -> Iterator[Batch]:
    """Batches from decoded pixels, in `order`."""
    order = np.asarray(order)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        yield pixels[index], targets[index]


def file_batches(samples: Sequence[Sample], preprocessor: Preprocessor, order: Sequence[int], batch_size: int,
                 workers: int) -> Iterator[Batch]:
    """Batches decoded from the files on every pass (no cache), by `workers` DataLoader processes."""
    for pixels, targets, errors in _loader(PixelDataset(samples, preprocessor), order, batch_size, workers):
        failed = next((e for e in errors if e), None)
        if failed:
            raise ImgcheckError(f"training image cannot be read: {failed}")
        yield pixels, targets


def to_model_input(pixels: np.ndarray, preprocessor: Preprocessor, augment: tuple[str, ...] = (),
                   generator: torch.Generator | None = None, augment_p: float = 0.1) -> torch.Tensor:
    """Augment (training only; `imgcheck.trainer.augment`) and normalise a uint8 batch into the model's float32
    (B, 3, H, W) input."""
    if augment:
        pixels = augment_batch(pixels, augment, generator, augment_p)
    return torch.from_numpy(preprocessor.normalize(np.ascontiguousarray(pixels)))


def _collate(items: list[tuple[np.ndarray, float, str]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    pixels, targets, errors = zip(*items)
    return np.stack(pixels), np.asarray(targets, dtype=np.float32), list(errors)


def _loader(dataset: PixelDataset, order: Sequence[int], batch_size: int, workers: int) -> DataLoader:
    # A generator of its own: the loader's worker seeds must not consume the global RNG that dropout uses,
    # or decoding every epoch would train differently from decoding once.
    return DataLoader(dataset, batch_size=batch_size, sampler=list(order), num_workers=workers, collate_fn=_collate,
                      generator=torch.Generator().manual_seed(0))
