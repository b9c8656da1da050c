"""What a run records of the weights file it started from (`--weights-file`): path, sha256, and what a sidecar says.

`tools/pretrained_weights.py` writes `NAME.pth.json` beside each file it makes (arch, source, licence, sha256), so a
model trained from those weights carries their origin and licence in its ModelMeta.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.model_file import file_sha256


def weights_file_record(path: str) -> dict[str, Any]:
    """What ModelMeta records of a --weights-file: its path and sha256; for an imgcheck checkpoint, under "from",
    the weights file its run started from (`checkpoint_weights_record`); and the arch, source and licence of the
    sidecar `<file>.json` beside it, if any (imgcheck's weight fetcher writes one). A sidecar naming another file's
    sha256 is refused: it would give these weights another file's licence."""
    record: dict[str, Any] = {"path": path, "sha256": file_sha256(path)}
    earlier = checkpoint_weights_record(path)
    if earlier is not None:  # an imgcheck checkpoint: say where its own weights came from (pretrained, licence)
        record["from"] = earlier
    sidecar = Path(f"{path}.json")
    if not sidecar.is_file():
        return record
    try:
        facts = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise ImgcheckError(f"--weights-file {path}: its sidecar {sidecar} is not readable JSON ({exc}); fix or "
                            f"remove it.")
    if not isinstance(facts, dict):
        raise ImgcheckError(f"--weights-file {path}: its sidecar {sidecar} is not a JSON object; fix or remove it.")
    if facts.get("sha256") not in (None, record["sha256"]):
        raise ImgcheckError(f"--weights-file {path}: its sidecar {sidecar} describes another file (sha256 "
                            f"{str(facts['sha256'])[:16]}..., this file's is {record['sha256'][:16]}...); fix or "
                            f"remove the sidecar.")
    return {**record, **{key: facts[key] for key in ("arch", "source", "licence") if key in facts}}


def checkpoint_weights_record(path: str) -> dict[str, Any] | None:
    """The `weights_file` record of the run that wrote `path`, when `path` is an imgcheck training checkpoint that
    started from a weights file itself (a 64x64 run fine-tuned from a 32x32 run's best.pt keeps the chain back to
    the pretrained file and its licence); None for a plain state dict, or a checkpoint trained from scratch."""
    from imgcheck.infer.models.model_file import CHECKPOINT, ModelFile

    try:
        model_file = ModelFile.open(path)
    except ImgcheckError:  # no ModelMeta: a state dict from torchvision, timm or tools/pretrained_weights.py
        return None
    if model_file.carrier != CHECKPOINT:
        return None
    earlier = model_file.meta.provenance.extra.get("weights_file")
    return earlier if isinstance(earlier, dict) else None
