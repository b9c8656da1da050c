"""Put a ModelMeta into exported model files (the reading side is imgcheck.infer.models.model_file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgcheck.infer.meta import ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, ModelMeta

if TYPE_CHECKING:
    import onnx


def attach_to_onnx(model: onnx.ModelProto, meta: ModelMeta) -> None:
    """Store `meta` as the JSON string of metadata_props["imgcheck"], replacing any earlier one."""
    for index in reversed(range(len(model.metadata_props))):
        if model.metadata_props[index].key == ONNX_METADATA_KEY:
            del model.metadata_props[index]
    entry = model.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = meta.to_json()


def torchscript_extra_files(meta: ModelMeta) -> dict[str, str]:
    """The `_extra_files` mapping for torch.jit.save that carries `meta`."""
    return {TORCHSCRIPT_EXTRA_FILE: meta.to_json()}
