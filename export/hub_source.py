"""Where a Hugging Face model comes from: a local snapshot folder, or a Hub id fetched into the local cache.

A snapshot is `config.json` (the architecture, `id2label`), the weights (`model.safetensors`, sharded safetensors
with their index, or a `pytorch_model.bin` that torch loads with weights_only) and `preprocessor_config.json` (the
image processor). A Hub id is written `hf:org/name` or `hf:org/name@revision` (a timm model's also as timm
writes it, `hf-hub:org/name[@revision]`); only those files are fetched (`huggingface_hub.snapshot_download` with
allow_patterns), never code. A timm model saved by timm (`timm.models.save_for_hf`) is read by `timm_import`, which
uses `locate` and `weights_files`; this module reads files only: no torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgcheck.export.foreign import short_reason
from imgcheck.infer.errors import DependencyMissingError, ImgcheckError
from imgcheck.infer.version import install_extra

HUB_PREFIX = "hf:"
TIMM_HUB_PREFIX = "hf-hub:"  # timm's spelling (timm.create_model("hf-hub:org/name")), taken by `--timm`
CONFIG, PREPROCESSOR = "config.json", "preprocessor_config.json"
SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PICKLED_WEIGHTS = ("pytorch_model.bin",)  # loaded with torch.load(weights_only=True) only
# What is fetched of a Hub repository: the configs and safetensors weights; a pickled weights file only when the
# repository has no safetensors (so a repository with both is not downloaded twice over). Never code.
SAFE_PATTERNS = [CONFIG, PREPROCESSOR, SAFETENSORS, SAFETENSORS_INDEX, "model-*-of-*.safetensors"]
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
_REQUIRED = f"{CONFIG}, {SAFETENSORS} (or {PICKLED_WEIGHTS[0]}) and {PREPROCESSOR}"


class HubSourceError(ImgcheckError):
    """A Hugging Face source that cannot be read or fetched (nothing was written)."""


@dataclass(frozen=True)
class Location:
    """Where a model's files are: a local folder, and for a Hub id the repository it was fetched from."""

    folder: Path
    source: str  # what provenance records: the folder, or org/name@revision
    repo_id: str | None = None
    revision: str | None = None  # as asked for (None: the default branch)
    commit: str | None = None  # the snapshot's commit, when it sits in the Hub cache


@dataclass(frozen=True, kw_only=True)
class Snapshot(Location):
    """A Hugging Face model's files, read: its config, its processor config and its weights files."""

    config: dict[str, Any]
    processor: dict[str, Any]
    weights: tuple[Path, ...]  # one file, or the shards an index names


def is_hub_id(text: str) -> bool:
    """True for `hf:org/name[@revision]`, the spelling of a Hub id as SOURCE (`--timm` takes timm's too)."""
    return text.startswith(HUB_PREFIX)


def parse_hub_id(text: str) -> tuple[str, str | None]:
    """(repo_id, revision or None) of `hf:org/name[@revision]` (or timm's `hf-hub:org/name[@revision]`)."""
    prefix = TIMM_HUB_PREFIX if text.startswith(TIMM_HUB_PREFIX) else HUB_PREFIX
    match = _HUB_ID.match(text.removeprefix(prefix))
    if match is None:
        raise HubSourceError(f"{text!r} is not a Hub id: write {prefix}org/name or {prefix}org/name@revision.")
    return match["repo"], match["revision"]


def locate(source: str | os.PathLike | Location, prefixes: tuple[str, ...] = (HUB_PREFIX,)) -> Location:
    """The folder of `source`: the path itself, or for a Hub id (written with one of `prefixes`) the snapshot
    fetched into the local cache; a Location already found is returned as it is."""
    if isinstance(source, Location):
        return source
    text = os.fsdecode(source)
    if not text.startswith(prefixes):
        return Location(Path(text), text)
    repo_id, revision = parse_hub_id(text)
    folder = fetch(repo_id, revision)
    commit = folder.name if folder.parent.name == "snapshots" else None
    return Location(folder, f"{repo_id}@{revision or commit or 'main'}", repo_id, revision, commit)


def open_snapshot(source: str | os.PathLike | Location) -> Snapshot:
    """Read the snapshot at a folder, or fetch `hf:org/name[@revision]` first."""
    return read_snapshot(locate(source))


def fetch(repo_id: str, revision: str | None) -> Path:
    """The local folder of `repo_id` at `revision` with the model's files: from the Hub cache, downloading what is
    missing. No network, offline mode or a missing repository: one line saying how to fetch it elsewhere."""
    try:
        import huggingface_hub
    except ImportError:
        raise DependencyMissingError(f"a Hub id needs huggingface_hub: {install_extra('hub')} (or pass a downloaded "
                                     "model folder)")
    def download(patterns: list[str]) -> Path:
        try:
            return Path(huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
        except Exception as exc:  # no network, offline mode, unknown repository or revision, gated, disk full, ...
            raise HubSourceError(f"cannot fetch {repo_id}: {_reason(exc)}; download it elsewhere (huggingface-cli "
                                 f"download {repo_id}) and pass the folder.")

    folder = download(SAFE_PATTERNS)
    if not any((folder / name).is_file() for name in (SAFETENSORS, SAFETENSORS_INDEX)):
        folder = download(SAFE_PATTERNS + list(PICKLED_WEIGHTS))
    return folder


def read_snapshot(where: Location) -> Snapshot:
    """Read a snapshot folder's config, processor config and weights files; refuse one that lacks any."""
    folder, source = where.folder, where.source
    if not folder.is_dir():
        raise HubSourceError(f"{folder}: no such folder (a Hugging Face model is a folder with {_REQUIRED}; a Hub id "
                             "is written hf:org/name).")
    if not (folder / CONFIG).is_file():
        raise HubSourceError(f"{folder}: no {CONFIG}, so not a Hugging Face model folder (it needs {_REQUIRED}); "
                             "an ONNX or TorchScript file is imported by its own path.")
    config = read_json(folder / CONFIG)
    if is_timm_config(config):
        revision = f"@{where.revision}" if where.revision else ""
        timm_source = f"{TIMM_HUB_PREFIX}{where.repo_id}{revision}" if where.repo_id else source
        raise HubSourceError(f"{source}: a timm model (its {CONFIG} names architecture {config['architecture']!r} "
                             f"and a pretrained_cfg); import it with --timm {timm_source}.")
    if not (folder / PREPROCESSOR).is_file():
        raise HubSourceError(f"{folder}: no {PREPROCESSOR}: imgcheck takes the preprocessing from the model's own "
                             "image processor and will not guess it; add the file from the model's Hub page.")
    processor = read_json(folder / PREPROCESSOR)
    return Snapshot(**vars(where), config=config, processor=processor, weights=weights_files(folder))


def weights_files(folder: Path) -> tuple[Path, ...]:
    """model.safetensors, or the shards its index names, or a weights_only pickle: the first that is there."""
    if (folder / SAFETENSORS).is_file():
        return (folder / SAFETENSORS,)
    if (folder / SAFETENSORS_INDEX).is_file():
        index = read_json(folder / SAFETENSORS_INDEX)
        shards = sorted(set(index.get("weight_map", {}).values())) if isinstance(index.get("weight_map"), dict) else []
        bad = [s for s in shards if not isinstance(s, str) or Path(s).name != s or not (folder / s).is_file()]
        if not shards or bad:
            raise HubSourceError(f"{folder / SAFETENSORS_INDEX}: its weight_map names no shard, or shards that are not "
                                 f"files beside it ({', '.join(map(str, bad[:3]))}).")
        return tuple(folder / s for s in shards)
    for name in PICKLED_WEIGHTS:
        if (folder / name).is_file():
            return (folder / name,)
    raise HubSourceError(f"{folder}: no weights: expected {SAFETENSORS} (or {PICKLED_WEIGHTS[0]}); download the "
                         "model's weights file into the folder.")


def is_timm_config(config: dict[str, Any]) -> bool:
    """True for a config.json as timm writes it: an `architecture` and a `pretrained_cfg`, no transformers
    `model_type`."""
    return isinstance(config.get("architecture"), str) and "pretrained_cfg" in config and "model_type" not in config


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; anything else is refused with one line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HubSourceError(f"{path}: not readable JSON ({_reason(exc)}).")
    if not isinstance(data, dict):
        raise HubSourceError(f"{path}: must hold a JSON object, got {type(data).__name__}.")
    return data


def _reason(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, cut to `limit` characters; huggingface_hub's offline errors said
    plainly."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 5:
        chain.append(chain[-1].__cause__)
    if any(type(e).__name__ == "OfflineModeIsEnabled" for e in chain) or (
            type(exc).__name__ == "LocalEntryNotFoundError" and "HF_HUB_OFFLINE" in str(exc)):
        return "offline (HF_HUB_OFFLINE is set) and not in the local Hugging Face cache"
    return short_reason(exc, limit) if str(exc).strip() else type(exc).__name__
