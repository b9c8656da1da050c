"""The provenance column's text form: SOURCE:CLAIM(DETAIL), `;`-separated, and read back without ambiguity."""

import pytest

from imgcheck.infer.provenance.findings import MAX_DETAIL, Finding, format_provenance, parse_provenance


def test_findings_are_written_in_order_once_each_and_read_back():
    found = [Finding("c2pa", "ai-generated", "Adobe Firefly"), Finding("exif", "camera", "Canon EOS 5D Mark IV"),
             Finding("c2pa", "ai-generated", "Adobe Firefly")]
    text = format_provenance(found)
    assert text == "c2pa:ai-generated(Adobe Firefly);exif:camera(Canon EOS 5D Mark IV)"
    assert parse_provenance(text) == found[:2]
    assert format_provenance([]) == "" and parse_provenance("") == []


def test_a_hostile_detail_cannot_break_the_column():
    finding = Finding("png", "ai-generated", "x);exif:camera(fake\nline\x00two  (beta)")
    assert str(finding) == "png:ai-generated(x],exif:camera[fake line two [beta])"
    assert parse_provenance(format_provenance([finding, Finding("xmp", "camera", "")])) == [
        finding, Finding("xmp", "camera", "unknown")]
    long = Finding("exif", "ai-generated", "y" * 500)
    assert len(long.detail) == MAX_DETAIL and long.detail.endswith("…")


def test_only_known_sources_and_claims():
    with pytest.raises(ValueError):
        Finding("iptc", "ai-generated", "x")
    with pytest.raises(ValueError):
        Finding("xmp", "fake", "x")
    assert parse_provenance("xmp:fake(x);nonsense;exif:camera(Nikon)") == [Finding("exif", "camera", "Nikon")]
