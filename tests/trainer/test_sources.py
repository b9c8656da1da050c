"""Any dataset layout: the Kaggle layout, a flat REAL/FAKE folder split by seed, and extra --source folders, each
scored on its own."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.model_file import read_meta
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.run import load_config, run_training
from imgcheck.trainer.sources import SourceSpec, load_pools
from synthetic_data import make_dataset


def _flat(root, per_class=20, seed=0, classes=("REAL", "FAKE"), nested=False):
    """root/REAL and root/FAKE (optionally one folder deeper inside each) of learnable 32x32 PNGs."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(("REAL", "FAKE")):
        if name not in classes:
            continue
        folder = root / name / ("batch_1" if nested else "")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(80 + 90 * label, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name.lower()}_{i:03d}.png")
    return root


def test_a_flat_folder_is_split_by_seed_with_the_test_fraction(tmp_path):
    root = _flat(tmp_path / "shoes", per_class=20, nested=True)
    pools = load_pools(str(root), [], 0.25, np.random.default_rng(0))
    assert pools.layouts == {"shoes": "split by seed"}
    assert len(pools.test) == 10 and len(pools.train) == 30
    assert sum(s.label for s in pools.test) == 5  # balanced per class
    assert {s.source for s in pools.train + pools.test} == {"shoes"}
    again = load_pools(str(root), [], 0.25, np.random.default_rng(0))
    assert [s.path for s in again.test] == [s.path for s in pools.test]
    other = load_pools(str(root), [], 0.25, np.random.default_rng(1))
    assert [s.path for s in other.test] != [s.path for s in pools.test]
    assert not {s.path for s in pools.test} & {s.path for s in pools.train}


def test_sources_add_their_images_to_the_splits_and_keep_their_name(tmp_path):
    cifake = make_dataset(tmp_path / "cifake", train_per_group=2, test_per_group=1, categories=2)
    gen = _flat(tmp_path / "gen" / "ddpm", per_class=10, classes=("FAKE",))
    pools = load_pools(str(cifake), [SourceSpec.parse(f"ddpm={gen / 'FAKE'}")], 0.2, np.random.default_rng(0))
    assert pools.layouts == {"cifake": "splits given", "ddpm": "split by seed"}
    ddpm_test = [s for s in pools.test if s.source == "ddpm"]
    assert len(ddpm_test) == 2 and all(s.label == 1 and s.category is None for s in ddpm_test)
    assert sum(s.source == "ddpm" for s in pools.train) == 8
    assert {s.category for s in pools.train if s.source == "cifake"} == {1, 2}  # CIFAKE keeps its categories


def test_a_run_reports_every_metric_per_source(runner, tmp_path):
    cifake = make_dataset(tmp_path / "cifake", train_per_group=6, test_per_group=3, categories=2)
    gen = _flat(tmp_path / "gen" / "ddpm", per_class=15, classes=("FAKE",))
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "--arch", "cnn_bn", "--data", str(cifake), "--source", f"ddpm={gen / 'FAKE'}",
                                 "--train-size", "all", "--test-size", "all", "--val-fraction", "0.3",  # every source in val
                                 "--epochs", "2", "--lr", "1e-3", "--out",
                                 str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    by_source = summary["test_metrics_by_source"]
    assert set(by_source) == {"cifake", "ddpm"}
    assert by_source["cifake"]["n"] == 12 and by_source["ddpm"]["n"] == 3 and by_source["ddpm"]["n_real"] == 0
    assert by_source["ddpm"]["roc_auc"] is None and by_source["ddpm"]["recall"] is not None  # one class: undefined
    assert summary["test_metrics"]["n"] == 15 and set(summary["val_metrics_by_source"]) == {"cifake", "ddpm"}
    # val: 11 of 36 = 6 REAL + 5 FAKE, the FAKE shared by source (cifake 3, ddpm 2)
    assert summary["data"]["sources"]["ddpm"] == {"layout": "split by seed", "train": 10, "val": 2, "test": 3}
    columns = next(csv.reader(open(out / "history.csv")))
    assert {"test_accuracy@ddpm", "test_accuracy@cifake", "val_loss@ddpm"} <= set(columns)
    compared = runner.invoke(cli, ["compare", str(out / "summary.json"), "--markdown"])
    assert compared.exit_code == 0 and "ddpm test" in compared.stdout and "cifake test" in compared.stdout


def test_a_held_out_source_never_trains_and_fills_the_validation_split(tmp_path):
    cifake = make_dataset(tmp_path / "cifake", train_per_group=6, test_per_group=3, categories=2)
    ddpm = _flat(tmp_path / "gen" / "ddpm", per_class=15, classes=("FAKE",))
    gan = _flat(tmp_path / "gen" / "gan", per_class=15, classes=("FAKE",))
    out = tmp_path / "run"
    summary = run_training(TrainConfig(arch="cnn_bn", data=str(cifake), out=str(out), train_size=None, test_size=None,
                                       sources=(f"ddpm={ddpm / 'FAKE'}", f"gan={gan / 'FAKE'}"), val_sources=("gan",),
                                       val_fraction=0.25, epochs=1, target_acc=None, lr=1e-3), quiet=True)
    sources = summary["data"]["sources"]
    assert sources["gan"]["train"] == 0 and sources["gan"]["test"] == 3  # scored on test too, never trained
    ordinary_val = summary["data"]["val"] - sources["gan"]["val"]
    assert sources["gan"]["val"] == ordinary_val // 2 and ordinary_val == round(0.25 * 36)  # 24 cifake + 12 ddpm
    assert sources["ddpm"]["train"] > 0 and "gan" in summary["val_metrics_by_source"]
    assert load_config(out).val_sources == ("gan",)
    with pytest.raises(ImgcheckError, match="--val-source vae: not a --source of this run"):
        run_training(TrainConfig(arch="cnn_bn", data=str(cifake), out=str(tmp_path / "r2"), val_sources=("vae",),
                                 sources=(f"ddpm={ddpm / 'FAKE'}",)), quiet=True)


def test_a_flat_dataset_trains(tmp_path):
    root = _flat(tmp_path / "flat", per_class=30)
    summary = run_training(TrainConfig(arch="cnn_bn", data=str(root), out=str(tmp_path / "run"), train_size=None,
                                       test_size=None, epochs=1, target_acc=None, lr=1e-3, test_fraction=0.2),
                           quiet=True)
    assert summary["data"]["test"] == 12 and summary["data"]["sources"]["flat"]["layout"] == "split by seed"
    assert summary["test_metrics_by_source"] == {}  # one source: its metrics are the overall ones
    meta = read_meta(tmp_path / "run" / "best.pt")
    assert meta.provenance.train_image_sizes == ((32, 32), (32, 32))  # what scans compare their images to


@pytest.mark.parametrize("make, sources, fragment", [
    (lambda r: _flat(r / "d"), ["empty=EMPTY"], "no images found"),
    (lambda r: _flat(r / "d"), ["nope"], "expected NAME=DIR"),
    (lambda r: _flat(r / "d"), ["gen=MISSING"], "no such folder"),
    (lambda r: _flat(r / "d", classes=("FAKE",)), ["more=MORE_FAKE"], "no REAL images in the training split"),
    (lambda r: _flat(r / "d"), ["d=OTHER"], "source names must differ"),
    (lambda r: _flat(r / "d"), ["loose=LOOSE"], "sit under no REAL or FAKE folder"),
])
def test_bad_sources_are_refused_before_any_epoch(tmp_path, make, sources, fragment):
    data = make(tmp_path)
    (tmp_path / "EMPTY" / "FAKE").mkdir(parents=True)
    _flat(tmp_path / "MORE_FAKE", classes=("FAKE",))
    _flat(tmp_path / "OTHER")
    (tmp_path / "LOOSE" / "FAKE").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "LOOSE" / "stray.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "LOOSE" / "FAKE" / "ok.png")
    specs = [s.replace("EMPTY", str(tmp_path / "EMPTY")).replace("MISSING", str(tmp_path / "missing"))
             .replace("MORE_FAKE", str(tmp_path / "MORE_FAKE")).replace("OTHER", str(tmp_path / "OTHER"))
             .replace("LOOSE", str(tmp_path / "LOOSE")) for s in sources]
    with pytest.raises(ImgcheckError, match=fragment):
        run_training(TrainConfig(arch="cnn_bn", data=str(data), out=str(tmp_path / "run"), sources=tuple(specs),
                                 train_size=None, test_size=None, epochs=1), quiet=True)
    assert not (tmp_path / "run" / "last.pt").exists()
