"""--fit crop: native-resolution crops in training (random) and tiles at evaluation and inference (the same ones)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from imgcheck.infer.cli.root import cli
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.preprocess import Preprocessor, tiles_of
from imgcheck.infer.scan.pipeline import decode_chunk
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.data import Sample
from imgcheck.trainer.dataset import crop_batches, decode_native, tile_batches
from imgcheck.trainer.run import run_training
from tiny_models import tiny_meta


def _flat(root, count=12, size=(70, 90), seed=0):
    """root/REAL, root/FAKE of size (W, H) PNGs: FAKE has a fine stripe pattern (a local trace, kept by crops)."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(("REAL", "FAKE")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.normal(120, 25, (size[1], size[0], 3))
            if label:
                pixels[:, ::2] += 40
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


def test_trainer_tiles_are_the_scans_tiles_bit_for_bit(tmp_path):
    root = _flat(tmp_path / "d", count=3, size=(90, 70))
    pre = Preprocessor.from_meta(tiny_meta(fit="crop", tiles=4))
    samples = [Sample(str(p), 1) for p in sorted((root / "FAKE").iterdir())]
    cached = decode_native(samples, pre, max_side=1024)
    assert [c.shape for c in cached] == [(70, 90, 3)] * 3  # native size: nothing resampled
    trainer_tiles, _ = next(tile_batches(cached, np.ones(3, np.float32), range(3), 8, pre))
    _, scan_tiles, errors, _ = decode_chunk([s.path for s in samples], pre)
    assert errors == ["", "", ""] and trainer_tiles.shape == (12, 32, 32, 3)
    assert np.array_equal(trainer_tiles, scan_tiles)
    assert np.array_equal(pre.normalize(trainer_tiles), pre.normalize(scan_tiles))
    native = np.asarray(Image.open(samples[0].path).convert("RGB"))
    assert np.array_equal(scan_tiles[0], native[:32, :32]) and np.array_equal(scan_tiles[3], native[-32:, -32:])


def test_training_crops_are_seeded_native_and_padded_when_small():
    pre = Preprocessor.from_meta(tiny_meta(fit="crop"))
    images = [np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8) for i in range(4)]
    images.append(np.full((10, 12, 3), 7, np.uint8))  # smaller than the input: padded by reflection
    targets = np.arange(5, dtype=np.float32)
    first, _ = next(crop_batches(images, targets, range(5), 8, pre, torch.Generator().manual_seed(0)))
    again, _ = next(crop_batches(images, targets, range(5), 8, pre, torch.Generator().manual_seed(0)))
    other, _ = next(crop_batches(images, targets, range(5), 8, pre, torch.Generator().manual_seed(1)))
    assert first.shape == (5, 32, 32, 3) and np.array_equal(first, again) and not np.array_equal(first, other)
    for crop, image in zip(first[:4], images[:4]):  # each is a window of the image, unresampled
        windows = np.lib.stride_tricks.sliding_window_view(image, (32, 32, 3))[..., 0, :, :, :]
        assert (windows == crop).all(axis=(-3, -2, -1)).any()
    assert (first[4] == 7).all()


@pytest.mark.parametrize("fit", ["resize", "crop"])
@pytest.mark.parametrize("size", [32, 64])
def test_every_fit_at_two_input_sizes_trains_and_records_itself(tmp_path, fit, size):
    root = _flat(tmp_path / "d", count=8, size=(100, 80))
    tiles = 4 if fit == "crop" else 1
    summary = run_training(TrainConfig(arch="cnn_bn", data=str(root), out=str(tmp_path / "run"), train_size=None,
                                       test_size=None, input_size=(size, size), fit=fit, tiles=tiles, epochs=1,
                                       target_acc=None, lr=1e-3), quiet=True)
    meta = ModelFile.open(tmp_path / "run" / "best.pt").meta
    assert (meta.input_size, meta.fit, meta.tiles) == ((3, size, size), fit, tiles)
    assert summary["test_metrics"]["n"] == 4 and 0 <= summary["test_metrics"]["accuracy"] <= 1


def test_a_crop_run_resumes_to_the_same_weights(tmp_path):
    root = _flat(tmp_path / "d", count=8)

    def config(out):
        return TrainConfig(arch="cnn_bn", data=str(root), out=str(out), train_size=None, test_size=None, fit="crop",
                           tiles=2, epochs=2, target_acc=None, lr=1e-3, augment="hflip,jpeg", augment_p=0.5)

    run_training(config(tmp_path / "whole"), quiet=True)

    def stop(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(config(tmp_path / "cut"), quiet=True, on_epoch_end=stop)
    run_training(config(tmp_path / "cut"), resume=True, quiet=True)
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["state_dict"]
    cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_an_exported_crop_model_scans_a_large_image_through_its_tiles(runner, tmp_path):
    root = _flat(tmp_path / "d", count=6)
    out = tmp_path / "run"
    run_training(TrainConfig(arch="cnn_bn", data=str(root), out=str(out), train_size=None, test_size=None,
                             fit="crop", tiles=4, epochs=1, target_acc=None, lr=1e-3), quiet=True)
    export = runner.invoke(cli, ["export", str(out / "best.pt"), "--format", "onnx", "--out", str(tmp_path / "m")])
    assert export.exit_code == 0, export.output
    big = tmp_path / "big" / "photo.png"
    big.parent.mkdir()
    pixels = np.random.default_rng(5).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(big)
    scan = runner.invoke(cli, ["scan", str(big.parent), "--model", str(tmp_path / "m" / "cnn_bn.onnx"), "--out", "-",
                               "--workers", "0", "--quiet"])
    assert scan.exit_code == 0, scan.output
    p_scan = float(scan.stdout.splitlines()[1].split(",")[1])
    # the PyTorch model on the same four native tiles, combined by the mean of their logits
    from imgcheck.trainer.checkpoint import load_checkpoint
    from imgcheck.infer.models.architectures import build_model

    checkpoint, meta = load_checkpoint(out / "best.pt")
    model = build_model(meta.arch)
    model.load_state_dict(checkpoint["state_dict"])
    pre = Preprocessor.from_meta(meta)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(pre.normalize(tiles_of(pixels, 32, 32, 4))))
    assert p_scan == pytest.approx(float(torch.sigmoid(logits.mean())), abs=2e-6)
    record = json.loads(runner.invoke(cli, ["info", str(tmp_path / "m" / "cnn_bn.onnx"), "--json"]).stdout)
    assert (record["fit"], record["tiles"], record["tile_combine"]) == ("crop", 4, "mean_logit")
    assert record["schema_version"] == 3  # a trained model records its training images' sizes (a version-3 field)


def test_small_images_are_counted_before_training_and_bad_combinations_refused(runner, tmp_path):
    root = _flat(tmp_path / "d", count=6, size=(20, 20))
    result = runner.invoke(cli, ["train", "--arch", "cnn_bn", "--input-size", "64", "--fit", "crop", "--data",
                                 str(root), "--out", str(tmp_path / "run"), "--train-size", "all", "--test-size", "all",
                                 "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "images are smaller than half the 64x64 input; they are padded by reflection" in result.stderr
    for options, fragment in ((["--fit", "crop", "--cache", "disk"], "--fit crop keeps images at native size"),
                              (["--tiles", "4"], "--tiles needs --fit crop")):
        refused = runner.invoke(cli, ["train", "--arch", "cnn_bn", "--data", str(root), "--out",
                                      str(tmp_path / "r2"), *options])
        assert refused.exit_code == 1 and fragment in refused.stderr
