"""What `imgcheck scan` shows and writes once the rows are done: the summary table, its warnings, the skipped-file
list and the `--report` folder."""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.scan.discover import SkipSink

C2PA_SKIPPED = ("[yellow]C2PA skipped:[/] c2pa-python is not installed, so C2PA manifests are not read; provenance "
                "reports XMP, PNG text and EXIF only (pip install 'imgcheck[cpu]' or pip install c2pa-python)")


def summary_table(stats, out: str):  # noqa: ANN001, ANN201 - a ScanStats; a rich Table
    """The scan summary: files, verdicts, the commonest errors, provenance claims, skipped files and speed."""
    from rich.table import Table

    table = Table(title=f"scan: {out}", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("files", f"{stats.files:,}" + (f" (+{stats.resumed:,} kept from before)" if stats.resumed else ""))
    for verdict in ("REAL", "FAKE", "ERROR"):
        table.add_row(verdict, f"{stats.verdicts.get(verdict, 0):,}")
    for reason, count in stats.errors.most_common(5):
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("provenance", stats.provenance.summary())
    if stats.skipped:
        table.add_row("skipped", f"{sum(stats.skipped.values()):,} not images: " + skipped_text(stats.skipped))
    table.add_row("speed", f"{stats.images_per_s:,.0f} images/s over {stats.seconds:.1f} s")
    return table


def skipped_text(skipped: dict[str, int], most: int = 8) -> str:
    """'.txt 2, .pdf 1' (the commonest suffixes first; the rest summed as 'other')."""
    ordered = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{suffix} {count:,}" for suffix, count in ordered[:most]]
    rest = sum(count for _, count in ordered[most:])
    return ", ".join(shown + ([f"other {rest:,}"] if rest else []))


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


def report_context(model: dict[str, Any], threshold: float, inputs: list[str], stats,  # noqa: ANN001 - ScanStats
                   kept_verdicts: collections.Counter):  # noqa: ANN201 - a ScanContext
    """What the report page says about the scan: the same counts as the summary, kept rows of a --resume included."""
    from imgcheck.infer.evaluate.report_page import ScanContext

    verdicts = stats.verdicts + kept_verdicts
    counts = {"files": stats.files + stats.resumed, **{v: verdicts.get(v, 0) for v in ("REAL", "FAKE", "ERROR")}}
    return ScanContext(model, threshold, inputs, counts, stats.provenance.summary(), dict(stats.skipped.most_common()),
                       stats.sizes.warnings())


def write_scan_report(folder: str, context, gallery, document: dict[str, Any] | None,  # noqa: ANN001
                      scores) -> str:  # noqa: ANN001 - ScanContext, Gallery, LabeledScores
    """Write the `--report` folder; returns its index.html. One clear error if the folder cannot be written."""
    from imgcheck.infer.evaluate.html_report import write_report

    y, p = scores.arrays() if document is not None else (None, None)
    try:
        write_report(folder, context, gallery, document, y, p)
    except OSError as exc:
        raise ImgcheckError(f"cannot write the report into {folder}: {exc.strerror or exc}")
    return os.path.join(folder, "index.html")
