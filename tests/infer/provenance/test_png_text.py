"""PNG text chunks: the generation parameters AUTOMATIC1111, ComfyUI, InvokeAI, NovelAI and others write."""

import pytest
from PIL import Image

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.png_text import png_findings, text_chunks
from provenance_fixtures import A1111_PARAMETERS, COMFYUI_PROMPT, COMFYUI_WORKFLOW, png_with_text


@pytest.mark.parametrize("chunks, tool", [
    ({"parameters": A1111_PARAMETERS}, "AUTOMATIC1111"),
    ({"prompt": COMFYUI_PROMPT, "workflow": COMFYUI_WORKFLOW}, "ComfyUI"),
    ({"workflow": COMFYUI_WORKFLOW}, "ComfyUI"),
    ({"invokeai_metadata": '{"app_version": "3.4.0"}'}, "InvokeAI"),
    ({"sd-metadata": '{"model": "stable diffusion"}'}, "InvokeAI"),
    ({"Software": "NovelAI", "Source": "NovelAI Diffusion V3", "Comment": '{"steps": 28}'}, "NovelAI"),
    ({"parameters": '{"sui_image_params": {"seed": 1}}'}, "SwarmUI"),
    ({"Description": "a cat --v 6 Job ID: 0123abcd-0000-0000-0000-000000000000"}, "Midjourney"),
    ({"Software": "Stable Diffusion 3 (DreamStudio)"}, "Stable Diffusion 3 [DreamStudio]"),
])
def test_generators_are_recognised(tmp_path, chunks, tool):
    path = png_with_text(tmp_path / "g.png", chunks, compressed=len(chunks) > 1)
    with Image.open(path) as img:
        img.load()
        assert png_findings(text_chunks(img)) == [Finding("png", "ai-generated", tool)]


@pytest.mark.parametrize("chunks", [{}, {"parameters": "just some words"}, {"prompt": "a cat"},
                                    {"Software": "GIMP 2.10"}, {"Comment": "Steps: 3"}])
def test_other_text_says_nothing(chunks):
    assert png_findings(chunks) == []


def test_text_after_the_pixels_is_read_once_loaded(tmp_path):
    path = png_with_text(tmp_path / "late.png", {})
    data = path.read_bytes()
    import struct
    import zlib
    chunk = b"parameters\x00" + A1111_PARAMETERS.encode("latin-1")
    late = struct.pack(">I", len(chunk)) + b"tEXt" + chunk + struct.pack(">I", zlib.crc32(b"tEXt" + chunk))
    path.write_bytes(data[:-12] + late + data[-12:])  # before IEND, after IDAT
    with Image.open(path) as img:
        img.load()
        assert png_findings(text_chunks(img)) == [Finding("png", "ai-generated", "AUTOMATIC1111")]
