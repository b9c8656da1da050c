"""Counts of provenance findings over a scan's rows: files per claim (the summary) and per SOURCE:CLAIM (the
sidecar), with how the findings were read."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from imgcheck.infer.provenance.findings import CLAIMS, parse_provenance
from imgcheck.infer.scan.verdict_formats import Row


@dataclass
class ProvenanceCounts:
    """Files per claim and per finding kind; `checked` False under --no-provenance."""

    checked: bool = True
    c2pa: bool = True  # c2pa-python was there to read C2PA manifests
    files: int = 0  # rows with at least one finding
    claims: collections.Counter = field(default_factory=collections.Counter)
    kinds: collections.Counter = field(default_factory=collections.Counter)

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            found = parse_provenance(row.provenance)
            if not found:
                continue
            self.files += 1
            for claim in {f.claim for f in found}:
                self.claims[claim] += 1
            for kind in {f"{f.source}:{f.claim}" for f in found}:
                self.kinds[kind] += 1

    def summary(self) -> str:
        """'ai-generated 3, camera 2' (files per claim), or 'none found' / 'not checked'."""
        if not self.checked:
            return "not checked (--no-provenance)"
        counted = [f"{claim} {self.claims[claim]:,}" for claim in CLAIMS if self.claims[claim]]
        return ", ".join(counted) or "none found"

    def record(self, libraries: dict[str, str | None]) -> dict[str, Any]:
        """The sidecar's `provenance` entry."""
        return {
            "checked": self.checked,
            "files_with_findings": self.files,
            "claims": {claim: self.claims[claim] for claim in CLAIMS},
            "findings": dict(sorted(self.kinds.items())),
            "c2pa": ("not checked (--no-provenance)" if not self.checked
                     else "checked: signatures and hashes validated; no trust list configured, so signers not on "
                          "c2pa's own list are reported as 'untrusted signer'" if self.c2pa
                     else "not checked: c2pa-python is not installed"),
            "libraries": libraries,
        }
