"""Findings in PNG text chunks (tEXt, zTXt, iTXt): the generation parameters that image generators write.

Recognised by the keys and shapes each tool writes, with substring tests only (a ComfyUI workflow can be megabytes
of JSON; nothing is parsed):

* AUTOMATIC1111 and its forks (Forge, SD.Next): `parameters`, text ending in "Steps: N, Sampler: ..., Seed: ...";
  SwarmUI and Fooocus write `parameters` as JSON with their own keys;
* ComfyUI: `prompt` (the node graph, nodes with "class_type") and/or `workflow` (the editor's graph, "nodes");
* InvokeAI: `invokeai_metadata` or `invokeai_graph` (3.x+), `sd-metadata` (2.x), `Dream` (1.x);
* NovelAI: `Software` "NovelAI" (with `Source` and a JSON `Comment`);
* Midjourney: `Description` with its "Job ID";
* any other tool that names a generator in `Software`.
"""

from __future__ import annotations

from collections.abc import Mapping

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.vocabulary import names_generator

_INVOKEAI_KEYS = ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream")


def text_chunks(img: object) -> Mapping[str, str]:
    """A PNG's text chunks as Pillow read them (all of them once the image is loaded), or {} for other images."""
    if getattr(img, "format", None) != "PNG":
        return {}
    try:
        text = img.text  # type: ignore[attr-defined]
    except Exception:  # a damaged chunk after the pixels: no text evidence
        return {}
    return {str(k): v for k, v in text.items() if isinstance(v, str)}


def png_findings(text: Mapping[str, str]) -> list[Finding]:
    """What the text chunks claim, one finding per tool recognised."""
    tools = []
    parameters = text.get("parameters", "")
    if parameters:
        tools.append(_parameters_tool(parameters))
    if '"class_type"' in text.get("prompt", "") or '"nodes"' in text.get("workflow", ""):
        tools.append("ComfyUI")
    if any(key in text for key in _INVOKEAI_KEYS):
        tools.append("InvokeAI")
    software = text.get("Software", "").strip()
    if software.lower().startswith("novelai"):
        tools.append("NovelAI")
    elif software and names_generator(software):
        tools.append(software)
    if "Job ID:" in text.get("Description", "") and "midjourney" not in " ".join(tools).lower():
        tools.append("Midjourney")
    return [Finding("png", "ai-generated", tool) for tool in dict.fromkeys(t for t in tools if t)]


def _parameters_tool(parameters: str) -> str | None:
    """Which tool wrote a `parameters` chunk, or None when it is not generation parameters."""
    head = parameters.lstrip()[:1]
    if head == "{":
        if "sui_image_params" in parameters:
            return "SwarmUI"
        if "fooocus" in parameters.lower():
            return "Fooocus"
        return None
    return "AUTOMATIC1111" if looks_like_a1111(parameters) else None


def looks_like_a1111(text: str) -> bool:
    """True for AUTOMATIC1111-style generation parameters ("... Steps: 20, Sampler: Euler a, ... Seed: 1, ...")."""
    return "Steps: " in text and ("Sampler: " in text or "Seed: " in text or "CFG scale: " in text)
