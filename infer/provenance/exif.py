"""Findings in EXIF: a generator named as Software, AUTOMATIC1111 parameters in UserComment (its JPEG and WebP
output), and the camera's make and model."""

from __future__ import annotations

from PIL import Image

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.png_text import looks_like_a1111
from imgcheck.infer.provenance.vocabulary import names_generator

MAKE, MODEL, SOFTWARE, IMAGE_DESCRIPTION = 0x010F, 0x0110, 0x0131, 0x010E
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
# UserComment starts with 8 bytes naming its character code (EXIF 2.3, section 4.6.5)
_CHARSETS = {b"ASCII\x00\x00\x00": "ascii", b"UNICODE\x00": "utf-16", b"\x00" * 8: "latin-1"}


def exif_findings(img: Image.Image) -> list[Finding]:
    """What the image's EXIF claims; nothing when it has none or it cannot be read."""
    if "exif" not in img.info and img.format not in ("TIFF", "MPO"):
        return []  # no EXIF block (and no getexif() work for the common case)
    try:
        exif = img.getexif()
        user_comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except Exception:  # a malformed block: no evidence
        return []
    found = []
    software = _text(exif.get(SOFTWARE))
    if software and names_generator(software):
        found.append(Finding("exif", "ai-generated", software))
    if looks_like_a1111(decode_user_comment(user_comment)) or looks_like_a1111(_text(exif.get(IMAGE_DESCRIPTION))):
        found.append(Finding("exif", "ai-generated", "AUTOMATIC1111"))
    camera = camera_name(_text(exif.get(MAKE)), _text(exif.get(MODEL)))
    if camera:
        found.append(Finding("exif", "camera", camera))
    return found


def camera_name(make: str, model: str) -> str:
    """'Canon EOS 5D Mark IV' from make 'Canon' and model 'Canon EOS 5D Mark IV'; 'Apple iPhone 13' from 'Apple'
    and 'iPhone 13'; '' when neither is given."""
    if make and model and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part)


def decode_user_comment(value: object) -> str:
    """The text of an EXIF UserComment (its 8-byte character-code prefix removed), '' if it is not text."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes) or len(value) < 8:
        return ""
    encoding, body = _CHARSETS.get(value[:8], "latin-1"), value[8:]
    if encoding == "utf-16":  # writers disagree on the byte order; the one that decodes to text wins
        big, little = body.decode("utf-16-be", "replace"), body.decode("utf-16-le", "replace")
        return big if sum(c.isascii() for c in big) >= sum(c.isascii() for c in little) else little
    return body.decode(encoding, "replace")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip().strip("\x00").strip() if isinstance(value, str) else ""
