"""What a scan's picture gallery shows, collected as rows stream by in bounded memory: the `limit` rows with the
highest p_fake, the most confident mistakes of each kind among labeled rows, and a histogram of every p_fake.

A row costs nothing once it has left the top `limit`: memory holds at most `limit` + 2 × `mistakes` rows and the
histogram's bins, however many files the scan has.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from imgcheck.infer.verdicts import ERROR, FAKE, REAL, Row

HISTOGRAM_BINS = 50
DEFAULT_LIMIT = 200


@dataclass(frozen=True)
class GalleryItem:
    """One image to show: its row and, when labeled, its true class (REAL or FAKE)."""

    row: Row
    label: str | None = None


class _Top:
    """The `size` items with the largest keys; ties keep the earlier item."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[float, int, GalleryItem]] = []

    def offer(self, key: float, order: int, item: GalleryItem) -> None:
        entry = (key, -order, item)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, entry)
        elif self.size and entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def ranked(self) -> list[GalleryItem]:
        return [item for *_, item in sorted(self._heap, key=lambda e: e[:2], reverse=True)]


@dataclass
class Gallery:
    """Collects what the gallery shows; `add` every row (kept rows of a --resume too), in scan order."""

    limit: int = DEFAULT_LIMIT
    label_of: Callable[[str], int | None] | None = None  # 1 FAKE, 0 REAL, None unlabeled
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, np.int64))
    rows: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self.mistake_limit = max(1, self.limit // 10) if self.limit else 0
        self._top = _Top(self.limit)
        self._false_fake = _Top(self.mistake_limit)  # REAL images called FAKE, highest p_fake first
        self._false_real = _Top(self.mistake_limit)  # FAKE images called REAL, lowest p_fake first

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            order = self.rows
            self.rows += 1
            if row.verdict == ERROR or row.p_fake is None:
                self.errors += 1
                continue
            p = row.p_fake
            self.histogram[min(int(p * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)] += 1
            label = self.label_of(row.path) if self.label_of is not None else None
            item = GalleryItem(row, None if label is None else (FAKE if label else REAL))
            self._top.offer(p, order, item)
            if label == 0 and row.verdict == FAKE:
                self._false_fake.offer(p, order, item)
            elif label == 1 and row.verdict == REAL:
                self._false_real.offer(-p, order, item)

    @property
    def scored(self) -> int:
        return self.rows - self.errors

    def ranked(self) -> list[GalleryItem]:
        """The shown images, most FAKE first."""
        return self._top.ranked()

    def false_fakes(self) -> list[GalleryItem]:
        """REAL images called FAKE, most confident first."""
        return self._false_fake.ranked()

    def false_reals(self) -> list[GalleryItem]:
        """FAKE images called REAL, most confident (lowest p_fake) first."""
        return self._false_real.ranked()
