"""Where a scan's rows go: the verdict file (or stdout, or a device) with its lock, its sidecar, and clear errors
for every way writing can fail (a missing folder, a full disk, a live second scan, a reader that went away).

The lock is the kernel's (`fcntl.flock`), so a scan that dies, even by kill -9, lets go of it with no stale check
to race on. It is keyed on the file, not on the text of `--out`: the lock file `<out>.lock` lies beside the file
`--out` resolves to (a symlink and its target share it, and so does the same folder reached through two mounts), and
the output file itself is locked too (two hard links of one file share it).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from imgcheck.infer.errors import ExitCode, ImgcheckError
from imgcheck.infer.atomic_write import write_json
from imgcheck.infer.file_lock import flock_now, lock_file
from imgcheck.infer.scan.discover import SkipSink
from imgcheck.infer.scan.verdict_formats import (ClassColumnsMismatch, OutputFormat, OutputWriteError, Row, VerdictSink,
                                                open_output)


class OutputClosed(ImgcheckError):
    """The reader of a stream output went away (`--out - | head`): the scan stops, quietly (exit 141, as a shell
    reports a process ended by SIGPIPE)."""

    exit_code = ExitCode.OUTPUT_CLOSED

    def __init__(self, out: str, rows: int) -> None:
        self.out, self.rows = out, rows
        super().__init__(f"the reader of {_target(out)} closed it after {rows:,} rows; the scan stopped")


class ScanInterrupted(ImgcheckError):
    """The scan was interrupted (Ctrl-C). `rows` complete rows are in `out` (None: it had not begun writing);
    `resumable` says whether `--resume` can finish it (a regular file can, a stream cannot). Exit 130."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, out: str | None, rows: int | None, resumable: bool) -> None:
        self.out, self.rows, self.resumable = out, rows, resumable
        if rows is None or out is None:
            message = "interrupted before the scan wrote any row; run it again to scan"
        elif resumable:
            message = f"interrupted: {out} holds {rows:,} complete rows; to finish the scan, run it again with --resume"
        else:
            message = (f"interrupted after {rows:,} rows were written to {_target(out)}, which cannot be resumed; run "
                       "the scan again (with --out FILE, an interrupted scan can be finished with --resume)")
        super().__init__(message)


@dataclasses.dataclass
class ResumePlan:
    """--resume: which rows of the file are kept, and what is left to scan. `files` lists every file this scan
    would scan, in order; it is called once, when the file is opened, so the folders are still walked once. A kept
    row whose path is not one of them (a torn or interleaved row, a row of other inputs) or that repeats one
    already kept is dropped, and counted in `dropped`."""

    files: Callable[[], Iterable[str]]
    rest: list[str] = dataclasses.field(default_factory=list)  # the files still to scan, in order
    dropped: int = 0

    def keep(self, rows: list[Row]) -> list[Row]:
        files = list(self.files())
        wanted = collections.Counter(files)
        kept = []
        for row in rows:
            if wanted[row.path] > 0:
                wanted[row.path] -= 1
                kept.append(row)
        done = collections.Counter(row.path for row in kept)
        self.rest = []
        for path in files:
            if done[path] > 0:
                done[path] -= 1
            else:
                self.rest.append(path)
        self.dropped = len(rows) - len(kept)
        return kept


@contextlib.contextmanager
def open_verdict_output(out: str, fmt: OutputFormat, resume: bool, stream_output: bool, force: bool = False,
                        plan: ResumePlan | None = None) -> Iterator[tuple[VerdictSink, list[Row]]]:
    """The verdict sink and the rows already done (with `resume`: those `plan` keeps); holds the output's lock while
    writing a regular file. An existing file with rows is replaced only with `force`."""
    if stream_output:
        with contextlib.ExitStack() as stack:
            try:
                if out == "-":
                    sys.stdout.flush()
                    stream = sys.stdout.buffer
                else:
                    stream = stack.enter_context(open(out, "wb", buffering=0))
                sink = VerdictSink(stream, fmt)
                sink.write_text(fmt.header())
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    raise OutputClosed(out, 0) from None
                raise ImgcheckError(f"cannot write {out}: {exc.strerror or exc}")
            yield sink, []
        return
    with output_lock(out):
        if not (resume or force):
            _refuse_overwrite(out, fmt)
        try:
            done = _rows_in(out, fmt) if resume else []
            if plan is not None:
                done = plan.keep(done)
            sink, _ = open_output(out, fmt, False)
        except ClassColumnsMismatch as exc:
            raise ImgcheckError(f"cannot resume {out}: {exc}, or scan without --resume to start afresh.")
        except (OSError, ValueError) as exc:
            raise ImgcheckError(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}")
        with sink.stream:
            try:
                sink.write(done)  # the kept rows, written back whole (a torn last row is left out)
            except OSError as exc:
                raise ImgcheckError(f"cannot write {out}: {exc.strerror or exc}")
            yield sink, done


def write_rows(sink: VerdictSink, rows: list[Row], out: str) -> None:
    """Write one batch of rows; a failed write is one clear error that says how to finish, as far as the target
    allows (a stream cannot be resumed), and a reader that went away ends the scan quietly (`OutputClosed`)."""
    try:
        sink.write(rows)
    except OutputWriteError as exc:
        if exc.errno == errno.EPIPE:
            raise OutputClosed(out, exc.rows_kept) from None
        if out == "-" or is_special_file(out):
            raise ImgcheckError(f"cannot write {out}: {exc.strerror}. {exc.rows_kept:,} rows were written before "
                                f"it failed; {_target(out)} cannot be resumed: scan again with --out FILE (a regular "
                                "file, which --resume can finish after a failure).") from None
        raise ImgcheckError(f"cannot write {out}: {exc.strerror}. The {exc.rows_kept:,} rows before this batch are "
                            "complete; make room and rerun with --resume to finish.") from None


def write_sidecar(path: str, record: dict[str, Any]) -> None:
    """Write the scan's `<out>.json` record, or fail with one clear error."""
    try:
        write_json(path, record)
    except OSError as exc:
        raise ImgcheckError(f"cannot write the scan record {path}: {exc.strerror or exc}")


def _format_written(out: str, fmt: OutputFormat) -> OutputFormat:
    """The format that wrote `out`, by its sidecar: resume must decode the kept rows as they were escaped. A sidecar
    without the field is from before CSV escaping existed (raw); without a sidecar, assume the current format."""
    try:
        with open(f"{out}.json") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return fmt
    if not isinstance(record, dict):
        return fmt
    return dataclasses.replace(fmt, formula_escape=bool(record.get("csv_formula_escape", False)))


def check_resume_provenance(out: str, provenance: bool) -> None:
    """--resume keeps the rows already in `out`: refuse when they were scanned with provenance on and this run has
    it off, or the other way round (the provenance column would mean two things in one file)."""
    try:
        with open(f"{out}.json") as fh:
            record = json.load(fh)
        before = record["provenance"]["checked"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no record, or one from before provenance existed
    if isinstance(before, bool) and before != provenance:
        was, flag = ("on", "drop --no-provenance") if before else ("off", "add --no-provenance")
        raise ImgcheckError(f"cannot resume {out}: its rows were scanned with provenance {was}; {flag} to finish it, "
                            "or scan without --resume to start afresh.")


def is_special_file(path: str) -> bool:
    """True for an existing output that is not a regular file (/dev/full, /dev/null, a FIFO)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def check_folder_exists(out: str) -> None:
    """A clear error when `out` would land in a folder that does not exist."""
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ImgcheckError(f"cannot write {out}: the folder {folder} does not exist; create it or choose another "
                            "--out.")


@contextlib.contextmanager
def output_lock(out: str) -> Iterator[None]:
    """Hold the lock of the file `out` resolves to, or fail with one clear error while another scan holds it. The
    kernel drops the lock when its holder dies (kill -9 included), so a lock file left behind is simply taken."""
    def busy(owner: str) -> str:
        return f"another imgcheck scan{owner} is writing {_named(out)}; wait for it to finish or choose another --out."

    with lock_file(lock_path(out), out, busy):
        file_fd = _lock_output_file(out)
        try:
            yield
        finally:
            os.close(file_fd)


def lock_path(out: str) -> str:
    """`<out>.lock` beside the file `out` resolves to (through symlinks, the file's own included, even one whose
    target does not exist yet)."""
    return os.path.realpath(out) + ".lock"


def _lock_output_file(out: str) -> int:
    """Lock the output file itself (created if missing, as writing it would), for names that reach it through a hard
    link; returns the descriptor that holds the lock."""
    try:
        fd = os.open(out, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise ImgcheckError(f"cannot write {out}: {exc.strerror or exc}")
    flock_now(fd, out, out, lambda: f"another imgcheck scan is writing {out} under another name (a hard link); wait "
                                    "for it to finish or choose another --out.")
    return fd


def _named(out: str) -> str:
    """`out`, and the file it resolves to when that has another name."""
    real = os.path.realpath(out)
    return out if real == os.path.abspath(out) else f"{out} (that is, {real})"


def _refuse_overwrite(out: str, fmt: OutputFormat) -> None:
    """An existing file with anything in it but this format's header is never replaced silently (it may hold an
    interrupted scan's rows, or be another file altogether)."""
    header = fmt.header().encode()
    try:
        with open(out, "rb") as fh:
            start = fh.read(len(header) + 1)
    except OSError:
        return  # missing, or unreadable: opening it for writing says what is wrong
    if start in (b"", header):
        return
    raise ImgcheckError(f"{out} already exists and holds rows (perhaps of an interrupted scan); add --resume to keep "
                        "them and scan only the rest, or --force to replace the file.")


def _rows_in(out: str, fmt: OutputFormat) -> list[Row]:
    """The complete rows already in `out` (none if it does not exist or is empty: a scan killed between taking
    the lock, which creates the file, and writing the header), read as the format that wrote them."""
    if not os.path.exists(out) or os.path.getsize(out) == 0:
        return []
    with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return _format_written(out, fmt).decode(fh.read())


def _target(out: str) -> str:
    return "stdout" if out == "-" else out


@contextlib.contextmanager
def skip_list(path: str | None) -> Iterator[SkipSink | None]:
    """`--list-skipped FILE`: a sink that writes each skipped path on its own line (None without the option)."""
    if path is None:
        yield None
        return
    try:
        stream = open(path, "w", encoding="utf-8", errors="surrogateescape", newline="\n")
    except OSError as exc:
        raise ImgcheckError(f"cannot write --list-skipped {path}: {exc.strerror or exc}")
    with stream:
        def write(skipped: str) -> None:
            try:
                stream.write(skipped + "\n")
            except OSError as exc:
                raise ImgcheckError(f"cannot write --list-skipped {path}: {exc.strerror or exc}")

        yield write
