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

A chunk Pillow refuses (a text bomb, too much text in all) is left out of the decode and becomes a note instead:
`png:invalid(text over limit: zTXt parameters)` (`skipped_findings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from imgcheck.infer.png_chunks import UNKNOWN_COMPRESSION, SkippedChunk
from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.vocabulary import names_generator

_INVOKEAI_KEYS = ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream")


def text_chunks(img: object, loaded: bool = True) -> Mapping[str, str]:
    """A PNG's text chunks as Pillow read them (all of them once the image is loaded), or {} for other images.
    With `loaded` False (an image whose pixels are not to be decoded) only those before the pixel data, which Pillow
    keeps in `info` when it opens the file: reading `img.text` would load the pixels."""
    if getattr(img, "format", None) != "PNG":
        return {}
    try:
        text = img.text if loaded else img.info  # type: ignore[attr-defined]
    except Exception:  # a damaged chunk after the pixels: no text evidence
        return {}
    return {k: v for k, v in text.items() if isinstance(k, str) and isinstance(v, str)}


def skipped_findings(skipped: Iterable[SkippedChunk]) -> list[Finding]:
    """`png:invalid(...)` for the metadata chunks left out of a PNG whose pixels were decoded without them
    (`png_chunks`): `text over limit` (a text chunk that inflates beyond Pillow's MAX_TEXT_CHUNK, or text beyond its
    MAX_TEXT_MEMORY in all), `ICC profile over limit`, `unknown compression`; one finding per kind, naming the
    chunk (`text over limit: zTXt parameters`), or the first of several (`text over limit: 70 chunks, first zTXt
    comment`). What such a chunk held is unknown: the finding says only that it was there."""
    kinds: dict[str, list[SkippedChunk]] = {}
    for chunk in skipped:
        if chunk.reason == UNKNOWN_COMPRESSION:
            kind = "unknown compression"
        else:
            kind = "ICC profile over limit" if chunk.kind == "iCCP" else "text over limit"
        kinds.setdefault(kind, []).append(chunk)
    found = []
    for kind, chunks in kinds.items():
        first = f"{chunks[0].kind} {chunks[0].keyword}".strip()
        found.append(Finding("png", "invalid", f"{kind}: {first}" if len(chunks) == 1
                             else f"{kind}: {len(chunks)} chunks, first {first}"))
    return found


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
