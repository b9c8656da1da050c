"""CIFAKE file names: `NNNN.jpg` is CIFAR-10 category 1 (airplane), `NNNN (k).jpg` is category k."""

from __future__ import annotations

import re

CIFAR_CATEGORIES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAKE_NAME = re.compile(r"^\d+(?: \((\d+)\))?\.jpg$", re.IGNORECASE)


def parse_cifake_category(name: str) -> int | None:
    """The CIFAR-10 category (1-10) encoded in a CIFAKE file name, or None for any other name."""
    match = _CIFAKE_NAME.match(name)
    if not match:
        return None
    category = int(match.group(1) or 1)
    return category if 1 <= category <= len(CIFAR_CATEGORIES) else None
