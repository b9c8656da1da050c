"""Where a scan's rows go: the verdict file (or stdout, or a device) with its lock, its sidecar, and clear errors
for every way writing can fail (a missing folder, a full disk, a live second scan)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.atomic_write import write_json
from imgcheck.infer.scan.discover import SkipSink
from imgcheck.infer.scan.verdict_formats import (ClassColumnsMismatch, OutputFormat, OutputWriteError, Row, VerdictSink,
                                                open_output)


@contextlib.contextmanager
def open_verdict_output(out: str, fmt: OutputFormat, resume: bool, stream_output: bool
                        ) -> Iterator[tuple[VerdictSink, list[Row]]]:
    """The verdict sink and the rows already done; holds `<out>.lock` while writing a regular file."""
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
                raise ImgcheckError(f"cannot write {out}: {exc.strerror or exc}")
            yield sink, []
        return
    lock = f"{out}.lock"
    _take_lock(lock)
    try:
        try:
            sink, done = open_output(out, fmt, resume, _format_written(out, fmt) if resume else None)
        except ClassColumnsMismatch as exc:
            raise ImgcheckError(f"cannot resume {out}: {exc}, or scan without --resume to start afresh.")
        except (OSError, ValueError) as exc:
            raise ImgcheckError(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}")
        with sink.stream:
            yield sink, done
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)


def write_rows(sink: VerdictSink, rows: list[Row], out: str) -> None:
    """Write one batch of rows; a failed write is one clear error that says how to finish."""
    try:
        sink.write(rows)
    except OutputWriteError as exc:
        raise ImgcheckError(f"cannot write {out}: {exc.strerror}. The {exc.rows_kept:,} rows before this batch are "
                            "complete; make room and rerun with --resume to finish.")


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


def _take_lock(lock: str) -> None:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and owner != os.getpid() and _alive(owner):
                raise ImgcheckError(f"another imgcheck scan (pid {owner}) is writing {lock[:-5]}; wait for it to "
                                    "finish or choose another --out.")
            with contextlib.suppress(OSError):
                os.unlink(lock)  # left behind by a scan that was killed
            continue
        except OSError as exc:
            raise ImgcheckError(f"cannot write {lock[:-5]}: {exc.strerror or exc}")
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return
    raise ImgcheckError(f"cannot take the lock {lock}")


def _lock_owner(lock: str) -> int | None:
    try:
        with open(lock) as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
