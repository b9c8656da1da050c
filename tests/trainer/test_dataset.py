import numpy as np
import pytest
import torch
from PIL import Image

from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.trainer.data import Sample
from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.dataset import PixelDataset, decode_all, file_batches, to_model_input


def _cifake_style_jpegs(folder, count=6):
    """32x32 RGB baseline JPEGs at quality 75 with 4:2:0 chroma, named like CIFAKE's files."""
    rng = np.random.default_rng(0)
    samples = []
    for index in range(count):
        label = index % 2
        path = folder / ("REAL" if label == 0 else "FAKE") / f"{1000 + index} ({index % 10 + 1}).jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path, format="JPEG", quality=75,
                                                                              subsampling=2)
        samples.append(Sample(str(path), label, index % 10 + 1))
    return samples


@pytest.mark.parametrize("meta", [ModelMeta(arch="cnn"), ModelMeta(arch="r", input_size=(3, 48, 40), interpolation="bicubic")],
                         ids=["32x32 as stored", "resized"])
def test_training_and_inference_see_bit_identical_tensors(tmp_path, meta):
    samples = _cifake_style_jpegs(tmp_path)
    infer = Preprocessor.from_meta(meta)
    train_pre = Preprocessor.from_meta(meta)
    cached = decode_all(samples, train_pre)  # the trainer's decode cache
    training_batch = to_model_input(cached, train_pre)  # what the model is trained on
    for index, sample in enumerate(samples):
        served = torch.from_numpy(infer(sample.path))  # what inference feeds the model
        assert training_batch.dtype == served.dtype == torch.float32
        assert torch.equal(training_batch[index], served)
        pixels, target, error = PixelDataset(samples, train_pre)[index]
        assert np.array_equal(pixels, cached[index]) and target == sample.label and error == ""
    # decoding every epoch (no cache) feeds the same pixels
    pixels, targets = next(file_batches(samples, train_pre, range(len(samples)), len(samples), workers=0))
    assert np.array_equal(pixels, cached)
    assert targets.tolist() == [float(s.label) for s in samples]


def test_unreadable_training_images_are_listed(tmp_path):
    samples = _cifake_style_jpegs(tmp_path, 2)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    samples.append(Sample(str(tmp_path / "broken.jpg"), 1))
    with pytest.raises(ImgcheckError, match=r"(?s)1 training image\(s\) cannot be read.*broken.jpg: not an image format"):
        decode_all(samples, Preprocessor.from_meta(ModelMeta(arch="cnn")))
