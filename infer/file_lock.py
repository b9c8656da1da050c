"""One process at a time: an exclusive lock held through a lock file, the kernel's (`fcntl.flock`).

A holder that dies, even by kill -9, lets go with it, so a lock file left behind is simply taken again: there is no
stale check to race on. The holder removes the file as it lets go, while still holding it; a process that opened the
file meanwhile sees it gone and locks the new one. Scans lock their output file with it, training runs their folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from imgcheck.infer.errors import ImgcheckError

try:
    import fcntl
except ImportError:  # Windows: no flock; nothing is locked there
    fcntl = None  # type: ignore[assignment]

_LOCK_TRIES = 100  # each retry means another holder let go of the lock file between our open and our lock


@contextlib.contextmanager
def lock_file(lock: str, target: str, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold the lock file `lock` (created if missing) for the work on `target`, or refuse with one clear error:
    `busy(owner)` while another process holds it (`owner` is ' (pid N)', or '' before the holder wrote its pid), or
    why the file system would not lock it."""
    if fcntl is None:
        yield
        return
    fd = _take(lock, target, busy)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still holding it (see the module's docstring)
        os.close(fd)


def flock_now(fd: int, path: str, target: str, busy: Callable[[], str]) -> None:
    """Take an exclusive flock on `fd` (the file `path`) without waiting; when it cannot be had, close `fd` and
    refuse with `busy()` (another process holds it) or with why the file system would not lock it."""
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        message = busy()  # before the close: it may read the holder's pid from `fd`
        os.close(fd)
        raise ImgcheckError(message) from None
    except OSError as exc:  # e.g. ENOLCK: a network file system without a lock service
        os.close(fd)
        raise ImgcheckError(f"cannot write {target}: cannot lock {path}: {exc.strerror or exc}; use a file system "
                            "that supports locks (a local disk).") from None


def _take(lock: str, target: str, busy: Callable[[str], str]) -> int:
    """Open `lock`, take its flock and write our pid into it; returns the descriptor that holds it."""
    for _ in range(_LOCK_TRIES):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise ImgcheckError(f"cannot write {target}: cannot create its lock {lock}: {exc.strerror or exc}")
        flock_now(fd, lock, target, lambda: busy(_owner(fd)))
        try:
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed the file as it let go: lock the one at `lock` now
    raise ImgcheckError(f"cannot take the lock {lock}: other processes keep taking it; try again.")


def _owner(fd: int) -> str:
    """' (pid N)' from the lock file's text, or '' if it has none yet."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text:
            return f" (pid {int(text)})"
    return ""
