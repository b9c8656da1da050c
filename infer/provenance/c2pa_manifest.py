"""C2PA Content Credentials through c2pa-python (the Content Authenticity Initiative's library): a cheap sniff for
an embedded manifest store, then, only for the files that carry one, c2pa's Reader, which parses the JUMBF and
validates signatures and hashes.

Trust lists are not configured: a valid manifest whose signer is not on one (c2pa reports
`signingCredential.untrusted`) keeps its claim, marked "untrusted signer"; any other validation failure makes the
finding `c2pa:invalid(<first failure code>)`. Remote manifests and OCSP are never fetched (no network).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import mmap
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from PIL import Image

from imgcheck.infer.provenance.findings import Finding
from imgcheck.infer.provenance.vocabulary import claim_of_source_type

# The JUMBF description-box type of a C2PA manifest store: UUID 63327061-0011-0010-8000-00AA00389B71 ("c2pa"...),
# present as these bytes in every format c2pa embeds into (JPEG APP11, PNG caBX, WebP C2PA, TIFF, BMFF uuid, ...).
C2PA_STORE_UUID = bytes.fromhex("6332706100110010800000aa00389b71")
UNTRUSTED = "untrusted signer"
MMAP_FROM = 4 << 20  # files larger than this are searched memory-mapped
READER_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_contexts: dict[int, Any] = {}  # one c2pa Context per process (workers are forked)


def c2pa_installed() -> bool:
    """True when c2pa-python can be imported here (checked without importing it)."""
    if "c2pa" in sys.modules:
        return sys.modules["c2pa"] is not None
    try:
        return importlib.util.find_spec("c2pa") is not None
    except (ImportError, ValueError):
        return False


def carries_c2pa(img: Image.Image, source: object) -> bool:
    """True when the file holds a C2PA manifest store. JPEGs: from the APP11 segments Pillow already read (free);
    other formats: one search of the file's bytes (`source`: a path, the bytes, or the open stream)."""
    if img.format in ("JPEG", "MPO"):
        return any(marker == "APP11" and C2PA_STORE_UUID in payload for marker, payload in getattr(img, "applist", ()))
    return bytes_carry_c2pa(source)


def bytes_carry_c2pa(source: object) -> bool:
    """True when the bytes of `source` (a path, the bytes, or an open stream) hold a manifest store's type bytes,
    whatever the format; False when they cannot be read."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return C2PA_STORE_UUID in source
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                return _stream_contains(fh, C2PA_STORE_UUID)
        return _stream_contains(source, C2PA_STORE_UUID)
    except (OSError, ValueError):
        return False


def c2pa_findings(img: Image.Image, source: object) -> list[Finding]:
    """What the file's C2PA manifest store claims; [] when c2pa-python is missing or there is no manifest."""
    return manifest_findings(Image.MIME.get(img.format or "", "") or "application/octet-stream", source)


def manifest_findings(mime: str, source: object) -> list[Finding]:
    """`c2pa_findings` for a file of media type `mime`, read by c2pa alone (no Pillow image needed: a file whose
    pixels are broken still has its manifest read)."""
    try:
        import c2pa
    except Exception:  # not installed, or its native library does not load: the scan says so once
        return []
    try:
        with _binary(source) as stream:
            reader = c2pa.Reader.try_create(mime, stream, context=_context(c2pa))
            if reader is None:
                return []
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return [Finding("c2pa", "invalid", error_code(exc))]
    except (OSError, ValueError) as exc:
        return [Finding("c2pa", "invalid", f"unreadable: {exc}")]
    return store_findings(store)


def store_findings(store: dict[str, Any]) -> list[Finding]:
    """Findings from a manifest store as c2pa's Reader reports it (`Reader.json()`): invalid when validation
    failed, else each claim its manifests' actions make (the active manifest first, then its ingredients')."""
    failures = validation_failures(store)
    problems = [code for code in failures if not code.endswith(".untrusted")]
    if problems:
        return [Finding("c2pa", "invalid", problems[0])]
    note = f", {UNTRUSTED}" if len(problems) < len(failures) else ""
    manifests = store.get("manifests") or {}
    active = store.get("active_manifest")
    ordered = ([manifests[active]] if active in manifests else []) + [m for k, m in manifests.items() if k != active]
    found = []
    for manifest in ordered:
        if not isinstance(manifest, dict):
            continue
        for action in _actions(manifest):
            claim = claim_of_source_type(str(action.get("digitalSourceType", "")))
            if claim and claim not in (f.claim for f in found):
                found.append(Finding("c2pa", claim, (_agent(action) or _generator(manifest) or "unnamed") + note))
    return found


def validation_failures(store: dict[str, Any]) -> list[str]:
    """The failure codes of the active manifest's validation (`validation_results`, or the older
    `validation_status` list)."""
    results = store.get("validation_results")
    if isinstance(results, dict):
        entries = (results.get("activeManifest") or {}).get("failure") or []
    else:
        entries = store.get("validation_status") or []
    return [str(e.get("code", "unknown")) for e in entries if isinstance(e, dict)]


def error_code(exc: Exception) -> str:
    """A c2pa error as the finding's detail: its message ('Verify: invalid box header'), else its class."""
    return " ".join(str(exc).split()) or type(exc).__name__.lstrip("_")


def _actions(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if isinstance(action, dict):
                    yield action


def _agent(action: dict[str, Any]) -> str:
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name")
    return str(agent).strip() if agent else ""


def _generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        return str(info[0]["name"])
    return str(manifest.get("claim_generator") or "").split("/")[0].strip()


def _context(c2pa: Any) -> Any:
    pid = os.getpid()
    if pid not in _contexts:
        _contexts[pid] = c2pa.Context.from_dict(READER_SETTINGS)
    return _contexts[pid]


@contextlib.contextmanager
def _binary(source: object) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            yield fh
    else:
        source.seek(0)  # type: ignore[attr-defined]
        yield source  # type: ignore[misc]


def _stream_contains(stream: Any, needle: bytes, chunk: int = 1 << 20) -> bool:
    """True when `needle` is in the stream's bytes: large files memory-mapped, small ones read whole (the stream the
    decoder opened is passed in, so a small file costs one read and no open)."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        size = None
    if size is not None and size > MMAP_FROM:
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view.find(needle) >= 0
    stream.seek(0)
    if size is not None:
        return needle in stream.read(size + 1)
    tail = b""
    while block := stream.read(chunk):
        if needle in tail + block[:len(needle)] or needle in block:
            return True
        tail = block[-(len(needle) - 1):]
    return False
