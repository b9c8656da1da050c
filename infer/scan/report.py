"""`--report`: the self-contained folder a scan writes (the gallery ranked by p_fake, and the metric plots when
images are labeled), with the same counts as the scan's summary: verdicts (UNSURE too when the scan abstains) and
the images out of the model's domain."""

from __future__ import annotations

import collections
import os
from typing import Any

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.evaluate.gallery import Gallery
from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.report_page import ScanContext
from imgcheck.infer.scan.pipeline import ScanStats


def report_context(model: dict[str, Any], threshold: float, inputs: list[str], stats: ScanStats,
                   kept_verdicts: collections.Counter) -> ScanContext:
    """What the report page says about the scan: the same counts as the summary, kept rows of a --resume included."""
    verdicts = stats.verdicts + kept_verdicts
    shown = ("REAL", "FAKE", "ERROR", "UNSURE") if stats.sizes.abstain else ("REAL", "FAKE", "ERROR")
    counts = {"files": stats.files + stats.resumed, **{v: verdicts.get(v, 0) for v in shown}}
    return ScanContext(model, threshold, inputs, counts, stats.provenance.summary(), dict(stats.skipped.most_common()),
                       stats.sizes.warnings(), stats.sizes.summary())


def write_scan_report(folder: str, context: ScanContext, gallery: Gallery, document: dict[str, Any] | None,
                      scores: LabeledScores) -> str:
    """Write the `--report` folder; returns its index.html. One clear error if the folder cannot be written."""
    from imgcheck.infer.evaluate.html_report import write_report

    y, p = scores.arrays() if document is not None else (None, None)
    try:
        write_report(folder, context, gallery, document, y, p)
    except OSError as exc:
        raise ImgcheckError(f"cannot write the report into {folder}: {exc.strerror or exc}")
    return os.path.join(folder, "index.html")
