"""The words provenance metadata uses: IPTC digital source types and the names of image generators."""

from __future__ import annotations

import re

# IPTC NewsCodes "digitalsourcetype" terms (the last part of http://cv.iptc.org/newscodes/digitalsourcetype/TERM),
# as C2PA actions and XMP Iptc4xmpExt:DigitalSourceType carry them, and the claim each one makes. Terms not listed
# (algorithmicMedia, digitalArt, screenCapture, ...) say neither "camera" nor "AI".
SOURCE_TYPE_CLAIMS = {
    "trainedAlgorithmicMedia": "ai-generated",
    "compositeWithTrainedAlgorithmicMedia": "ai-edited",
    "compositeSynthetic": "ai-edited",
    "digitalCapture": "camera",
    "computationalCapture": "camera",
    "compositeCapture": "camera",
    "negativeFilm": "camera",
    "positiveFilm": "camera",
}

# Image generators and the tools around them, as they name themselves in EXIF Software, XMP CreatorTool or a PNG
# Software chunk. Only names that mean "made by a generator" are here; an editor's name (Photoshop) says nothing.
_GENERATORS = re.compile(
    r"midjourney|dall[\s·.-]?e|firefly|stable[\s_-]?diffusion|novel[\s_-]?ai|comfy[\s_-]?ui|automatic1111"
    r"|invoke[\s_-]?ai|fooocus|swarm[\s_-]?ui|dreamstudio|ideogram|leonardo[\s.]?ai|craiyon|nightcafe"
    r"|bing image creator|image creator from microsoft|\bimagen\b|\bflux\.1\b",
    re.IGNORECASE)


def source_type_term(value: str) -> str:
    """The IPTC term of a digitalSourceType value: a NewsCodes URI's last part, or the value itself."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def claim_of_source_type(value: str) -> str | None:
    """The claim a digitalSourceType value makes (ai-generated, ai-edited, camera), or None."""
    return SOURCE_TYPE_CLAIMS.get(source_type_term(value))


def names_generator(text: str) -> bool:
    """True when `text` (a software name) names an image generator."""
    return bool(_GENERATORS.search(text))
