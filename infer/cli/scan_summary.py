"""What `imgcheck scan` shows once the rows are done: the summary table and its notices."""

from __future__ import annotations

from imgcheck.infer.version import install_extra

C2PA_SKIPPED = ("[yellow]C2PA skipped:[/] c2pa-python is not installed, so C2PA manifests are not read; provenance "
                f"reports XMP, PNG text and EXIF only ({install_extra('cpu')} or pip install c2pa-python)")


def summary_table(stats, out: str):  # noqa: ANN001, ANN201 - a ScanStats; a rich Table
    """The scan summary: files, verdicts (UNSURE too when the scan abstains), the commonest errors, how many images
    are out of the model's domain (and abstained), provenance claims, skipped files and speed."""
    from rich.table import Table

    table = Table(title=f"scan: {out}", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("files", f"{stats.files:,}" + (f" (+{stats.resumed:,} kept from before)" if stats.resumed else ""))
    for verdict in ("REAL", "FAKE", "ERROR", "UNSURE") if stats.sizes.abstain else ("REAL", "FAKE", "ERROR"):
        table.add_row(verdict, f"{stats.verdicts.get(verdict, 0):,}")
    for reason, count in stats.errors.most_common(5):
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("out of domain", stats.sizes.summary())
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
