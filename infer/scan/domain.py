"""Domain notes: how many scanned images are far outside the sizes the model was trained on.

The training sizes come from ModelMeta (`provenance.train_image_sizes`); a model without that record is judged by
its input size instead (a resize model's training images were at least shrunk to it), and the warning says so.
A crop model (native-resolution tiles) without the record gets no warning: its input size says nothing about the
images it was trained on. "Far outside" is a side more than FAR times the largest training side, or below
1/FAR of the smallest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.scan.verdict_formats import Row

FAR = 4


@dataclass(frozen=True)
class TrainingSizes:
    """The smallest and largest (H, W) the model was trained on; `recorded` False when taken from its input size."""

    smallest: tuple[int, int]
    largest: tuple[int, int]
    recorded: bool

    @classmethod
    def of(cls, meta: ModelMeta) -> TrainingSizes | None:
        """From the model's ModelMeta; None for a crop model that does not record them."""
        sizes = meta.provenance.train_image_sizes
        if sizes is not None:
            return cls(sizes[0], sizes[1], True)
        if meta.fit != "resize":
            return None
        _, height, width = meta.input_size
        return cls((height, width), (height, width), False)

    def describe(self) -> str:
        """'trained on 32×32 images', or the range; with the fallback, what it is based on."""
        low, high = _wxh(self.smallest), _wxh(self.largest)
        if not self.recorded:
            return f"the model takes {low} inputs (its ModelMeta does not record its training images' sizes)"
        return f"trained on {low} images" if low == high else f"trained on images from {low} to {high}"

    def larger(self, width: int, height: int) -> bool:
        return width > FAR * self.largest[1] or height > FAR * self.largest[0]

    def smaller(self, width: int, height: int) -> bool:
        return width * FAR < self.smallest[1] or height * FAR < self.smallest[0]


@dataclass
class SizeCheck:
    """Counts, over scanned rows, of images far larger or far smaller than the training sizes."""

    sizes: TrainingSizes | None
    sized: int = 0
    larger: int = 0
    smaller: int = 0

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if row.width is None or row.height is None:
                continue
            self.sized += 1
            if self.sizes is not None:
                self.larger += self.sizes.larger(row.width, row.height)
                self.smaller += self.sizes.smaller(row.width, row.height)

    def warnings(self) -> list[str]:
        """One line per direction in which some images are far outside, e.g. "trained on 32×32 images; 25 of 25
        images here are larger than 4× that: their verdicts are unreliable, see MODEL_CARD.md"."""
        if self.sizes is None:
            return []
        lines = []
        for count, what in ((self.larger, f"larger than {FAR}× that"), (self.smaller, f"smaller than 1/{FAR} of that")):
            if count:
                lines.append(f"{self.sizes.describe()}; {count:,} of {self.sized:,} images here are {what}: their "
                             "verdicts are unreliable, see MODEL_CARD.md")
        return lines

    def record(self) -> dict[str, Any]:
        """The sidecar's `domain` entry."""
        sizes = self.sizes
        return {"train_image_sizes": None if sizes is None else [list(sizes.smallest), list(sizes.largest)],
                "recorded": None if sizes is None else sizes.recorded, "factor": FAR, "sized": self.sized,
                "larger": self.larger, "smaller": self.smaller}


def _wxh(size: tuple[int, int]) -> str:
    height, width = size
    return f"{width}×{height}"
