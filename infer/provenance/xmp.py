"""Findings in an XMP packet: the IPTC DigitalSourceType (ai-generated, ai-edited, camera), or a generator named as
CreatorTool. Parsed with defusedxml (entity declarations and external references refused: the packet comes from a
stranger's file)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from PIL import Image

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.vocabulary import claim_of_source_type, names_generator, source_type_term

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
TIFF = "http://ns.adobe.com/tiff/1.0/"
_SOURCE_TYPE = f"{{{IPTC_EXT}}}DigitalSourceType"
_CREATOR_TOOL = f"{{{XMP_BASIC}}}CreatorTool"
_MODEL = f"{{{TIFF}}}Model"
_RESOURCE = f"{{{RDF}}}resource"
_TIFF_XMP_TAG = 700
MAX_PACKET = 4 * 1024 * 1024  # larger packets are not parsed


def xmp_packet(img: Image.Image) -> bytes | None:
    """The raw XMP packet Pillow found in `img` (JPEG APP1, PNG iTXt, WebP, GIF; TIFF tag 700), or None."""
    packet = img.info.get("xmp")
    if packet is None and hasattr(img, "tag_v2"):
        packet = img.tag_v2.get(_TIFF_XMP_TAG)
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    return packet if isinstance(packet, (bytes, bytearray)) and packet else None


def xmp_findings(packet: bytes) -> list[Finding]:
    """What the packet claims; nothing for a packet that is not well-formed XML (or too large to read)."""
    if len(packet) > MAX_PACKET:
        return []
    try:
        root = ElementTree.fromstring(bytes(packet).strip(b"\x00 \t\r\n"))
    except Exception:  # malformed, or refused by defusedxml (entity declarations): no evidence
        return []
    source_types = _values(root, _SOURCE_TYPE)
    tool = next(iter(_values(root, _CREATOR_TOOL)), "")
    camera = next(iter(_values(root, _MODEL)), "")
    found = []
    for value in source_types:
        claim = claim_of_source_type(value)
        if claim:
            detail = (camera if claim == "camera" else tool) or source_type_term(value)
            found.append(Finding("xmp", claim, detail))
    if not found and tool and names_generator(tool):
        found.append(Finding("xmp", "ai-generated", tool))
    return found


def _values(root: Element, name: str) -> list[str]:
    """Every value of property `name`: as an attribute (rdf:Description's short form), or as an element's text or
    rdf:resource."""
    values = []
    for element in root.iter():
        value = element.get(name)
        if element.tag == name:
            value = element.get(_RESOURCE) or (element.text or "").strip()
        if value:
            values.append(value)
    return values
