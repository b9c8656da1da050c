"""The one atomic-write helper: write beside the destination under a temporary name, rename over it only when
everything was written, and leave nothing behind when anything fails."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def staged_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for the caller to write; renamed onto `path` when the block ends without an
    error, removed otherwise (as it is if the rename itself fails)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    with staged_path(path) as temporary:
        with open(temporary, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
