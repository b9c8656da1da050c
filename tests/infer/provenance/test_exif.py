"""EXIF: a generator named as Software, AUTOMATIC1111 parameters in UserComment, the camera's make and model."""

import pytest
from PIL import Image

from imgcheck.infer.provenance.exif import camera_name, decode_user_comment, exif_findings
from imgcheck.infer.provenance.findings import Finding
from provenance_fixtures import A1111_PARAMETERS, a1111_user_comment, jpeg_bytes, jpeg_with_exif


def _findings(path):
    with Image.open(path) as img:
        return exif_findings(img)


def test_software_make_model_and_user_comment(tmp_path):
    assert _findings(jpeg_with_exif(tmp_path / "a.jpg", software="Midjourney v6")) == [
        Finding("exif", "ai-generated", "Midjourney v6")]
    assert _findings(jpeg_with_exif(tmp_path / "b.jpg", make="Canon", model="Canon EOS 5D Mark IV",
                                    software="Adobe Lightroom")) == [Finding("exif", "camera", "Canon EOS 5D Mark IV")]
    assert _findings(jpeg_with_exif(tmp_path / "c.jpg", user_comment=a1111_user_comment())) == [
        Finding("exif", "ai-generated", "AUTOMATIC1111")]


@pytest.mark.parametrize("make, model, name", [
    ("Canon", "Canon EOS R5", "Canon EOS R5"), ("Apple", "iPhone 13", "Apple iPhone 13"),
    ("NIKON CORPORATION", "NIKON D750", "NIKON D750"), ("", "X100V", "X100V"), ("FUJIFILM", "", "FUJIFILM"),
    ("", "", ""),
])
def test_camera_names(make, model, name):
    assert camera_name(make, model) == name


def test_user_comment_encodings():
    assert decode_user_comment(a1111_user_comment("Steps: 1")) == "Steps: 1"
    assert decode_user_comment(b"UNICODE\x00" + "Steps: 1".encode("utf-16-le")) == "Steps: 1"
    assert decode_user_comment(b"ASCII\x00\x00\x00Steps: 1") == "Steps: 1"
    assert decode_user_comment(b"\x01") == "" and decode_user_comment(None) == ""
    assert A1111_PARAMETERS in decode_user_comment(a1111_user_comment())


def test_no_or_broken_exif_says_nothing(tmp_path):
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(jpeg_bytes())
    assert _findings(plain) == []
    broken = tmp_path / "broken.jpg"
    data = jpeg_bytes()
    payload = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 10  # an IFD claiming 65535 entries
    broken.write_bytes(data[:2] + b"\xff\xe1" + len(payload + b"..").to_bytes(2, "big") + payload + data[2:])
    assert _findings(broken) == []
