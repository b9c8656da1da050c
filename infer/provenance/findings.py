"""A provenance finding and its text form, the `provenance` column: `SOURCE:CLAIM(DETAIL)`, `;`-separated.

SOURCE is where it was read (`c2pa`, `xmp`, `png`, `exif`); CLAIM what it says (`ai-generated`, `ai-edited`,
`camera`, or `invalid` for a C2PA manifest that fails validation); DETAIL the generator, tool, camera or failure.
A DETAIL never holds `;`, `(`, `)` or control characters (they become `,`, `[`, `]` and spaces), so the column
splits back without ambiguity (`parse_provenance`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SOURCES = ("c2pa", "xmp", "png", "exif")
CLAIMS = ("ai-generated", "ai-edited", "camera", "invalid")
MAX_DETAIL = 80
_SEPARATOR = ";"
_PATTERN = re.compile(rf"^({'|'.join(SOURCES)}):({'|'.join(CLAIMS)})\((.*)\)$")
_UNSAFE = str.maketrans({";": ",", "(": "[", ")": "]"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Finding:
    """One claim that a file's metadata makes about its origin."""

    source: str
    claim: str
    detail: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES or self.claim not in CLAIMS:
            raise ValueError(f"not a provenance finding: {self.source}:{self.claim}")
        object.__setattr__(self, "detail", clean_detail(self.detail))

    def __str__(self) -> str:
        return f"{self.source}:{self.claim}({self.detail})"


def clean_detail(text: str) -> str:
    """`text` on one line, without the column's separators, at most MAX_DETAIL characters ('unknown' if empty)."""
    text = " ".join(_CONTROL.sub(" ", str(text)).translate(_UNSAFE).split())
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL - 1].rstrip() + "…"
    return text or "unknown"


def format_provenance(findings: Iterable[Finding]) -> str:
    """The column's text: each distinct finding once, in the order given; '' for none."""
    return _SEPARATOR.join(dict.fromkeys(str(f) for f in findings))


def parse_provenance(text: str) -> list[Finding]:
    """The findings of a `provenance` cell (parts that are not findings are ignored)."""
    found = []
    for part in text.split(_SEPARATOR) if text else ():
        match = _PATTERN.match(part)
        if match:
            found.append(Finding(*match.groups()))
    return found
