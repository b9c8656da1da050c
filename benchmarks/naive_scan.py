"""The scan a user would otherwise write: torchvision transforms, a DataLoader, eager PyTorch, csv.writer.

    python benchmarks/naive_scan.py FOLDER CHECKPOINT OUT.csv

This is the baseline of scan_vs_naive.py, kept deliberately ordinary.
"""

import csv
import sys
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from imgcheck.trainer.checkpoint import load_checkpoint
from imgcheck.infer.models.architectures import build_model


class Folder(Dataset):
    def __init__(self, root, transform):
        self.paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.transform(Image.open(self.paths[i]).convert("RGB")), str(self.paths[i])


def main(folder, checkpoint, out):
    state, meta = load_checkpoint(checkpoint)
    model = build_model(meta.arch)
    model.load_state_dict(state["state_dict"])
    model.eval()
    transform = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                    transforms.Normalize(meta.mean, meta.std)])
    loader = DataLoader(Folder(folder, transform), batch_size=64, num_workers=2)
    with open(out, "w", newline="") as fh, torch.no_grad():
        writer = csv.writer(fh)
        writer.writerow(["path", "p_fake", "verdict"])
        for images, paths in loader:
            for path, p in zip(paths, torch.sigmoid(model(images)).tolist()):
                writer.writerow([path, f"{p:.6f}", "FAKE" if p >= 0.5 else "REAL"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
