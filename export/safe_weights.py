"""A state dict from a weights file, without running anyone's code: safetensors first, and a `.bin`/`.pt`/`.pth`
pickle only through torch's weights_only loader (tensors and plain containers; a pickle that names any other class
or function is refused). Then loaded into a module with every key checked: none missing, none left over."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from imgcheck.export.foreign import short_reason
from imgcheck.infer.errors import ImgcheckError, ModelFileError
from imgcheck.infer.models.model_file import file_sha256, load_torch_file

SAFETENSORS_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
_WRAPPERS = ("state_dict", "model_state_dict", "model")  # {"state_dict": {...}, "epoch": 3, ...} and the like


class WeightsError(ImgcheckError):
    """A weights file that cannot be loaded safely, or that does not fit the model (nothing was written)."""


def load_state_dict(files: Iterable[str | os.PathLike]) -> dict[str, torch.Tensor]:
    """The tensors of one weights file, or of the shards of one (merged; a key in two shards is refused)."""
    state: dict[str, torch.Tensor] = {}
    for file in files:
        part = _load_one(Path(file))
        repeated = sorted(set(state) & set(part))
        if repeated:
            raise WeightsError(f"{file}: repeats {len(repeated)} key(s) of another shard ({repeated[0]}, ...).")
        state.update(part)
    return state


def weights_record(files: Iterable[Path]) -> dict[str, str]:
    """{file name: sha256} for provenance."""
    return {Path(file).name: file_sha256(file) for file in files}


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], what: str, source: str) -> None:
    """Load `state` into `module`, refusing with one line any missing or unexpected key, or a shape that differs."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"{len(missing)} missing ({some_keys(missing)})"] if missing else []
        parts += [f"{len(unexpected)} unexpected ({some_keys(unexpected)})"] if unexpected else []
        raise WeightsError(f"{source}: its weights do not fit {what}: {' and '.join(parts)} key(s). The weights and "
                           "config.json (or --timm ARCH) must describe the same network.")
    wrong = [f"{k} {list(state[k].shape)} != {list(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise WeightsError(f"{source}: its weights do not fit {what}: {len(wrong)} tensor(s) of another shape "
                           f"({'; '.join(wrong[:2])}).")
    module.load_state_dict({k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()},
                           strict=True)


def _load_one(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file.")
    if path.suffix == SAFETENSORS_SUFFIX:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a readable safetensors file ({short_reason(exc)}).")
    if path.suffix not in PICKLE_SUFFIXES:
        raise WeightsError(f"{path}: unknown weights format; give a .safetensors file (or a .bin/.pt/.pth state dict).")
    try:
        state = load_torch_file(path, "weights file")  # the zip index checked, then weights_only: never code
    except ModelFileError as exc:
        raise WeightsError(exc.message) from None
    return _tensors(state, path)


def _tensors(state: object, path: Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} dict, unwrapped from a training checkpoint's {"state_dict": ...} if need be."""
    if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        inner = [state[k] for k in _WRAPPERS if isinstance(state.get(k), dict)]
        state = inner[0] if inner else state
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{path}: not a state dict (a mapping of names to tensors).")
    return state


def some_keys(keys: list[str], count: int = 3) -> str:
    """The first `count` keys, comma-separated, with an ellipsis when there are more."""
    return ", ".join(keys[:count]) + (", ..." if len(keys) > count else "")
