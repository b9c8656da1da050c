"""Open a path only if it is a regular file: a FIFO, socket or device named like an image must never block a scan
(opening a FIFO for reading waits for a writer) or feed it endless bytes (/dev/zero)."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


class NotRegularFileError(OSError):
    """The path exists but is a FIFO, socket, device or directory; `kind` names which."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for binary reading without blocking, and refuse anything that is not a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise NotRegularFileError(os.fsdecode(path), kind)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
