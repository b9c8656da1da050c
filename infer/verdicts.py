"""Verdict rows and their two output formats (one writer table), with resume support.

CSV header is exactly `path,p_fake,verdict,error`; JSONL lines carry the same four fields. Paths that are
not valid UTF-8 survive a round trip: they are written with surrogateescape (CSV) or as JSON escapes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

FIELDS = ("path", "p_fake", "verdict", "error")
VERDICTS = ("REAL", "FAKE", "ERROR")


@dataclass(frozen=True)
class Row:
    """One scanned file: p_fake is None exactly when verdict is ERROR."""

    path: str
    p_fake: float | None
    verdict: str
    error: str = ""


class CsvFormat:
    name, suffix = "csv", ".csv"

    @staticmethod
    def header() -> str:
        return ",".join(FIELDS) + "\n"

    @staticmethod
    def encode(rows: Iterable[Row]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for r in rows:
            writer.writerow([r.path, "" if r.p_fake is None else f"{r.p_fake:.6f}", r.verdict, r.error])
        return buffer.getvalue()

    @staticmethod
    def decode(text: str) -> list[Row]:
        """Complete rows of a CSV written by `encode` (after the header); a torn last row is dropped."""
        records = list(csv.reader(io.StringIO(text, newline="")))
        if not records or tuple(records[0]) != FIELDS:
            raise ValueError("not an imgcheck verdicts CSV (header differs)")
        rows = [_row(rec) for rec in records[1:]]
        if rows and (rows[-1] is None or not text.endswith("\n")):
            rows.pop()  # torn by a kill: rewritten whole on resume
        if any(r is None for r in rows):
            raise ValueError("a row in the middle of the file is damaged")
        return rows


class JsonlFormat:
    name, suffix = "jsonl", ".jsonl"

    @staticmethod
    def header() -> str:
        return ""

    @staticmethod
    def encode(rows: Iterable[Row]) -> str:
        return "".join(json.dumps({"path": r.path, "p_fake": None if r.p_fake is None else round(r.p_fake, 6),
                                   "verdict": r.verdict, "error": r.error}) + "\n" for r in rows)

    @staticmethod
    def decode(text: str) -> list[Row]:
        rows = []
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if not line:
                continue
            try:
                data = json.loads(line)
                row = _row([data["path"], "" if data["p_fake"] is None else str(data["p_fake"]), data["verdict"],
                            data["error"]])
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


OUTPUT_FORMATS = {f.name: f for f in (CsvFormat, JsonlFormat)}


def open_output(path: str, fmt: type[CsvFormat] | type[JsonlFormat], resume: bool) -> tuple[IO[str], list[Row]]:
    """Open `path` for writing verdicts. With `resume`, keep its complete rows (rewriting a torn tail) and
    return them; otherwise start it afresh."""
    done: list[Row] = []
    if resume and os.path.exists(path):
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            done = fmt.decode(fh.read())
    fh = open(path, "w", encoding="utf-8", errors="surrogateescape", newline="")
    fh.write(fmt.header() + fmt.encode(done))
    fh.flush()
    return fh, done


def _row(record: list[str]) -> Row | None:
    if len(record) != 4 or record[2] not in VERDICTS:
        return None
    path, p_text, verdict, error = record
    try:
        p_fake = float(p_text) if p_text else None
    except ValueError:
        return None
    if (p_fake is None) != (verdict == "ERROR"):
        return None
    return Row(path, p_fake, verdict, error)
