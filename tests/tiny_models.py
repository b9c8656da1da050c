"""Tiny models written to every carrier, for tests.

Run as a script to write them into a folder: python tests/tiny_models.py OUT_DIR
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from imgcheck.export.metadata import attach_to_onnx, torchscript_extra_files
from imgcheck.infer.meta import ModelMeta, Provenance
from imgcheck.trainer.checkpoint import save_checkpoint


class TinyDetector(nn.Module):
    """Conv -> ReLU -> global average -> linear: one logit per image; `with_sigmoid` emits p_fake."""

    def __init__(self, with_sigmoid: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 1)
        self.with_sigmoid = with_sigmoid

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logit = self.head(self.features(image)).squeeze(1)
        return torch.sigmoid(logit) if self.with_sigmoid else logit


class BrightnessDetector(nn.Module):
    """p_fake = sigmoid(gain * (mean pixel - 0.5)): brighter images look more FAKE. Scores are known in advance,
    so tests can construct sets whose best threshold and metrics are known."""

    def __init__(self, gain: float = 10.0) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.gain * (image.mean(dim=(1, 2, 3)) - 0.5))


def brightness_p_fake(gray_level: int, gain: float = 10.0) -> float:
    """The BrightnessDetector's p_fake for a uniform image of `gray_level` (0-255), with mean 0 / std 1 inputs."""
    import math

    return 1 / (1 + math.exp(-gain * (gray_level / 255 - 0.5)))


def tiny_meta(**changes) -> ModelMeta:
    """A ModelMeta with every field set, provenance included."""
    fields = dict(
        arch="tiny",
        input_size=(3, 32, 32),
        threshold=0.42,
        provenance=Provenance(
            dataset="synthetic", train_size=8, val_size=2, test_size=4, seed=7, epochs=1,
            selection_metric="val_accuracy", test_metrics={"accuracy": 0.5, "confusion_matrix": [[1, 1], [1, 1]]},
            extra={"note": "built by tests/tiny_models.py"},
        ),
    )
    fields.update(changes)
    return ModelMeta(**fields)


def tiny_model(seed: int = 0, with_sigmoid: bool = True) -> TinyDetector:
    """A TinyDetector with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return TinyDetector(with_sigmoid).eval()


def write_onnx(path: Path, meta: ModelMeta | None = None, model: nn.Module | None = None) -> Path:
    """Export `model` to ONNX (dynamic batch) and, unless `meta` is None, embed it."""
    import onnx

    model = model or tiny_model()
    example = torch.zeros(2, *(meta.input_size if meta else (3, 32, 32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), input_names=["image"], output_names=["p_fake"],
            dynamic_shapes={"image": {0: torch.export.Dim("batch")}}, dynamo=True, verbose=False,
        )
    proto = program.model_proto
    if meta is not None:
        attach_to_onnx(proto, meta)
    onnx.save(proto, path)
    return path


def write_torchscript(path: Path, meta: ModelMeta | None = None, model: nn.Module | None = None) -> Path:
    """Trace `model` to TorchScript and, unless `meta` is None, embed it as an extra file."""
    model = model or tiny_model()
    traced = torch.jit.trace(model, torch.zeros(1, 3, 32, 32))
    torch.jit.save(traced, str(path), _extra_files=torchscript_extra_files(meta) if meta else {})
    return path


def write_checkpoint(path: Path, meta: ModelMeta, model: nn.Module | None = None) -> Path:
    """Save a training checkpoint (logit model) carrying `meta`."""
    model = model or tiny_model(with_sigmoid=False)
    return save_checkpoint(path, model.state_dict(), meta, epoch=1)


def main(out_dir: str) -> None:
    """Write tiny.onnx, tiny_torchscript.pt and tiny_checkpoint.pt into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = tiny_meta()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates torch.jit upstream
        written = [
            write_onnx(out / "tiny.onnx", meta),
            write_torchscript(out / "tiny_torchscript.pt", meta),
            write_checkpoint(out / "tiny_checkpoint.pt", meta.replace(output="logit")),
        ]
    for path in written:
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tiny_models")
