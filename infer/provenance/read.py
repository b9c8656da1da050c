"""All provenance findings of one opened image, in the column's order: c2pa, xmp, png, exif.

Called on the image the decoder has already opened and loaded, so the metadata costs no second read; only a file
that carries a C2PA manifest store pays for c2pa's Reader. A metadata reader that fails on a hostile file gives no
finding and never costs the image its verdict.
"""

from __future__ import annotations

from PIL import Image

from imgcheck.infer.provenance.c2pa_manifest import c2pa_findings, carries_c2pa
from imgcheck.infer.provenance.exif import exif_findings
from imgcheck.infer.provenance.findings import Finding, format_provenance
from imgcheck.infer.provenance.png_text import png_findings, text_chunks
from imgcheck.infer.provenance.xmp import xmp_findings, xmp_packet

_JPEG_FORMATS = ("JPEG", "MPO")
_EXIF_FORMATS = ("TIFF", "MPO")  # EXIF that Pillow keeps outside info["exif"]


def read_findings(img: Image.Image, source: object) -> list[Finding]:
    """Every finding in `img` (opened from `source`: a path, the file's bytes, or the binary stream it was read
    from, which is what a scan passes).

    Each reader runs only where its metadata can be (a JPEG without APP11, XMP and EXIF costs a few look-ups):
    a scan calls this for every file, and small CIFAKE JPEGs decode in about 150 µs."""
    found: list[Finding] = []
    fmt, info = img.format, img.info
    if fmt in _JPEG_FORMATS:
        candidates = [_c2pa] if any(marker == "APP11" for marker, _ in getattr(img, "applist", ())) else []
    else:
        candidates = [_c2pa]
    if "xmp" in info or fmt == "TIFF":
        candidates.append(_xmp)
    if fmt == "PNG":
        candidates.append(_png)
    if "exif" in info or fmt in _EXIF_FORMATS:
        candidates.append(_exif)
    for read in candidates:
        try:
            found.extend(read(img, source))
        except Exception:  # noqa: BLE001 - hostile metadata must never stop the scan
            continue
    return found


def read_provenance(img: Image.Image, source: object) -> str:
    """The `provenance` column for `img`: its findings as text, '' when there are none."""
    found = read_findings(img, source)
    return format_provenance(found) if found else ""


def _c2pa(img: Image.Image, source: object) -> list[Finding]:
    return c2pa_findings(img, source) if carries_c2pa(img, source) else []


def _xmp(img: Image.Image, source: object) -> list[Finding]:
    packet = xmp_packet(img)
    return xmp_findings(packet) if packet else []


def _png(img: Image.Image, source: object) -> list[Finding]:
    text = text_chunks(img)
    return png_findings(text) if text else []


def _exif(img: Image.Image, source: object) -> list[Finding]:
    return exif_findings(img)
