import hashlib
import json
import subprocess
import sys

import pytest
import torch

from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.architectures import ARCHS, build_model
from imgcheck.infer.models.model_file import read_meta
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.probe import backbone_state, freezable_archs, head_prefix, split_head
from imgcheck.trainer.run import run_training
from synthetic_data import make_dataset

HEAD = "classifier.3."  # cnn_bn's final Linear(96, 1)
SLOW_ARCHS = ("resnet50_v1", "resnet50_v2", "resnet101_v1", "resnet101_v2", "resnet50_preact", "resnet101_preact")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synthetic"), train_per_group=10, test_per_group=3)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A cnn_bn state_dict saved as a weights file, with the sidecar a weight fetcher writes beside it."""
    path = tmp_path_factory.mktemp("weights") / "cnn_bn.pt"
    torch.manual_seed(11)
    torch.save(build_model("cnn_bn").state_dict(), path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    (path.parent / "cnn_bn.pt.json").write_text(json.dumps(
        {"arch": "cnn_bn", "source": "a test", "licence": "MIT", "sha256": sha256}))
    return path


def _config(data_dir, out, **changes) -> TrainConfig:
    fields = dict(arch="cnn_bn", data=str(data_dir), out=str(out), train_size=None, test_size=None, epochs=3,
                  target_acc=None, lr=1e-2, batch_size=16, seed=3, freeze=True)
    fields.update(changes)
    return TrainConfig(**fields)


@pytest.fixture(scope="module")
def probe_run(data_dir, weights_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "run"
    summary = run_training(_config(data_dir, out, weights_file=str(weights_file)), quiet=True)
    return out, summary


@pytest.mark.parametrize("arch", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_ARCHS else name
                                  for name in ARCHS])
def test_split_head_gives_the_models_own_logit(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    side = min(max(32, ARCHS[arch].sides[0]), ARCHS[arch].sides[1])
    images = torch.randn(2, 3, side, side)
    if arch not in freezable_archs():
        with pytest.raises(ImgcheckError, match="pooled feature"):
            split_head(model)
        return
    features, head = split_head(model)
    with torch.no_grad():
        pooled = features(images)
        assert pooled.shape == (2, head.in_features)
        assert torch.allclose(head(pooled).squeeze(1), model(images), rtol=1e-5, atol=1e-6)


def test_the_reports_cnn_has_no_pooled_feature_and_the_others_do():
    with pytest.raises(ImgcheckError) as refused:
        split_head(build_model("cnn"))
    assert "cnn_bn" in str(refused.value) and "resnet18_v1" in str(refused.value)
    assert "cnn" not in freezable_archs() and {"cnn_bn", "resnet18_v1", "resnet50_preact"} <= set(freezable_archs())


def test_a_probe_trains_the_head_and_leaves_the_backbone_bit_for_bit(probe_run, weights_file):
    out, summary = probe_run
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    assert history[-1]["train_loss"] < history[1]["train_loss"] < history[0]["train_loss"]
    start = torch.load(weights_file, weights_only=True)
    model = build_model("cnn_bn")
    assert head_prefix(model, split_head(model)[1]) == HEAD
    for name in ("best.pt", "last.pt"):
        trained = torch.load(out / name, weights_only=True)["state_dict"]
        assert set(trained) == set(start)
        for key, tensor in start.items():
            if key.startswith(HEAD):
                assert not torch.equal(trained[key], tensor), key  # the head trained
            else:
                assert torch.equal(trained[key], tensor), key  # weights and batch-norm statistics untouched
    for name in ("config.json", "history.csv", "curves.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    probe = summary["probe"]
    assert probe["freeze"] and probe["feature_dim"] == 96 and probe["head_parameters"] == 97
    assert probe["backbone_parameters"] + 97 == summary["parameters"] and "feature vectors" in probe["speed_note"]


def test_the_probes_meta_records_the_freeze_and_the_weights_sha256(probe_run, weights_file):
    out, _ = probe_run
    extra = read_meta(out / "best.pt").provenance.extra
    assert extra["freeze"] is True and extra["feature_dim"] == 96
    assert extra["weights_file"] == {"path": str(weights_file), "arch": "cnn_bn", "source": "a test",
                                     "licence": "MIT", "sha256": hashlib.sha256(weights_file.read_bytes()).hexdigest()}


def test_a_checkpoint_as_weights_file_passes_on_where_its_own_weights_came_from(probe_run, weights_file):
    from imgcheck.trainer.weights_record import weights_file_record

    out, _ = probe_run
    record = weights_file_record(str(out / "best.pt"))  # e.g. a 64x64 run fine-tuned from a 32x32 run's best.pt
    assert record["sha256"] == hashlib.sha256((out / "best.pt").read_bytes()).hexdigest()
    assert record["from"] == read_meta(out / "best.pt").provenance.extra["weights_file"]
    assert record["from"]["licence"] == "MIT" and record["from"]["path"] == str(weights_file)
    assert "from" not in weights_file_record(str(weights_file))  # a plain state dict starts the chain


@pytest.mark.slow
def test_the_probe_exports_with_parity_and_scans(probe_run, data_dir, tmp_path):
    out, _ = probe_run
    model = _export_and_scan(out / "best.pt", data_dir, tmp_path)
    assert read_meta(model).provenance.extra["freeze"] is True


def _export_and_scan(checkpoint, data_dir, tmp_path):
    """Export `checkpoint` (ONNX and TorchScript, each through the parity gate) and scan the 60 test images with
    the ONNX file; returns its path."""
    models = tmp_path / "models"
    _ok([sys.executable, "-m", "imgcheck", "export", str(checkpoint), "--out", str(models), "--name", "probe"])
    report = json.loads((models / "export_report.json").read_text())
    assert len(report["files"]) == 2 and all(entry["parity"]["passed"] for entry in report["files"])
    verdicts = tmp_path / "v.csv"
    _ok([sys.executable, "-m", "imgcheck", "scan", str(data_dir / "test"), "--model", str(models / "probe.onnx"),
         "--out", str(verdicts)])
    assert len(verdicts.read_text().splitlines()) == 1 + 60
    return models / "probe.onnx"


def test_freeze_with_the_reports_cnn_is_one_line_and_writes_nothing(runner, data_dir, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "--freeze", "--arch", "cnn", "--data", str(data_dir), "--out", str(out),
                                 "--quiet"])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "pooled feature" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("change, words", [
    ({"augment": "hflip"}, "--augment hflip cannot apply"),
    ({"fit": "crop", "tiles": 2, "input_size": (16, 16)}, "--fit crop"),
    ({"compile": True}, "--compile"),
])
def test_freeze_refuses_what_cached_features_cannot_do(data_dir, tmp_path, change, words):
    with pytest.raises(ImgcheckError, match=words):
        run_training(_config(data_dir, tmp_path / "run", **change), quiet=True)
    assert not (tmp_path / "run").exists()


def test_freeze_refuses_torchrun(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ImgcheckError, match="one process"):
        run_training(_config(data_dir, tmp_path / "run"), quiet=True)
    assert not (tmp_path / "run").exists()


def test_disk_cached_features_and_a_resume_end_with_the_same_weights(data_dir, weights_file, probe_run, tmp_path):
    whole, _ = probe_run

    def interrupt(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    config = _config(data_dir, tmp_path / "run", weights_file=str(weights_file), cache="disk")
    with pytest.raises(KeyboardInterrupt):
        run_training(config, quiet=True, on_epoch_end=interrupt)
    assert len(list((tmp_path / "run" / "cache").glob("features-*.npy"))) == 3  # train, val, test
    run_training(config, resume=True, quiet=True)
    resumed = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    expected = torch.load(whole / "last.pt", weights_only=True)
    assert resumed["epoch"] == expected["epoch"] == 3
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    extra = read_meta(tmp_path / "run" / "best.pt").provenance.extra
    assert extra["weights_file"]["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()


def test_an_ordinary_run_records_its_weights_file(data_dir, weights_file, tmp_path):
    run_training(_config(data_dir, tmp_path / "run", freeze=False, epochs=1, train_size=20, test_size=10,
                         weights_file=str(weights_file)), quiet=True)
    extra = read_meta(tmp_path / "run" / "best.pt").provenance.extra
    assert extra["weights_file"]["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert extra["weights_file"]["licence"] == "MIT" and "freeze" not in extra
    trained = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["state_dict"]
    start = torch.load(weights_file, weights_only=True)
    assert not torch.equal(trained["features.0.weight"], start["features.0.weight"])  # unfrozen: the backbone trains


def test_a_sidecar_naming_another_file_is_refused_before_anything_is_written(data_dir, tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_model("cnn_bn").state_dict(), path)
    (tmp_path / "w.pt.json").write_text(json.dumps({"sha256": "0" * 64, "licence": "MIT"}))
    with pytest.raises(ImgcheckError, match="describes another file"):
        run_training(_config(data_dir, tmp_path / "run", weights_file=str(path)), quiet=True)
    assert not (tmp_path / "run").exists()


def _ok(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def stage_probe_run(data_dir, tmp_path_factory):
    """A multi-stage probe (--head-input stages) on a resnet18_v1 backbone from a weights file."""
    folder = tmp_path_factory.mktemp("stages")
    torch.manual_seed(13)
    weights = folder / "resnet18.pt"
    torch.save(build_model("resnet18_v1").state_dict(), weights)
    out = folder / "run"
    summary = run_training(_config(data_dir, out, arch="resnet18_v1", head_input="stages", epochs=2,
                                   weights_file=str(weights)), quiet=True)
    return out, summary, weights


def test_a_multi_stage_probe_trains_one_layer_on_every_stage(stage_probe_run):
    out, summary, weights = stage_probe_run
    assert summary["arch"] == "resnet18_v1+stages" and read_meta(out / "best.pt").arch == "resnet18_v1+stages"
    assert summary["probe"]["feature_dim"] == 64 + 128 + 256 + 512 and summary["probe"]["head_parameters"] == 961
    start = {key: tensor for key, tensor in torch.load(weights, weights_only=True).items() if not key.startswith("fc.")}
    trained = torch.load(out / "last.pt", weights_only=True)["state_dict"]
    assert set(trained) == {f"backbone.{key}" for key in start} | {"head.weight", "head.bias"}
    for key, tensor in start.items():
        assert torch.equal(trained[f"backbone.{key}"], tensor), key
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.slow
def test_the_multi_stage_probe_exports_with_parity_and_scans(stage_probe_run, data_dir, tmp_path):
    out, _, _ = stage_probe_run
    assert read_meta(_export_and_scan(out / "best.pt", data_dir, tmp_path)).arch == "resnet18_v1+stages"


def test_head_input_stages_without_stages_is_one_line_and_writes_nothing(runner, data_dir, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "--freeze", "--head-input", "stages", "--arch", "cnn_bn", "--data",
                                 str(data_dir), "--out", str(out), "--quiet"])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "no stages imgcheck can read" in result.stderr
    assert not out.exists()
