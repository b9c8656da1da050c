"""The versions of the libraries that read provenance, for the scan record (read without importing them)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PROVENANCE_LIBRARIES = ("c2pa-python", "pillow", "defusedxml")


def library_versions() -> dict[str, str | None]:
    """{distribution name: version, or None when it is not installed}."""
    found: dict[str, str | None] = {}
    for name in PROVENANCE_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
