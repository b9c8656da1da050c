"""The baseline `hub_scan.py` compares against: the `transformers` loop a user writes today to run a Hub
image-classification detector over a folder, writing one CSV row per image (path and every label's score).

    python benchmarks/hub_pipeline.py MODEL_DIR IMAGES_DIR OUT.csv [--batch-size 8]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("images")
    parser.add_argument("out")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    from transformers import pipeline

    classify = pipeline("image-classification", model=args.model, device=-1)
    labels = list(classify.model.config.id2label.values())
    paths = sorted(str(p) for p in Path(args.images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", *labels])
        results = classify(paths, batch_size=args.batch_size, top_k=len(labels))
        for path, scores in zip(paths, results):
            by_label = {entry["label"]: entry["score"] for entry in scores}
            writer.writerow([path, *(by_label[label] for label in labels)])


if __name__ == "__main__":
    main()
