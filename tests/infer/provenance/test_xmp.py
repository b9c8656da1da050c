"""XMP: the IPTC DigitalSourceType in either of its forms, CreatorTool, and packets that must yield nothing."""

from PIL import Image

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.xmp import xmp_findings, xmp_packet
from provenance_fixtures import AI_EDITED, AI_GENERATED, CAPTURE, jpeg_with_xmp
from provenance_fixtures import xmp_packet as make_packet


def test_digital_source_type_as_attribute_or_element():
    assert xmp_findings(make_packet(AI_GENERATED, "Adobe Firefly")) == [Finding("xmp", "ai-generated", "Adobe Firefly")]
    assert xmp_findings(make_packet(AI_EDITED, as_element=True)) == [
        Finding("xmp", "ai-edited", "compositeWithTrainedAlgorithmicMedia")]
    assert xmp_findings(make_packet(CAPTURE, "Lightroom", model="NIKON D750")) == [
        Finding("xmp", "camera", "NIKON D750")]


def test_a_generator_named_as_creator_tool_without_a_source_type():
    assert xmp_findings(make_packet(None, "Midjourney")) == [Finding("xmp", "ai-generated", "Midjourney")]
    assert xmp_findings(make_packet(None, "Adobe Photoshop 25.0")) == []  # an editor says nothing


def test_pillow_finds_the_packet_in_a_jpeg(tmp_path):
    path = jpeg_with_xmp(tmp_path / "x.jpg", make_packet(AI_GENERATED))
    with Image.open(path) as img:
        assert xmp_findings(xmp_packet(img)) == [Finding("xmp", "ai-generated", "trainedAlgorithmicMedia")]


def test_malformed_or_hostile_packets_yield_nothing():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&c;</x:xmpmeta>')
    assert xmp_findings(bomb) == []  # defusedxml refuses entities
    assert xmp_findings(b"<x:xmpmeta><unclosed") == []
    assert xmp_findings(b"\x00\xff" * 100) == []
