"""What a scan records about each file beside its verdict: the stored image's size and, unless --no-provenance,
its provenance findings; read from the image the decoder opened (`FactsProbe`). A file the decoder cannot read has
no size, but keeps the provenance its metadata still gives (`FactsProbe.unreadable`)."""

from __future__ import annotations

import functools
from typing import BinaryIO, NamedTuple

from PIL import Image


class ImageFacts(NamedTuple):
    """The `width`, `height` and `provenance` columns of one file: all three for a readable file, the provenance
    alone (width and height None) for one that got an ERROR row (a NamedTuple: one per file travels from the
    decoding workers, and pickles twice as fast as a dataclass)."""

    width: int | None
    height: int | None
    provenance: str = ""


class FactsProbe:
    """The preprocessor's `inspect` callback for one file: records its ImageFacts (None until the file opened)."""

    def __init__(self, provenance: bool) -> None:
        self.provenance = provenance
        self.facts: ImageFacts | None = None

    def __call__(self, img: Image.Image, stored_size: tuple[int, int], stream: BinaryIO) -> None:
        self.facts = ImageFacts(stored_size[0], stored_size[1], _read()(img, stream) if self.provenance else "")

    def unreadable(self, source: object) -> ImageFacts | None:
        """The facts of a file that gets an ERROR row (`source`: what was read, None if even that failed): its
        provenance alone, as read when the file decoded (and failed later), else from the file without decoding it
        (`read_unreadable`); None when there is none, or under --no-provenance."""
        if not self.provenance or source is None:
            return None
        found = self.facts.provenance if self.facts is not None else _read_unreadable()(source)
        return ImageFacts(None, None, found) if found else None


@functools.cache
def _read():  # noqa: ANN202 - read_provenance, imported on first use (defusedxml, c2pa's module) and kept
    from imgcheck.infer.provenance.read import read_provenance

    return read_provenance


@functools.cache
def _read_unreadable():  # noqa: ANN202 - read_unreadable, imported on first use like `_read`
    from imgcheck.infer.provenance.read import read_unreadable

    return read_unreadable
