import json

import pytest
import torch

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.evaluate.metrics import METRIC_KEYS
from imgcheck.infer.models.model_file import read_meta
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.run import OPTIMISTIC_NOTE, run_training
from synthetic_data import make_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synthetic"), train_per_group=10, test_per_group=3)


def _config(data_dir, out, **changes) -> TrainConfig:
    fields = dict(arch="cnn", data=str(data_dir), out=str(out), train_size=None, test_size=None, epochs=2,
                  target_acc=None, lr=1e-3, seed=3)
    fields.update(changes)
    return TrainConfig(**fields)


@pytest.mark.parametrize("arch", ["cnn", pytest.param("resnet18_v1", marks=pytest.mark.slow)])
def test_two_epochs_lower_the_loss_and_leave_every_output(data_dir, tmp_path, arch):
    out = tmp_path / arch
    summary = run_training(_config(data_dir, out, arch=arch), quiet=True)
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert history[2]["train_loss"] < history[1]["train_loss"] < history[0]["train_loss"]
    assert history[2]["val_loss"] < history[0]["val_loss"]
    for name in ("config.json", "history.csv", "curves.png", "best.pt", "last.pt", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss,train_accuracy,val_loss")
    assert set(summary["test_metrics"]) == set(METRIC_KEYS)
    assert summary["test_metrics"]["n"] == 60 and summary["data"]["train"] + summary["data"]["val"] == 200
    assert json.loads((out / "summary.json").read_text())["best_epoch"] == summary["best_epoch"]


def test_untrained_baseline_is_epoch_zero(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", epochs=1), quiet=True)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["epoch"] == 0 and history[0]["train_images_per_s"] is None
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy"):
        assert history[0][key] is not None
    assert summary["untrained"]["test_accuracy"] == history[0]["test_accuracy"]
    assert summary["best_epoch"] == 1  # the untrained model is reported, never selected


def test_checkpoints_load_with_weights_only_and_carry_their_meta(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", epochs=1), quiet=True)
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert set(checkpoint) >= {"state_dict", "optimizer", "epoch", "history", "config", "meta"}
    meta = read_meta(tmp_path / "run" / "best.pt")
    assert meta.arch == "cnn" and meta.output == "logit" and meta.threshold == 0.5
    assert meta.provenance.test_metrics == summary["test_metrics"]
    assert meta.provenance.selection_metric == "val_accuracy" and meta.provenance.epochs == 1
    assert meta.provenance.train_size == summary["data"]["train"]


def test_stops_early_once_the_target_is_reached(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", epochs=5, target_acc=0.5), quiet=True)
    assert summary["epochs_run"] == 1
    assert "reached the target 0.5" in summary["stopped"]


def test_patience_stops_without_improvement(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", epochs=6, lr=0.0, patience=2), quiet=True)
    assert summary["epochs_run"] == 3 and "no val_accuracy improvement for 2 epochs" in summary["stopped"]


def test_resumed_run_ends_with_the_same_weights(data_dir, tmp_path):
    augment = "hflip-crop,resize,blur,noise,jpeg"  # every augmentation, at p = 0.5: resumed epochs draw the same
    config = _config(data_dir, tmp_path / "whole", epochs=3, augment=augment, augment_p=0.5)
    run_training(config, quiet=True)

    def interrupt(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    interrupted = _config(data_dir, tmp_path / "interrupted", epochs=3, augment=augment, augment_p=0.5)
    with pytest.raises(KeyboardInterrupt):
        run_training(interrupted, quiet=True, on_epoch_end=interrupt)
    assert torch.load(tmp_path / "interrupted" / "last.pt", weights_only=True)["epoch"] == 2
    run_training(interrupted, resume=True, quiet=True)
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "interrupted" / "last.pt", weights_only=True)
    assert resumed["epoch"] == whole["epoch"] == 3
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    assert resumed["history"][-1]["train_loss"] == whole["history"][-1]["train_loss"]


def test_cache_modes_train_identically(data_dir, tmp_path):
    """Pixels decoded once (memory, disk) or every epoch (none) are the same pixels: same weights."""
    weights = {}
    for cache in ("memory", "disk", "none"):
        run_training(_config(data_dir, tmp_path / cache, epochs=1, cache=cache), quiet=True)
        weights[cache] = torch.load(tmp_path / cache / "last.pt", weights_only=True)["state_dict"]
    for name, tensor in weights["memory"].items():
        assert torch.equal(weights["disk"][name], tensor) and torch.equal(weights["none"][name], tensor)
    assert len(list((tmp_path / "disk" / "cache").glob("pixels-*.npy"))) == 3  # train, val, test


def test_select_on_test_is_flagged_as_optimistic(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", epochs=1, select_on="test", val_fraction=0.0),
                           quiet=True)
    assert summary["selection"]["metric"] == "test_accuracy"
    assert summary["selection"]["note"] == OPTIMISTIC_NOTE
    assert summary["data"]["val"] == 0 and summary["data"]["train"] == 200


def test_dedupe_reports_what_it_dropped(data_dir, tmp_path):
    copy = tmp_path / "data"
    import shutil

    shutil.copytree(data_dir, copy)
    test_image = next((copy / "test" / "FAKE").iterdir())
    shutil.copy(test_image, copy / "train" / "FAKE" / "99999 (4).jpg")
    summary = run_training(_config(copy, tmp_path / "run", epochs=1, dedupe=True), quiet=True)
    assert summary["data"]["dedupe_removed"] == 1
    assert summary["data"]["available"]["train"] == 201


@pytest.mark.parametrize("changes, message", [
    ({"val_fraction": 0.0}, "--val-fraction 0 leaves nothing to select on"),
    ({"augment": "rotate"}, "--augment: unknown augmentation .rotate."),
    ({"augment_p": 1.5}, "--augment-p must be a probability"),
    ({"train_size": 10_000}, "cannot draw 10,000 balanced samples"),
])
def test_bad_settings_are_refused(data_dir, tmp_path, changes, message):
    with pytest.raises(ImgcheckError, match=message):
        run_training(_config(data_dir, tmp_path / "run", **changes), quiet=True)


def test_an_existing_run_is_never_overwritten(data_dir, tmp_path):
    run_training(_config(data_dir, tmp_path / "run", epochs=1), quiet=True)
    with pytest.raises(ImgcheckError, match="already holds a run. Continue it with --resume"):
        run_training(_config(data_dir, tmp_path / "run", epochs=1), quiet=True)


def test_the_threshold_can_be_chosen_on_the_validation_split(data_dir, tmp_path):
    summary = run_training(_config(data_dir, tmp_path / "run", arch="cnn_bn", epochs=1,
                                   threshold_objective="balanced_accuracy"), quiet=True)
    meta = read_meta(tmp_path / "run" / "best.pt")
    choice = summary["threshold_choice"]
    assert meta.threshold == summary["threshold"] == choice["threshold"] and choice["set"] == "val"
    assert choice["n"] == summary["data"]["val"] and meta.provenance.extra["calibration"] == choice
    assert summary["test_metrics"]["n"] == 60  # scored at the chosen threshold; test never chose it
    with pytest.raises(ImgcheckError, match="validation split"):
        _config(data_dir, tmp_path / "x", val_fraction=0, select_on="test", threshold_objective="f1").check()
    with pytest.raises(ImgcheckError, match="unknown objective"):
        _config(data_dir, tmp_path / "x", threshold_objective="accuracy").check()


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from imgcheck.trainer.schedule import learning_rate

    cfg = TrainConfig(lr=0.1, schedule="cosine", epochs=4)
    rates = [learning_rate(cfg, step, 10) for step in range(40)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)  # linear warm-up over epoch 1
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))  # then never rises
    assert rates[-1] < 0.001 and learning_rate(TrainConfig(lr=0.1), 25, 10) == 0.1  # constant is the report's


def test_every_kept_epoch_carries_the_runs_provenance_and_exports_with_it(data_dir, tmp_path):
    out = tmp_path / "run"
    run_training(_config(data_dir, out, keep_epochs=True), quiet=True)
    last = torch.load(out / "last.pt", weights_only=True)
    assert sorted(p.name for p in (out / "epochs").iterdir()) == ["epoch_01.pt", "epoch_02.pt"]
    second = torch.load(out / "epochs" / "epoch_02.pt", weights_only=True)
    assert second["epoch"] == 2 and all(torch.equal(second["state_dict"][k], v) for k, v in last["state_dict"].items())
    for epoch in (1, 2):
        provenance = read_meta(out / "epochs" / f"epoch_{epoch:02d}.pt").provenance
        assert provenance.epochs == epoch and provenance.seed == 3 and provenance.train_size == 180
        assert provenance.dataset and provenance.train_image_sizes == ((32, 32), (32, 32))
        assert provenance.extra["lr"] == 1e-3 and provenance.extra["select_on"] == "val"
        assert provenance.test_metrics == {} and provenance.selection_metric is None  # only the selected model's
    from imgcheck.export.pipeline import export_checkpoint
    from imgcheck.infer.models.model_file import ModelFile

    (record,) = export_checkpoint(out / "epochs" / "epoch_01.pt", tmp_path / "export", ["onnx"], measure_speed=False)
    exported = ModelFile.open(record.path).meta.provenance
    assert exported.epochs == 1 and exported.train_image_sizes == ((32, 32), (32, 32)) and exported.train_size == 180
