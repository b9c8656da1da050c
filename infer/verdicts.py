"""What a scan says of one file: the verdict names, the rule that turns p_fake into a verdict, and the row."""

from __future__ import annotations

from typing import NamedTuple

REAL, FAKE, ERROR = "REAL", "FAKE", "ERROR"
VERDICTS = (REAL, FAKE, ERROR)


def verdict_of(p_fake: float, threshold: float) -> str:
    """FAKE when p_fake >= threshold, else REAL: the one verdict rule, whatever a model calls its classes."""
    return FAKE if p_fake >= threshold else REAL


class Row(NamedTuple):
    """One scanned file: p_fake is None exactly when verdict is ERROR; width, height (the stored image's size) and
    provenance (its findings, '' for none) are known for readable files only; classes, the probability of each of
    the model's classes by name (in ModelMeta.class_names order), only when the scan keeps them (--keep-classes),
    and never on ERROR rows. A NamedTuple: a scan builds one per file, four times faster than a frozen dataclass."""

    path: str
    p_fake: float | None
    verdict: str
    error: str = ""
    width: int | None = None
    height: int | None = None
    provenance: str = ""
    classes: dict[str, float] | None = None
