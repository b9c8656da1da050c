"""Tiny random Hugging Face and timm detectors, saved as their libraries save them, for the import tests.

Each Hugging Face model is a `*ForImageClassification` of a few thousand weights at 32 px with a PIL-backend
image processor (`save_pretrained` of both): what a user downloads from the Hub, minus the training. The images are
smooth gradients plus noise, saved as PNG, at several sizes and aspect ratios.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SIZES = [(48, 40), (40, 64), (97, 53), (32, 32), (130, 96)]  # (width, height)
SIDE = 32

# kind: (config class, config arguments, processor class, processor arguments)
KINDS = {
    "vit": ("ViTConfig", dict(image_size=SIDE, patch_size=8, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=64),
            "ViTImageProcessorPil", dict(size={"height": SIDE, "width": SIDE}, resample=3)),  # fixed size, bicubic
    "swin": ("SwinConfig", dict(image_size=SIDE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                                window_size=4),
             "ViTImageProcessorPil", dict(size={"height": SIDE, "width": SIDE}, resample=2,
                                          image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])),
    "convnext": ("ConvNextConfig", dict(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], image_size=SIDE),
                 "ConvNextImageProcessorPil", dict(size={"shortest_edge": SIDE}, crop_pct=0.875)),  # 36, crop 32
    "clip": ("CLIPConfig", dict(vision_config=dict(image_size=SIDE, patch_size=8, hidden_size=32,
                                                   num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
                                text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=64)),
             "CLIPImageProcessorPil", dict(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})),
}

# Classifier weight scales that spread these random models' p_fake over the test images (about 0.1-0.3 wide, away
# from 0 and 1): CLIP's pooled features are far larger than the others'.
GAINS = {"vit": 40.0, "swin": 40.0, "convnext": 40.0, "clip": 2.0}


def save_hf_model(folder: Path, kind: str, labels: list[str], seed: int = 0, bias: list[float] | None = None,
                  gain: float | None = None, processor: dict | None = None) -> Path:
    """A random `kind` image classifier over `labels` and its image processor, saved with save_pretrained.
    `gain` (default GAINS[kind]) scales the classifier's weights, so that scores spread over images (a random head
    gives nearly the same p_fake to every image, which would hide a preprocessing error); `bias` sets its bias
    (e.g. to put every score far from the threshold); `processor` replaces the processor's arguments."""
    import torch
    import transformers

    config_class, config_args, processor_class, processor_args = KINDS[kind]
    id2label = dict(enumerate(labels))
    config = getattr(transformers, config_class)(**config_args, id2label=id2label,
                                                 label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(seed)
    model = transformers.AutoModelForImageClassification.from_config(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(GAINS[kind] if gain is None else gain)
        if bias is not None:
            model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(folder)
    getattr(transformers, processor_class)(**(processor or processor_args)).save_pretrained(folder)
    return folder


def hf_p_fake(folder: Path, images: list[Path], fakes: list[str]) -> np.ndarray:
    """p_fake as transformers computes it: the saved processor (PIL backend) and model, softmax, FAKE classes
    summed."""
    import torch
    import transformers

    processor = transformers.AutoImageProcessor.from_pretrained(folder, backend="pil")
    assert "Pil" in type(processor).__name__, type(processor).__name__
    model = transformers.AutoModelForImageClassification.from_pretrained(folder).eval()
    pixels = processor([Image.open(p).convert("RGB") for p in images], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        probabilities = torch.softmax(model(pixel_values=pixels).logits, dim=-1).numpy()
    columns = [i for i, name in model.config.id2label.items() if name in fakes]
    return probabilities[:, columns].sum(axis=1)


def real_looking_images(folder: Path, sizes: list[tuple[int, int]] = IMAGE_SIZES, seed: int = 29) -> list[Path]:
    """Smooth gradients and a ripple plus noise, as PNG (every decoder reads the same pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for width, height in sizes:
        y, x = np.mgrid[0:height, 0:width].astype(np.float64)
        rgb = np.stack([255 * x / width, 255 * y / height, 127 + 100 * np.sin(x / 7 + y / 11)], axis=-1)
        rgb += rng.normal(0, 12, rgb.shape)
        path = folder / f"{width}x{height}.png"
        Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def write_config(folder: Path, config: dict, weights: bool = True, processor: dict | None = None) -> Path:
    """A hand-written snapshot folder: config.json, an empty-ish weights file and a ViT processor config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text(json.dumps(processor or {
        "image_processor_type": "ViTImageProcessor", "size": {"height": SIDE, "width": SIDE}}))
    if weights:
        from safetensors.torch import save_file
        import torch

        save_file({"w": torch.zeros(1)}, str(folder / "model.safetensors"))
    return folder


# A timm model saved as timm saves it, with preprocessing that differs from the architecture's own (test_vit's and
# test_resnet's are 160 px, crop_pct 0.95, mean/std 0.5): the import must take the saved one.
TIMM_DATA_CONFIG = {"input_size": (3, 64, 64), "crop_pct": 0.9, "mean": (0.4, 0.5, 0.6), "std": (0.2, 0.25, 0.3)}


def save_timm_model(folder: Path, arch: str, classes: int, seed: int = 0, gain: float = 8.0, safe: bool = True,
                    label_names: list[str] | None = None, data_config: dict | None = TIMM_DATA_CONFIG,
                    **model_args):  # noqa: ANN201 - a torch module
    """A random timm `arch` with a `classes`-output head (its weights times `gain`, so that scores spread over
    images), saved with timm's save_for_hf: config.json (pretrained_cfg from `data_config`, `label_names`) and
    model.safetensors, or pytorch_model.bin when not `safe`. Returns the model, in eval mode."""
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=classes, **model_args).eval()
    with torch.no_grad():
        model.get_classifier().weight.mul_(gain)
    timm.models.save_for_hf(model, str(folder), safe_serialization=safe, data_config=data_config,
                            model_config={"label_names": label_names} if label_names else None)
    return model


def timm_outputs(model, images: list[Path], data_config: dict | None = None) -> np.ndarray:  # noqa: ANN001
    """timm's own eval transform (resolve_data_config + create_transform, on PIL images) and model: raw outputs."""
    import torch
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config(dict(data_config or {}), model=model))
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in images])
    with torch.no_grad():
        return model(batch).numpy()
