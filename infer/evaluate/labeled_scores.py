"""Score a labeled scan: collect (label, p_fake) per verdict row as rows stream by, then compute the metric suite,
overall and per subgroup, as one JSON-ready document (the `--metrics` file).

The metrics describe the rows with a verdict: ERROR rows are counted (`n_errors`) and so are UNSURE rows, the ones a
scan abstained on (`n_abstained`: --abstain-out-of-domain), and neither is scored.

Memory stays small: a labeled row costs a few bytes (label, score, group ids), never its path.
"""

from __future__ import annotations

import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgcheck.infer.evaluate.labels import Label, Labeler
from imgcheck.infer.evaluate.metrics import binary_metrics
from imgcheck.infer.verdicts import ERROR, UNSURE, Row

METRICS_SCHEMA_VERSION = 1
SUBGROUP_KINDS = ("folder", "category")
UNLABELED_EXAMPLES = 10


@dataclass
class _Groups:
    """One subgroup kind: its group names and, per labeled row, the index of its group (-1 = none)."""

    names: dict[str, int] = field(default_factory=dict)
    index: array.array = field(default_factory=lambda: array.array("i"))
    error_index: array.array = field(default_factory=lambda: array.array("i"))
    abstained_index: array.array = field(default_factory=lambda: array.array("i"))

    def id_of(self, name: str | None) -> int:
        if name is None:
            return -1
        return self.names.setdefault(name, len(self.names))


class LabeledScores:
    """Accumulates verdict rows; `add` them as they are written, then call `document`."""

    def __init__(self, labeler: Labeler) -> None:
        self.labeler = labeler
        self._fake = array.array("b")
        self._p = array.array("d")
        self._error_fake = array.array("b")
        self._abstained_fake = array.array("b")
        self._groups = {kind: _Groups() for kind in SUBGROUP_KINDS}
        self.unlabeled = 0
        self.unlabeled_examples: list[str] = []

    def add(self, rows: Iterable[Row]) -> None:
        """Record each row under its label; unlabeled rows are only counted (with a few examples kept)."""
        for row in rows:
            label = self.labeler(row.path)
            if label is None:
                self.unlabeled += 1
                if len(self.unlabeled_examples) < UNLABELED_EXAMPLES:
                    self.unlabeled_examples.append(row.path)
                continue
            if row.verdict == ERROR:
                self._error_fake.append(label.fake)
                self._record_groups(label, "error_index")
                continue
            if row.verdict == UNSURE:
                self._abstained_fake.append(label.fake)
                self._record_groups(label, "abstained_index")
                continue
            self._fake.append(label.fake)
            # rounded as the verdict file stores it, so metrics recomputed from that file agree exactly
            self._p.append(round(row.p_fake, 6))
            self._record_groups(label, "index")

    def _record_groups(self, label: Label, which: str) -> None:
        names = dict(label.groups)
        for kind, groups in self._groups.items():
            getattr(groups, which).append(groups.id_of(names.get(kind)))

    @property
    def labeled(self) -> int:
        """Labeled rows, ERROR and UNSURE rows included."""
        return len(self._fake) + len(self._error_fake) + len(self._abstained_fake)

    @property
    def abstained(self) -> int:
        """Labeled rows the scan abstained on (UNSURE), not scored."""
        return len(self._abstained_fake)

    @property
    def scored(self) -> int:
        """Labeled rows with a verdict (not ERROR, not UNSURE): the rows the metrics describe."""
        return len(self._fake)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, p_fake) of every scored labeled row, in scan order."""
        return np.frombuffer(self._fake, np.int8).astype(np.int64), np.frombuffer(self._p, np.float64)

    def document(self, threshold: float, model: dict[str, Any] | None = None,
                 inputs: list[str] | None = None) -> dict[str, Any]:
        """The metrics document: model, threshold, label counts, overall metrics and per-subgroup metrics."""
        if not self.scored:
            raise ValueError("no labeled image was scored")
        y, p = self.arrays()
        groups: dict[str, dict[str, Any]] = {}
        for kind, g in self._groups.items():
            index = np.frombuffer(g.index, np.int32)
            error_index = np.frombuffer(g.error_index, np.int32)
            abstained_index = np.frombuffer(g.abstained_index, np.int32)
            per_group = {}
            for name, gid in sorted(g.names.items()):
                chosen = index == gid
                if chosen.any():
                    per_group[name] = binary_metrics(y[chosen], p[chosen], threshold,
                                                     n_errors=int((error_index == gid).sum()),
                                                     n_abstained=int((abstained_index == gid).sum()))
            if per_group:
                groups[kind] = per_group
        return {
            "schema_version": METRICS_SCHEMA_VERSION,
            "model": model or {},
            "inputs": inputs or [],
            "threshold": threshold,
            "labels": {"source": self.labeler.source, "labeled": self.labeled, "unlabeled": self.unlabeled,
                       "unlabeled_examples": self.unlabeled_examples},
            "metrics": binary_metrics(y, p, threshold, n_errors=len(self._error_fake),
                                      n_abstained=len(self._abstained_fake)),
            "groups": groups,
        }
