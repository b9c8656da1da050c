"""The domain rule: is an image far outside the sizes the model was trained on? One rule, read three ways: each
row's `domain` column, the abstention it may call for (`--abstain-out-of-domain`: verdict UNSURE), and the
warning with its counts (`SizeCheck`).

The training sizes come from ModelMeta (`provenance.train_image_sizes`); a model without that record is judged by
its input size instead (a resize model's training images were at least shrunk to it), and the warning says so.
A crop model (native-resolution tiles) without the record is not judged: its input size says nothing about the
images it was trained on (its rows read `unknown`, and it gets no warning). "Far outside" is a side more than FAR
times the largest training side, or below 1/FAR of the smallest.

The `domain` tokens are stable (scripts compare them): `ok`; `out:` and the reasons, `+`-joined when an image is
far out both ways (a 1×100000 strip): `out:larger-than-4x-training`, `out:smaller-than-1/4-training`; `unknown`
when the model gives nothing to judge by; None (an empty cell) on ERROR rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.verdicts import ERROR, UNSURE, Row

FAR = 4
OK = "ok"
UNKNOWN = "unknown"
OUT = "out:"
LARGER = f"larger-than-{FAR}x-training"
SMALLER = f"smaller-than-1/{FAR}-training"
ABSTAIN_OPTION = "--abstain-out-of-domain"


@dataclass(frozen=True)
class TrainingSizes:
    """The smallest and largest (H, W) the model was trained on; `recorded` False when taken from its input size."""

    smallest: tuple[int, int]
    largest: tuple[int, int]
    recorded: bool

    @classmethod
    def of(cls, meta: ModelMeta) -> TrainingSizes | None:
        """From the model's ModelMeta; None for a crop model that does not record them."""
        sizes = meta.provenance.train_image_sizes
        if sizes is not None:
            return cls(sizes[0], sizes[1], True)
        if meta.fit != "resize":
            return None
        _, height, width = meta.input_size
        return cls((height, width), (height, width), False)

    def describe(self) -> str:
        """'trained on 32×32 images', or the range; with the fallback, what it is based on."""
        low, high = _wxh(self.smallest), _wxh(self.largest)
        if not self.recorded:
            return f"the model takes {low} inputs (its ModelMeta does not record its training images' sizes)"
        return f"trained on {low} images" if low == high else f"trained on images from {low} to {high}"

    def larger(self, width: int, height: int) -> bool:
        return width > FAR * self.largest[1] or height > FAR * self.largest[0]

    def smaller(self, width: int, height: int) -> bool:
        return width * FAR < self.smallest[1] or height * FAR < self.smallest[0]

    def domain(self, width: int, height: int) -> str:
        """The `domain` token of an image of `width` × `height`: `ok`, or `out:` and its reasons."""
        reasons = [reason for reason, far in ((LARGER, self.larger(width, height)),
                                              (SMALLER, self.smaller(width, height))) if far]
        return OUT + "+".join(reasons) if reasons else OK


def is_out(domain: str | None) -> bool:
    """True for an out-of-domain token (`out:...`)."""
    return domain is not None and domain.startswith(OUT)


@dataclass(frozen=True)
class DomainRule:
    """How a scan fills each row's domain and whether an out-of-domain row abstains (verdict UNSURE, p_fake kept).
    `sizes` None: a model with nothing to judge by, every sized row `unknown`."""

    sizes: TrainingSizes | None
    abstain: bool = False

    @classmethod
    def of(cls, meta: ModelMeta, abstain: bool = False) -> DomainRule:
        return cls(TrainingSizes.of(meta), abstain)

    def domain(self, width: int | None, height: int | None) -> str | None:
        """The token of an image of this size; None when its size is unknown (ERROR rows)."""
        if width is None or height is None:
            return None
        return UNKNOWN if self.sizes is None else self.sizes.domain(width, height)

    def verdict(self, verdict: str, domain: str | None) -> str:
        """`verdict` (REAL or FAKE), or UNSURE when this rule abstains and `domain` is out."""
        return UNSURE if self.abstain and is_out(domain) else verdict


@dataclass
class SizeCheck:
    """Counts, over scanned rows, of images far larger or far smaller than the training sizes (`out`: either or
    both), and of the rows that abstained (UNSURE) because of it."""

    sizes: TrainingSizes | None
    abstain: bool = False
    sized: int = 0
    larger: int = 0
    smaller: int = 0
    out: int = 0
    abstained: int = 0

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.abstained += row.verdict == UNSURE
            if row.width is None or row.height is None or row.verdict == ERROR:
                continue
            self.sized += 1
            if self.sizes is not None:
                larger, smaller = self.sizes.larger(row.width, row.height), self.sizes.smaller(row.width, row.height)
                self.larger += larger
                self.smaller += smaller
                self.out += larger or smaller

    def warnings(self) -> list[str]:
        """One line per direction in which some images are far outside, e.g. "trained on 32×32 images; 25 of 25
        images here are larger than 4× that: their verdicts are unreliable, see MODEL_CARD.md" (with
        --abstain-out-of-domain: "...: their verdicts are UNSURE (--abstain-out-of-domain), see MODEL_CARD.md")."""
        if self.sizes is None:
            return []
        lines = []
        fate = f"their verdicts are {UNSURE} ({ABSTAIN_OPTION})" if self.abstain else "their verdicts are unreliable"
        for count, what in ((self.larger, f"larger than {FAR}× that"), (self.smaller, f"smaller than 1/{FAR} of that")):
            if count:
                lines.append(f"{self.sizes.describe()}; {count:,} of {self.sized:,} images here are {what}: {fate}, "
                             "see MODEL_CARD.md")
        return lines

    def summary(self) -> str:
        """The summary's `out of domain` line: '25 of 25 (25 larger than 4× the training sizes)', '0 of 12', with
        --abstain-out-of-domain '...; 25 abstained (UNSURE)', or 'not judged (...)' for a model with nothing to
        judge by."""
        if self.sizes is None:
            return "not judged (the model records no training sizes)"
        parts = [f"{self.larger:,} larger than {FAR}×" if self.larger else "",
                 f"{self.smaller:,} smaller than 1/{FAR}" if self.smaller else ""]
        detail = ", ".join(p for p in parts if p)
        text = f"{self.out:,} of {self.sized:,}" + (f" ({detail} the training sizes)" if detail else "")
        return text + (f"; {self.abstained:,} abstained ({UNSURE})" if self.abstain else "")

    def record(self) -> dict[str, Any]:
        """The sidecar's `domain` entry."""
        sizes = self.sizes
        return {"train_image_sizes": None if sizes is None else [list(sizes.smallest), list(sizes.largest)],
                "recorded": None if sizes is None else sizes.recorded, "factor": FAR, "sized": self.sized,
                "larger": self.larger, "smaller": self.smaller, "out_of_domain": self.out,
                "abstain": self.abstain, "abstained": self.abstained}


def check_resume_abstain(out: str, abstain: bool) -> None:
    """--resume keeps the rows already in `out`: refuse when they were written with --abstain-out-of-domain and this
    run has it off, or the other way round (out-of-domain rows would be UNSURE in one part of the file and REAL or
    FAKE in the other). The sidecar says how they were written; a sidecar from before the option means without it;
    no sidecar, nothing to check."""
    try:
        with open(f"{out}.json") as fh:
            record = json.load(fh)
        domain = record["domain"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    before = domain.get("abstain", False) if isinstance(domain, dict) else None
    if isinstance(before, bool) and before != abstain:
        was, flag = (("with", f"add {ABSTAIN_OPTION}") if before else ("without", f"drop {ABSTAIN_OPTION}"))
        raise ImgcheckError(f"cannot resume {out}: its rows were scanned {was} {ABSTAIN_OPTION}; {flag} to finish "
                            "it, or scan without --resume to start afresh.")


def _wxh(size: tuple[int, int]) -> str:
    height, width = size
    return f"{width}×{height}"
