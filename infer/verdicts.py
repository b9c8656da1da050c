"""What a scan says of one file: the verdict names, the rule that turns p_fake into a verdict, and the row.

UNSURE is the verdict of a row the scan abstained on (`--abstain-out-of-domain`: the image is far outside the sizes
the model was trained on); it appears only when that option asks for it, and its p_fake is still written."""

from __future__ import annotations

from typing import NamedTuple

REAL, FAKE, ERROR, UNSURE = "REAL", "FAKE", "ERROR", "UNSURE"
VERDICTS = (REAL, FAKE, ERROR, UNSURE)


def verdict_of(p_fake: float, threshold: float) -> str:
    """FAKE when p_fake >= threshold, else REAL: the one verdict rule, whatever a model calls its classes."""
    return FAKE if p_fake >= threshold else REAL


class Row(NamedTuple):
    """One scanned file: p_fake is None exactly when verdict is ERROR; width, height (the stored image's size) are
    known for readable files only, provenance (its findings, '' for none) for ERROR rows too where the file's
    metadata can still be read (a C2PA manifest on broken pixels); classes, the probability of each of
    the model's classes by name (in ModelMeta.class_names order), only when the scan keeps them (--keep-classes),
    and never on ERROR rows; domain, how the image's size stands to the model's training sizes (`ok`,
    `out:<reason>` or `unknown`: `imgcheck.infer.scan.domain`), for sized rows only (None on ERROR rows). The
    optional fields come last, so rows built positionally before they existed still build the same. A NamedTuple:
    a scan builds one per file, four times faster than a frozen dataclass."""

    path: str
    p_fake: float | None
    verdict: str
    error: str = ""
    width: int | None = None
    height: int | None = None
    provenance: str = ""
    classes: dict[str, float] | None = None
    domain: str | None = None
