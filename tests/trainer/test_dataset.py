import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.dataset import LabeledImageFiles


def _cifake_style_jpegs(folder, count=6):
    """32x32 RGB baseline JPEGs at quality 75 with 4:2:0 chroma, named like CIFAKE's files."""
    rng = np.random.default_rng(0)
    samples = []
    for index in range(count):
        label = index % 2
        path = folder / ("REAL" if label == 0 else "FAKE") / f"{1000 + index} ({index % 10 + 1}).jpg"
        path.parent.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format="JPEG", quality=75, subsampling=2)
        samples.append((path, label))
    return samples


@pytest.mark.parametrize("meta", [ModelMeta(arch="cnn"), ModelMeta(arch="r", input_size=(3, 48, 40), interpolation="bicubic")],
                         ids=["32x32 as stored", "resized"])
def test_training_and_inference_see_bit_identical_tensors(tmp_path, meta):
    samples = _cifake_style_jpegs(tmp_path)
    dataset = LabeledImageFiles(samples, meta)
    infer = Preprocessor.from_meta(meta)
    for index, (path, _) in enumerate(samples):
        train_tensor, _ = dataset[index]
        served = torch.from_numpy(infer(path))
        assert train_tensor.dtype == served.dtype == torch.float32
        assert torch.equal(train_tensor, served)
    # a DataLoader batch equals what a scan batch (normalize over stacked pixels) computes
    images, targets = next(iter(DataLoader(dataset, batch_size=len(samples), shuffle=False)))
    scan_batch = infer.normalize(np.stack([infer.load_pixels(path) for path, _ in samples]))
    assert torch.equal(images, torch.from_numpy(scan_batch))
    assert targets.tolist() == [float(label == 1) for _, label in samples]


def test_targets_follow_the_positive_class():
    meta = ModelMeta(arch="cnn", class_names=("FAKE", "REAL"), positive_class="FAKE")
    dataset = LabeledImageFiles([("a.jpg", 0), ("b.jpg", 1)], meta)
    assert dataset._targets == [1.0, 0.0]
