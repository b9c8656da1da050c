"""One training process per run folder: a second `imgcheck train` on a folder another one is training in (the same
name, a symlink to it, or --resume) is refused in one line and writes nothing; a holder killed by SIGKILL leaves a
folder the next run takes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.distributed import Ranks
from imgcheck.trainer.run import run_training
from imgcheck.trainer.run_lock import LOCK_NAME, run_folder_lock
from synthetic_data import make_dataset

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")

HOLD = ("import sys, time\nfrom pathlib import Path\nfrom imgcheck.trainer.distributed import Ranks\n"
        "from imgcheck.trainer.run_lock import run_folder_lock\n"
        "with run_folder_lock(Path(sys.argv[1]), Ranks()):\n    print('held', flush=True)\n    time.sleep(60)\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synthetic"), train_per_group=4, test_per_group=2)


@pytest.fixture
def holder():
    """Start a process that holds a run folder's lock until the test ends (or kills it)."""
    started = []

    def hold(folder: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def _config(data_dir: Path, out: Path) -> TrainConfig:
    return TrainConfig(arch="cnn", data=str(data_dir), out=str(out), train_size=None, test_size=None, epochs=1,
                       target_acc=None, seed=1)


@pytest.mark.parametrize("through_symlink", [False, True])
def test_a_second_fresh_run_in_a_held_folder_is_refused_and_writes_nothing(data_dir, tmp_path, holder,
                                                                            through_symlink):
    folder = tmp_path / "run"
    process = holder(folder)
    out = folder
    if through_symlink:
        out = tmp_path / "alias"
        out.symlink_to(folder, target_is_directory=True)
    with pytest.raises(ImgcheckError, match=rf"another imgcheck train \(pid {process.pid}\) is training in {out}"):
        run_training(_config(data_dir, out), quiet=True)
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME]  # the holder's lock, nothing of ours


def test_a_resume_while_the_run_trains_is_refused_in_one_line(data_dir, tmp_path, holder, runner):
    out = tmp_path / "run"
    run_training(_config(data_dir, out), quiet=True)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    holder(out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "epochs": 2}))
    result = runner.invoke(cli, ["train", "--resume", str(out), "--quiet"])
    assert result.exit_code == 1
    assert "another imgcheck train" in result.output and "Traceback" not in result.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name not in (LOCK_NAME, "config.json")} == {
        name: t for name, t in before.items() if name != "config.json"}


def test_a_holder_killed_by_sigkill_leaves_a_folder_the_next_run_takes(data_dir, tmp_path, holder):
    out = tmp_path / "run"
    process = holder(out)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (out / LOCK_NAME).exists()  # what kill -9 leaves
    run_training(_config(data_dir, out), quiet=True)
    assert (out / "summary.json").exists() and not (out / LOCK_NAME).exists()


def test_only_the_writing_rank_takes_the_lock(tmp_path):
    out = tmp_path / "run"
    with run_folder_lock(out, Ranks(rank=1, world=2)):
        assert not out.exists()
    with run_folder_lock(out, Ranks()):
        assert (out / LOCK_NAME).read_text() == str(os.getpid())
        with pytest.raises(ImgcheckError, match="is training in"):  # flock locks are per open file, even in one process
            with run_folder_lock(out, Ranks()):
                pass


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path):
    out = tmp_path / "run"
    out.write_text("not a folder")
    with pytest.raises(ImgcheckError, match="cannot write the run folder"):
        with run_folder_lock(out, Ranks()):
            pass
