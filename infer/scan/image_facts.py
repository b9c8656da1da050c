"""What a scan records about each readable file beside its verdict: the stored image's size and, unless
--no-provenance, its provenance findings; read from the image the decoder opened (`FactsProbe`)."""

from __future__ import annotations

import functools
from typing import BinaryIO, NamedTuple

from PIL import Image


class ImageFacts(NamedTuple):
    """The `width`, `height` and `provenance` columns of one readable file (a NamedTuple: one per file travels
    from the decoding workers, and pickles twice as fast as a dataclass)."""

    width: int
    height: int
    provenance: str = ""


class FactsProbe:
    """The preprocessor's `inspect` callback for one file: records its ImageFacts (None until the file opened)."""

    def __init__(self, provenance: bool) -> None:
        self.provenance = provenance
        self.facts: ImageFacts | None = None

    def __call__(self, img: Image.Image, stored_size: tuple[int, int], stream: BinaryIO) -> None:
        self.facts = ImageFacts(stored_size[0], stored_size[1], _read()(img, stream) if self.provenance else "")


@functools.cache
def _read():  # noqa: ANN202 - read_provenance, imported on first use (defusedxml, c2pa's module) and kept
    from imgcheck.infer.provenance.read import read_provenance

    return read_provenance
