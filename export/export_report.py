"""The export report: a rich table for people, export_report.json for machines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.table import Table

from imgcheck.infer.atomic_write import write_json
from imgcheck.export.pipeline import ExportRecord
from imgcheck.infer.version import imgcheck_version


def write_report(path: Path, checkpoint: str | os.PathLike, records: list[ExportRecord]) -> dict[str, Any]:
    """Write export_report.json: the checkpoint, and per file its format, size, parity figures and CPU speed."""
    import onnxruntime
    import torch

    report = {
        "checkpoint": os.fsdecode(checkpoint),
        "files": [record.as_dict() for record in records],
        "versions": {"imgcheck": imgcheck_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "speed_note": "CPU images/s measured through each file's runtime on the parity inputs, median of repeats",
    }
    write_json(path, report)
    return report


def report_table(records: list[ExportRecord]) -> Table:
    """One row per written file."""
    table = Table(title="export", title_justify="left")
    for column in ("format", "file", "size", "max |dp|", "agreement", "ROC-AUC ref/export", "img/s b1", "img/s b64"):
        table.add_column(column, justify="left" if column in ("format", "file") else "right")
    for r in records:
        p = r.parity
        auc = f"{p.auc_reference:.4f}/{p.auc_export:.4f}" if p.auc_reference is not None else "-"
        table.add_row(r.format, r.path.name, f"{r.size_bytes / 1e6:.2f} MB", f"{p.max_abs_diff:.2e}",
                      f"{p.verdict_agreement:.2%}", auc, f"{r.images_per_s_batch1:,.0f}", f"{r.images_per_s_batch64:,.0f}")
    return table


def gate_summary(records: list[ExportRecord]) -> str:
    """One line: which inputs the parity gate compared, and which of them the fp16/int8 agreement counts."""
    parity, source = records[0].parity, records[0].check_images
    seeded = parity.n - parity.real_images
    if source is None:
        return f"parity compared {seeded} random-pixel inputs"
    reduced = any(r.parity.precision != "fp32" for r in records)
    counted = "; fp16/int8 verdict agreement counts the real images only" if reduced else ""
    return f"parity compared {seeded} random-pixel inputs and {parity.real_images} real images: {source}{counted}"


def int8_summary(records: list[ExportRecord]) -> str | None:
    """One line on the int8 file: its scheme and calibration, and each scheme the gate refused before it (auto's
    tries); None without an int8 file."""
    for r in records:
        if r.int8_scheme is None:
            continue
        calibration = f", {r.int8_calibration} calibration" if r.int8_calibration else ""
        refused = "".join(f"; {scheme} was tried first and refused: {failure}" for scheme, failure in r.int8_refused)
        return f"int8: scheme {r.int8_scheme}{calibration}{refused}"
    return None
