"""`torchrun --nproc-per-node 2 -m imgcheck train` with the gloo backend on tiny data, as a user runs it: what rank 0
writes, a checkpoint a single process loads and exports, the same training as one process at the same effective
batch, and a run whose rank dies, continued with another world size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from imgcheck.infer.models.architectures import build_model
from imgcheck.infer.models.model_file import read_meta
from synthetic_data import make_dataset

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")]

RUN_FILES = {"config.json", "history.json", "history.csv", "curves.png", "best.pt", "last.pt", "summary.json"}
# One epoch of one process at batch 16 against two processes at batch 8 each (the same batches, the same mean
# gradient): only dropout draws its masks differently, so the test metrics after one epoch of 320 images agree
# to within these (measured: |Δ test loss| 0.0023 after one epoch and after two, accuracy equal).
ACCURACY_TOLERANCE, LOSS_TOLERANCE = 0.05, 0.01


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ddp-data"), train_per_group=18, test_per_group=5)


def _train_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data_dir), "--out", str(out), "--arch", "cnn", "--train-size", "all",
            "--test-size", "all", "--lr", "1e-3", "--seed", "5", "--no-target", "--quiet", *extra]


def _torchrun(processes: int, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "-m", "imgcheck", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env())


def _single(args: list[str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "imgcheck", *args])


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def two_process_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    done = _ok(_run(_torchrun(2, _train_args(data_dir, out, "--epochs", "2", "--batch-size", "8"))))
    return out, done


def test_rank_zero_writes_the_run_and_the_summary_states_the_effective_batch(two_process_run):
    out, done = two_process_run
    assert {p.name for p in out.iterdir()} == RUN_FILES  # no second copy, no rank-named or temporary file
    summary = json.loads((out / "summary.json").read_text())
    assert summary["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_process": 8,
                                      "effective_batch": 16, "lr": 1e-3, "sync_batchnorm": False,
                                      "images_per_epoch": summary["data"]["train"] + summary["data"]["train"] % 2}
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2]
    # the metrics are the whole splits', gathered from both ranks, not one rank's half
    assert summary["test_metrics"]["n"] == 100
    assert summary["data"]["train"] + summary["data"]["val"] == 360


def test_the_checkpoint_loads_in_one_process_and_exports_with_parity(two_process_run, tmp_path):
    out, _ = two_process_run
    checkpoint = torch.load(out / "best.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in checkpoint["state_dict"])
    assert checkpoint["world_size"] == 2
    model = build_model("cnn")
    model.load_state_dict(checkpoint["state_dict"])
    assert read_meta(out / "best.pt").provenance.test_metrics["n"] == 100
    _ok(_single(["export", str(out / "best.pt"), "--out", str(tmp_path / "models")]))
    report = json.loads((tmp_path / "models" / "export_report.json").read_text())
    assert [(f["format"], f["parity"]["passed"]) for f in report["files"]] == [("onnx", True), ("torchscript", True)]
    assert read_meta(tmp_path / "models" / "cnn.onnx").provenance.test_metrics["n"] == 100


def test_two_processes_train_as_one_process_at_the_same_effective_batch(data_dir, two_process_run, tmp_path):
    out2, _ = two_process_run
    one = tmp_path / "one"
    _ok(_single(_train_args(data_dir, one, "--epochs", "2", "--batch-size", "16")))
    h1 = json.loads((one / "history.json").read_text())
    h2 = json.loads((out2 / "history.json").read_text())
    # the untrained model is the same model (one seed), and the gathered evaluation equals one process's
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        assert h2[0][key] == pytest.approx(h1[0][key], abs=1e-6), key
    for key in ("test_accuracy", "val_accuracy"):
        assert abs(h2[1][key] - h1[1][key]) <= ACCURACY_TOLERANCE, (key, h1[1][key], h2[1][key])
    assert abs(h2[1]["test_loss"] - h1[1]["test_loss"]) <= LOSS_TOLERANCE, (h1[1]["test_loss"], h2[1]["test_loss"])


def _worker_of_rank(launcher: int, rank: int) -> int | None:
    """The pid of the process torchrun (`launcher`) started for `rank`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)
        if parent == launcher and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_dead_rank_ends_the_run_and_another_world_size_continues_it(data_dir, tmp_path):
    out = tmp_path / "run"
    launcher = subprocess.Popen(_torchrun(2, _train_args(data_dir, out, "--epochs", "40", "--batch-size", "8")),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        history = out / "history.json"
        if history.exists() and len(json.loads(history.read_text() or "[]")) >= 2:  # epoch 1 saved
            break
        assert launcher.poll() is None, launcher.communicate()
        time.sleep(0.05)
    victim = _worker_of_rank(launcher.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    assert "training stopped on rank 0 of 2" in stderr and f"--resume {out}" in stderr, stderr[-3000:]
    saved = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert 1 <= saved < 40, stderr[-2000:]
    # continued by one process: from the saved epoch on, to the end, with the effective batch it now has
    done = _ok(_single(["train", "--resume", str(out)]))
    assert f"after epoch {saved} (saved by 2 process(es), continued by 1" in done.stderr
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(41))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["distributed"]["world_size"] == 1 and summary["epochs_run"] == 40
    assert np.isfinite(summary["test_metrics"]["log_loss"])
