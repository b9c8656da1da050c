"""C2PA through c2pa-python, on images signed in the test with a throwaway certificate chain: an AI-generated claim,
a capture claim, an AI edit in a PNG, and a JPEG whose pixels changed after signing; and the cheap sniff that keeps
c2pa's Reader away from files without a manifest store."""

import io
import struct

import pytest
from PIL import Image

from imgcheck.infer.preprocess import decode_image
from imgcheck.infer.provenance import read
from imgcheck.infer.provenance.c2pa_manifest import C2PA_STORE_UUID, carries_c2pa, store_findings
from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.scan.image_facts import FactsProbe
from provenance_fixtures import (AI_EDITED, AI_GENERATED, CAPTURE, c2pa_signed, image_bytes, jpeg_bytes, png_with_text,
                                 signer, tamper_pixels)

pytest.importorskip("c2pa")


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """name -> path of the signed fixtures (one certificate chain for all of them)."""
    root = tmp_path_factory.mktemp("c2pa")
    key = signer()
    return {
        "ai.jpg": c2pa_signed(root / "ai.jpg", jpeg_bytes(), AI_GENERATED, "Test Diffusion 2", signing=key),
        "camera.jpg": c2pa_signed(root / "camera.jpg", jpeg_bytes(), CAPTURE, "Test Camera", signing=key),
        "edited.png": c2pa_signed(root / "edited.png", image_bytes("PNG"), AI_EDITED, "Test Editor", "image/png",
                                  signing=key),
        "tampered.jpg": tamper_pixels(c2pa_signed(root / "tampered.jpg", jpeg_bytes((128, 96), (90, 90, 90)),
                                                  AI_GENERATED, "Test Diffusion 2", signing=key)),
    }


def _provenance(path):
    probe = FactsProbe(provenance=True)
    decode_image(str(path), inspect=probe)
    return probe.facts.provenance


def test_signed_claims_are_read_and_the_untrusted_signer_is_said(signed):
    assert _provenance(signed["ai.jpg"]) == "c2pa:ai-generated(Test Diffusion 2, untrusted signer)"
    assert _provenance(signed["camera.jpg"]) == "c2pa:camera(Test Camera, untrusted signer)"
    assert _provenance(signed["edited.png"]) == "c2pa:ai-edited(Test Editor, untrusted signer)"  # caBX chunk


def test_pixels_changed_after_signing_make_the_manifest_invalid(signed):
    assert _provenance(signed["tampered.jpg"]) == "c2pa:invalid(assertion.dataHash.mismatch)"


def test_a_manifest_read_from_bytes_is_the_same(signed):
    data = signed["ai.jpg"].read_bytes()
    probe = FactsProbe(provenance=True)
    decode_image(data, inspect=probe)
    assert probe.facts.provenance == "c2pa:ai-generated(Test Diffusion 2, untrusted signer)"


def test_only_files_with_a_manifest_store_pay_for_the_reader(signed, tmp_path, monkeypatch):
    calls = []
    real = read.c2pa_findings
    monkeypatch.setattr(read, "c2pa_findings", lambda img, source: calls.append(source) or real(img, source))
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(jpeg_bytes())
    for path in (plain, png_with_text(tmp_path / "text.png", {"Comment": "no manifest"})):
        assert _provenance(path) == ""
    assert calls == []
    assert _provenance(signed["ai.jpg"]).startswith("c2pa:ai-generated(")
    assert len(calls) == 1


def test_the_sniff_reads_jpeg_segments_and_other_files_bytes(signed, tmp_path):
    with Image.open(signed["ai.jpg"]) as img:
        assert carries_c2pa(img, None)  # from Pillow's APP11 segments: no second read
    with Image.open(signed["edited.png"]) as img:
        assert carries_c2pa(img, str(signed["edited.png"])) and carries_c2pa(img, signed["edited.png"].read_bytes())
        assert carries_c2pa(img, io.BytesIO(b"x" * 2_000_000 + C2PA_STORE_UUID))  # across read chunks
        assert not carries_c2pa(img, str(tmp_path / "missing.png"))


def test_manifest_bytes_that_are_not_a_manifest_are_invalid_never_a_crash(tmp_path):
    data = jpeg_bytes()
    payload = b"JP\x02\x11\x00\x00\x00\x01\x00\x00\x00\x30jumb\x00\x00\x00\x1ejumd" + C2PA_STORE_UUID + b"garbage" * 4
    path = tmp_path / "forged.jpg"
    path.write_bytes(data[:2] + b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    assert _provenance(path).startswith("c2pa:invalid(")
    decoy = png_with_text(tmp_path / "decoy.png", {"Comment": C2PA_STORE_UUID.decode("latin-1")})
    assert _provenance(decoy) == ""  # the magic bytes, but no manifest store: nothing to report


def test_store_findings_walk_the_manifests_and_the_older_status_list():
    def manifest(source_type, agent=None, generator="Gen/1.0"):
        action = {"action": "c2pa.created", "digitalSourceType": source_type}
        if agent:
            action["softwareAgent"] = agent
        return {"claim_generator": generator, "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}

    store = {"active_manifest": "b", "manifests": {"a": manifest(AI_GENERATED, "Firefly"),
                                                    "b": manifest(CAPTURE, generator="Camera App/2")},
             "validation_results": {"activeManifest": {"failure": []}}}
    assert store_findings(store) == [Finding("c2pa", "camera", "Camera App"),
                                     Finding("c2pa", "ai-generated", "Firefly")]
    old = {"active_manifest": "a", "manifests": {"a": manifest(AI_GENERATED)},
           "validation_status": [{"code": "claimSignature.mismatch"}]}
    assert store_findings(old) == [Finding("c2pa", "invalid", "claimSignature.mismatch")]
    unclaimed = {"active_manifest": "a", "manifests": {"a": {"assertions": [{"label": "c2pa.hash.data"}]}}}
    assert store_findings(unclaimed) == []
