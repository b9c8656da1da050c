"""Verdict rows and their two output formats (one writer table), with resume support.

CSV header is exactly `path,p_fake,verdict,error,width,height,provenance,domain`; JSONL lines carry the same eight
fields. `width` and `height` are the stored image's size, `provenance` its findings (`SOURCE:CLAIM(DETAIL)`,
`;`-separated) and `domain` how that size stands to the model's training sizes (`ok`, `out:<reason>`, `unknown`:
`domain.py`); size and domain are empty on ERROR rows, whose provenance is what the unreadable file's metadata
still says (often nothing). Files written before those columns existed are still read back,
for --resume: the first four alone (their kept rows get empty size, provenance and domain), or the first seven
(their kept rows get the domain the format's `fill_domain` gives their size, the scan's own rule, so a resumed file
reads as one scanned whole). Paths that are not valid UTF-8 survive a round trip: they are written with
surrogateescape (CSV) or as JSON escapes.

A format made with `class_names` (--keep-classes) also writes each class's probability, 6 decimals like p_fake:
one `p:<class name>` column per class after the eight (CSV), or a `classes` object {name: p} (JSONL); empty cells
or null on ERROR rows. Reading a file back (--resume) refuses one whose class columns are not these
(`ClassColumnsMismatch`).

Spreadsheet safety (on by default): a CSV cell that starts with `=`, `+`, `-`, `@`, tab or carriage return
(OWASP's formula triggers), or with `'` itself, gets one leading `'`. Spreadsheets then show it as text instead
of running it as a formula, and the escape stays reversible: a reader strips one leading `'` (`decode` does).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar, Union

from imgcheck.infer.verdicts import ERROR, FAKE, REAL, VERDICTS, Row  # noqa: F401 - re-exported for writers' users

FIELDS = ("path", "p_fake", "verdict", "error", "width", "height", "provenance", "domain")
LEGACY_FIELDS = FIELDS[:4]  # the header before width, height and provenance
SIZED_FIELDS = FIELDS[:7]  # the header before domain
LAYOUTS = (FIELDS, SIZED_FIELDS, LEGACY_FIELDS)  # every header a verdict file has had, newest first
DomainFill = Callable[[Union[int, None], Union[int, None]], Union[str, None]]  # (width, height) -> domain
CLASS_COLUMN_PREFIX = "p:"  # a class's CSV column: p:<class name> (never a formula trigger, so never escaped)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"
_ESCAPED_STARTS = (*FORMULA_TRIGGERS, _ESCAPE)
_NEEDS_QUOTES = re.compile('[,"\r\n]')  # a cell holding any of these is quoted


def escape_formula(cell: str) -> str:
    """`cell` with one leading `'` if a spreadsheet would read it as a formula (or it starts with `'`)."""
    return _ESCAPE + cell if cell.startswith(_ESCAPED_STARTS) else cell


def _quoted(cell: str) -> str:
    """RFC 4180 quoting. csv.writer with a "\\n" terminator would leave a lone "\\r" unquoted, and a reader
    would split the row there."""
    return '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell


def unescape_formula(cell: str) -> str:
    """Undo `escape_formula`."""
    return cell[1:] if cell.startswith(_ESCAPE) else cell


class ClassColumnsMismatch(ValueError):
    """A verdict file to resume carries other per-class columns than the scan that would finish it."""

    def __init__(self, found: tuple[str, ...], wanted: tuple[str, ...]) -> None:
        if not wanted:
            problem = "its rows carry per-class probabilities (it was scanned with --keep-classes); add --keep-classes"
        elif not found:
            problem = "its rows carry no per-class probabilities; drop --keep-classes"
        else:
            problem = (f"its per-class probabilities are of the classes {', '.join(map(repr, found))}, and this "
                       f"model's are {', '.join(map(repr, wanted))}; use the model that wrote it")
        super().__init__(f"{problem} to finish it")


def class_columns(class_names: Iterable[str]) -> tuple[str, ...]:
    """The CSV column of each class: `p:<class name>`."""
    return tuple(CLASS_COLUMN_PREFIX + name for name in class_names)


@dataclass(frozen=True)
class CsvFormat:
    """Verdict rows as CSV; `formula_escape` makes cells spreadsheet-safe (see the module docstring); one
    `p:<name>` column per name of `class_names` follows the eight fixed ones. `fill_domain` gives the domain of
    rows read back from a file written before the domain column (None: they keep none)."""

    formula_escape: bool = True
    class_names: tuple[str, ...] = ()
    fill_domain: DomainFill | None = field(default=None, compare=False, repr=False)
    name: ClassVar[str] = "csv"

    def header(self) -> str:
        return ",".join((*FIELDS, *map(_quoted, class_columns(self.class_names)))) + "\n"

    def encode(self, rows: Iterable[Row]) -> str:
        cell = escape_formula if self.formula_escape else str
        return "".join(f"{_quoted(cell(r.path))},{'' if r.p_fake is None else f'{r.p_fake:.6f}'},{r.verdict},"
                       f"{_quoted(cell(r.error))},{_size(r.width)},{_size(r.height)},{_quoted(cell(r.provenance))},"
                       f"{'' if r.domain is None else r.domain}{self._class_cells(r) if self.class_names else ''}\n"
                       for r in rows)

    def _class_cells(self, row: Row) -> str:
        """`,p` for each class of `class_names` (empty cells when the row has none: ERROR rows)."""
        if row.classes is None:
            return "," * len(self.class_names)
        return "".join(f",{row.classes[name]:.6f}" for name in self.class_names)

    def decode(self, text: str) -> list[Row]:
        """Complete rows of a CSV written by `encode`, or by an imgcheck before the last columns existed (after the
        header); a torn last row is dropped."""
        records = list(csv.reader(io.StringIO(text, newline="")))
        header = tuple(records[0]) if records else ()
        fields = next((layout for layout in LAYOUTS if header[:len(layout)] == layout), ())
        found = header[len(fields):] if fields != LEGACY_FIELDS else ()
        if not fields or header != fields + found or not all(c.startswith(CLASS_COLUMN_PREFIX) for c in found):
            raise ValueError("not an imgcheck verdicts CSV (header differs)")
        if found != class_columns(self.class_names):
            raise ClassColumnsMismatch(tuple(c[len(CLASS_COLUMN_PREFIX):] for c in found), self.class_names)
        if self.formula_escape:
            records[1:] = [[unescape_formula(c) for c in rec] for rec in records[1:]]
        width = len(records[0])
        rows = [_row(rec, len(fields), self.class_names, self.fill_domain) if len(rec) == width else None
                for rec in records[1:]]
        if rows and (rows[-1] is None or not text.endswith("\n")):
            rows.pop()  # torn by a kill: rewritten whole on resume
        if any(r is None for r in rows):
            raise ValueError("a row in the middle of the file is damaged")
        return rows


@dataclass(frozen=True)
class JsonlFormat:
    """Verdict rows as JSON lines (JSON needs no spreadsheet escaping; `formula_escape` is ignored); with
    `class_names`, each line also has `classes`: {name: p} in that order (null on ERROR rows). `fill_domain` as
    CsvFormat's, for lines written before `domain` existed."""

    formula_escape: bool = False
    class_names: tuple[str, ...] = ()
    fill_domain: DomainFill | None = field(default=None, compare=False, repr=False)
    name: ClassVar[str] = "jsonl"

    def header(self) -> str:
        return ""

    def encode(self, rows: Iterable[Row]) -> str:
        return "".join(json.dumps(self._record(r)) + "\n" for r in rows)

    def _record(self, r: Row) -> dict[str, object]:
        record: dict[str, object] = {
            "path": r.path, "p_fake": None if r.p_fake is None else round(r.p_fake, 6), "verdict": r.verdict,
            "error": r.error, "width": r.width, "height": r.height, "provenance": r.provenance, "domain": r.domain}
        if self.class_names:
            record["classes"] = (None if r.classes is None
                                 else {name: round(r.classes[name], 6) for name in self.class_names})
        return record

    def decode(self, text: str) -> list[Row]:
        rows = []
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if not line:
                continue
            try:
                data = json.loads(line)
                fields = FIELDS if "domain" in data else SIZED_FIELDS  # a line from before the domain field
                row = _row([data["path"], "" if data["p_fake"] is None else str(data["p_fake"]), data["verdict"],
                            data["error"], *(_text_of(data.get(k)) for k in fields[4:]),
                            *self._class_cells(data)], len(fields), self.class_names, self.fill_domain)
            except ClassColumnsMismatch:
                raise
            except (ValueError, KeyError, TypeError):
                row = None
            if row is None:
                if index >= len(lines) - 2:  # the last line, torn by a kill
                    break
                raise ValueError("a line in the middle of the file is damaged")
            rows.append(row)
        if rows and not text.endswith("\n"):
            rows.pop()
        return rows

    def _class_cells(self, data: dict) -> list[str]:
        """A line's `classes` as CSV cells ('' each for null), after checking it names `class_names`."""
        classes = data.get("classes")
        if ("classes" in data) != bool(self.class_names):
            raise ClassColumnsMismatch(tuple(classes) if isinstance(classes, dict) else (), self.class_names)
        if classes is None:
            return [""] * len(self.class_names)
        if not isinstance(classes, dict):
            raise ValueError("classes is not an object")
        if tuple(classes) != self.class_names:
            raise ClassColumnsMismatch(tuple(classes), self.class_names)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in classes.values()):
            raise ValueError("a class probability is not a number")
        return [repr(float(v)) for v in classes.values()]


OutputFormat = Union[CsvFormat, JsonlFormat]
OUTPUT_FORMATS: dict[str, type[CsvFormat] | type[JsonlFormat]] = {f.name: f for f in (CsvFormat, JsonlFormat)}


class OutputWriteError(OSError):
    """Writing verdict rows failed (disk full, ...); the file still ends at its last complete row."""

    def __init__(self, exc: OSError, rows_kept: int) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.rows_kept = rows_kept


class VerdictSink:
    """Appends encoded rows to a binary stream, one flushed write per batch. If a write fails (disk full), a
    regular file is cut back to the end of its last complete row, so what is there stays valid for --resume."""

    def __init__(self, stream: BinaryIO, fmt: OutputFormat, rows: int = 0) -> None:
        self.stream, self.fmt, self.rows = stream, fmt, rows
        self._good = self._position()

    def write(self, rows: list[Row]) -> None:
        """Encode and write `rows`; raises OutputWriteError (and rolls back) when the stream refuses them."""
        self.write_text(self.fmt.encode(rows))
        self.rows += len(rows)

    def write_text(self, text: str) -> None:
        data = memoryview(text.encode("utf-8", "surrogateescape"))
        try:
            while data:
                written = self.stream.write(data)
                data = data[written if written is not None else len(data):]
            self.stream.flush()
        except OSError as exc:
            self._roll_back()
            raise OutputWriteError(exc, self.rows) from exc
        self._good = self._position()

    def _position(self) -> int | None:
        try:
            return self.stream.tell() if self.stream.seekable() else None
        except (OSError, ValueError):
            return None

    def _roll_back(self) -> None:
        if self._good is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.stream.truncate(self._good)
            self.stream.seek(self._good)


def open_output(path: str, fmt: OutputFormat, resume: bool, written_with: OutputFormat | None = None
                ) -> tuple[VerdictSink, list[Row]]:
    """Open `path` for writing verdicts. With `resume`, keep its complete rows (decoded as `written_with`, the
    format that wrote them, then rewritten in `fmt`) and return them; otherwise start it afresh."""
    done: list[Row] = []
    if resume and os.path.exists(path):
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            done = (written_with or fmt).decode(fh.read())
    stream = open(path, "wb", buffering=0)
    sink = VerdictSink(stream, fmt)
    try:
        sink.write_text(fmt.header() + fmt.encode(done))
    except OSError:
        stream.close()
        raise
    sink.rows = len(done)
    return sink, done


def _size(value: int | None) -> str:
    return "" if value is None else str(value)


def _text_of(value: object) -> str:
    """A JSONL field as the CSV cell it would be ('' for null)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"unexpected value {value!r}")
    return str(value)


def _row(record: list[str], fields: int = len(FIELDS), class_names: tuple[str, ...] = (),
         fill_domain: DomainFill | None = None) -> Row | None:
    """The Row of one record's cells (the `fields` fixed ones of its layout, then one per class), or None if
    damaged. A record from before the domain column gets `fill_domain`'s domain for its size, if given."""
    if len(record) != fields + len(class_names) or record[2] not in VERDICTS:
        return None
    path, p_text, verdict, error = record[:4]
    width_text, height_text, provenance = record[4:7] or ("", "", "")
    domain_text = record[7] if fields > 7 else None
    class_cells = record[fields:]
    try:
        p_fake = float(p_text) if p_text else None
        width = int(width_text) if width_text else None
        height = int(height_text) if height_text else None
        classes = dict(zip(class_names, map(float, class_cells))) if any(class_cells) else None
    except ValueError:
        return None
    if (p_fake is None) != (verdict == "ERROR") or (class_names and (classes is None) != (p_fake is None)):
        return None
    if domain_text is None:
        domain = fill_domain(width, height) if fill_domain is not None and p_fake is not None else None
    else:
        domain = domain_text or None
    return Row(path, p_fake, verdict, error, width, height, provenance, classes, domain)
