import io

import numpy as np
import pytest
from PIL import Image, ImImagePlugin

from imgcheck.infer.image_signatures import open_image, signature_format


def _encoded(fmt: str, mode: str = "RGB") -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


class _NoSeek(io.RawIOBase):
    """A readable stream that cannot seek (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        chunk = self._data.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_each_common_format_is_named_by_its_signature_and_opens(fmt):
    data = _encoded(fmt, "P" if fmt == "GIF" else "RGB")
    assert signature_format(data[:12]) == fmt
    with open_image(io.BytesIO(data)) as img:
        assert img.format == fmt and img.size == (7, 9)
        img.load()


def test_other_formats_and_garbage_name_none():
    assert signature_format(_encoded("TIFF")[:12]) is None
    assert signature_format(b"RIFF\x00\x00\x00\x00WAVE") is None  # a RIFF that is not WebP
    assert signature_format(b"") is None


def test_formats_without_a_known_signature_open_as_pillow_would():
    with open_image(io.BytesIO(_encoded("TIFF"))) as img:
        assert img.format == "TIFF"


def test_a_named_format_is_tried_first_and_skips_the_openers_before_it(monkeypatch):
    Image.init()  # every plugin registered, as in a scan
    # The IM opener (no signature check) before JPEG, as Pillow orders them when Image.init() runs first (when an
    # earlier Image.open ran preinit first, JPEG comes first and Pillow's own order would not show the point)
    monkeypatch.setattr(Image, "ID", ["IM", *(name for name in Image.ID if name != "IM")])
    assert Image.ID.index("IM") < Image.ID.index("JPEG")
    tried = []
    original = ImImagePlugin.ImImageFile._open

    def spy(self):  # noqa: ANN001, ANN202
        tried.append("IM")
        return original(self)

    monkeypatch.setattr(ImImagePlugin.ImImageFile, "_open", spy)
    data = _encoded("JPEG")
    with Image.open(io.BytesIO(data)):
        pass
    assert tried == ["IM"]  # Pillow's own order parses the header as IM first
    with open_image(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
    assert tried == ["IM"]  # the signature sent it straight to JPEG


def test_a_plugin_that_refuses_its_signature_falls_back_to_every_plugin(monkeypatch):
    import imgcheck.infer.image_signatures as signatures

    monkeypatch.setattr(signatures, "_SIGNATURES", ((0, b"\x89PNG", "GIF"),))  # a wrong guess: GIF refuses a PNG
    with open_image(io.BytesIO(_encoded("PNG"))) as img:
        assert img.format == "PNG"


def test_a_damaged_file_fails_as_it_does_in_pillows_own_order():
    data = b"BM" + _encoded("PNG")[2:]  # BMP's signature on bytes BMP's opener cannot read
    with pytest.raises(OSError) as pillow:
        Image.open(io.BytesIO(data))
    with pytest.raises(OSError) as ours:
        open_image(io.BytesIO(data))
    assert type(ours.value) is type(pillow.value) and str(ours.value) == str(pillow.value)


def test_an_unseekable_stream_is_not_sniffed_but_still_opens():
    with open_image(_NoSeek(_encoded("PNG"))) as img:
        assert img.format == "PNG" and img.size == (7, 9)
