"""Find the images to scan: a lazy, deterministic walk that never stops on a bad entry.

Order: the PATH arguments in the order given; inside a folder, entries sorted by name, files before
sub-folders are entered. A PATH argument that names nothing is refused before the scan starts (`missing_paths`).
Inside folders, a file is chosen by its image extension (a broken link or an unreadable `x.jpg` then gets an ERROR
row) or, without one, by its content (image magic bytes): a JPEG named `IMG_0001` is scanned, `notes.txt` is
skipped. A FIFO, socket or device is never opened: with an image extension it gets an ERROR row, without one it
is skipped. Files named explicitly are always scanned.

Nothing is skipped silently: every file inside a folder that is not scanned for not being an image (files left out
by --include/--exclude are the user's choice, not counted) is handed to `on_skip`, which the scan counts by suffix
and, with --list-skipped, writes down.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from imgcheck.infer.image_files import has_image_suffix
from imgcheck.infer.regular_files import open_regular_file
from imgcheck.infer.remote_files import is_uri

SkipSink = Callable[[str], None]  # receives the path of each file skipped inside a folder

_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"P1", b"P2",
          b"P3", b"P4", b"P5", b"P6", b"\x00\x00\x01\x00")


@dataclass(frozen=True)
class Selection:
    """Which files inside folders are scanned."""

    recursive: bool = True
    include: tuple[str, ...] = ()  # glob patterns on the file name or the path; any must match
    exclude: tuple[str, ...] = ()  # glob patterns on the file name or the path; none may match

    def wants(self, path: str) -> bool:
        if not (self.include or self.exclude):
            return True  # no patterns: every file (the common case; asked once per file)
        name = os.path.basename(path)

        def hit(pattern: str) -> bool:
            return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern)

        if self.include and not any(hit(p) for p in self.include):
            return False
        return not any(hit(p) for p in self.exclude)


def discover(paths: Iterable[str], selection: Selection = Selection(), on_skip: SkipSink | None = None
             ) -> Iterator[str]:
    """Yield every file to scan under `paths` (files, folders or glob patterns), lazily and in a stable order;
    `on_skip` gets each file inside a folder that is skipped for not being an image."""
    for path in paths:
        if os.path.isdir(path):
            yield from _walk(path, selection, set(), on_skip)
        elif os.path.lexists(path):
            yield path  # named explicitly: scanned whatever it is
        elif glob.has_magic(path):
            for match in sorted(glob.iglob(path, recursive=True)):
                if os.path.isdir(match):
                    yield from _walk(match, selection, set(), on_skip)
                elif selection.wants(match):
                    yield match
        else:
            yield path  # gone since the scan checked it (`missing_paths`): an ERROR row, not silently dropped


def missing_paths(paths: Iterable[str]) -> list[str]:
    """The PATH arguments that name nothing: not a file, folder or link, not a glob pattern, not a URI (which the Ray
    engine lists). A scan refuses them before any work; a path read from a list (--files-from) that is missing
    still gets an ERROR row, as a file that vanishes mid-scan does."""
    return [path for path in paths if not (os.path.lexists(path) or glob.has_magic(path) or is_uri(path))]


def read_file_list(lines: Iterable[str]) -> Iterator[str]:
    """Paths from --files-from: one per line, blank lines and trailing newlines ignored."""
    for line in lines:
        path = line.rstrip("\r\n")
        if path:
            yield path


def looks_like_image(path: str) -> bool:
    """True for an image extension (its content is checked when decoding: a bad one becomes an ERROR row),
    or for any other file that starts with an image signature."""
    if has_image_suffix(path):
        return True
    try:
        with open_regular_file(path) as fh:  # a FIFO or device is never read
            head = fh.read(16)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:8] == b"ftyp"


def _walk(folder: str, selection: Selection, visited: set[tuple[int, int]], on_skip: SkipSink | None
          ) -> Iterator[str]:
    try:
        info = os.stat(folder)
    except OSError:
        return
    key = (info.st_dev, info.st_ino)
    if key in visited:  # a symlink loop: each real folder is walked once
        return
    visited.add(key)
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError:
        return
    subfolders = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            subfolders.append(entry.path)
        elif selection.wants(entry.path):
            if looks_like_image(entry.path):
                yield entry.path
            elif on_skip is not None:
                on_skip(entry.path)
    if selection.recursive:
        for sub in subfolders:
            yield from _walk(sub, selection, visited, on_skip)
