"""Torch datasets over image files, fed by the one shared preprocessing path (imgcheck.infer.preprocess)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor


class LabeledImageFiles(Dataset):
    """(image tensor, label) pairs for files labelled by class index (index into meta.class_names).

    Each item is exactly what inference computes for the same file: Preprocessor.load_pixels then
    Preprocessor.normalize, so training and serving see identical pixels.
    """

    def __init__(self, samples: Sequence[tuple[str | os.PathLike, int]], meta: ModelMeta) -> None:
        self.samples = list(samples)
        self.meta = meta
        self.preprocessor = Preprocessor.from_meta(meta)
        positive = meta.class_names.index(meta.positive_class)
        self._targets = [float(label == positive) for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, _ = self.samples[index]
        image = torch.from_numpy(self.preprocessor(path))
        return image, torch.tensor(self._targets[index], dtype=torch.float32)
