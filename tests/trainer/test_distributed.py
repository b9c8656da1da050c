"""The rules a torchrun run follows, in one process: each rank's share of an epoch, the blocks it evaluates, how
metrics from the ranks combine, and what torchrun's environment means. tests/trainer/test_torchrun.py runs them
for real in two gloo processes."""

import os
import signal
import time

import numpy as np
import pytest
import torch

from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.distributed import (Ranks, StoppedByLauncher, check_sync_batchnorm, environment_ranks,
                                          epoch_seed, eval_share, padded_length, rank_order, steps_per_epoch,
                                          stop_on_sigterm)
from imgcheck.trainer.loop import Evaluation
from imgcheck.trainer.run import merge_evaluations, rank_stopped_message, reduce_train_stats


def _steps(order: np.ndarray, batch: int) -> list[np.ndarray]:
    return [order[i: i + batch] for i in range(0, len(order), batch)]


@pytest.mark.parametrize("count", [1, 2, 7, 64, 101])
@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("batch", [1, 8, 32])
def test_ranks_take_equal_disjoint_parts_of_the_single_process_batches(count, world, batch):
    order = np.random.default_rng(count).permutation(count)
    shares = [_steps(rank_order(order, batch, rank, world), batch) for rank in range(world)]
    # every rank takes the same number of steps, each step the same number of images on every rank (DDP needs both)
    assert len({len(steps) for steps in shares}) == 1
    assert len(shares[0]) == steps_per_epoch(count, batch, world)
    for step in zip(*shares):
        assert len({len(part) for part in step}) == 1 and len(step[0]) >= 1
    # global step k is the single-process run's batch k at batch x world (the padding's repeats at the end aside)
    padded = np.resize(order, padded_length(count, world))
    single = _steps(padded, batch * world)
    assert [np.concatenate(step).tolist() for step in zip(*shares)] == [s.tolist() for s in single]
    # together the ranks cover the draw once, plus at most world - 1 repeats of its first images
    seen = np.concatenate([np.concatenate(steps) for steps in shares])
    assert sorted(set(seen.tolist())) == sorted(order.tolist())
    assert len(seen) - count == (-count) % world < world


def test_one_rank_keeps_the_single_process_order():
    order = np.arange(10)[::-1]
    assert rank_order(order, 4, 0, 1) is order
    assert steps_per_epoch(10, 4, 1) == 3


@pytest.mark.parametrize("count,world", [(0, 2), (1, 2), (5, 2), (20, 3), (7, 8)])
def test_evaluation_blocks_are_consecutive_and_cover_the_split(count, world):
    blocks = [eval_share(count, rank, world) for rank in range(world)]
    assert np.concatenate(blocks).tolist() == list(range(count))


def _evaluation(p, y, loss):
    return Evaluation.of(loss, np.asarray(p, float), np.asarray(y))


def test_merged_blocks_give_the_whole_splits_metrics():
    whole = _evaluation([0.1, 0.9, 0.6, 0.2, 0.7], [0, 1, 0, 0, 1], 0.4)
    first, second = _evaluation([0.1, 0.9], [0, 1], 0.25), _evaluation([0.6, 0.2, 0.7], [0, 0, 1], 0.5)
    merged = merge_evaluations([first, None, second])  # None: a rank with an empty block
    assert merged.loss == pytest.approx(whole.loss) and merged.accuracy == whole.accuracy
    assert merged.probabilities.tolist() == whole.probabilities.tolist()
    assert merged.targets.tolist() == whole.targets.tolist()


def test_one_process_keeps_its_own_train_stats():
    stats = {"loss": 0.5, "accuracy": 0.75, "seconds": 2.0, "images_per_s": 4.0, "loss_sum": 4.0, "correct": 6,
             "images": 8}
    assert reduce_train_stats(stats, Ranks()) is stats


def test_torchrun_environment():
    assert environment_ranks({}) == Ranks()
    assert environment_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == Ranks(1, 2, 1)
    assert not environment_ranks({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}).distributed
    assert environment_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}).is_writer is False
    with pytest.raises(ImgcheckError, match="inconsistent"):
        environment_ranks({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ImgcheckError, match="malformed"):
        environment_ranks({"RANK": "x", "WORLD_SIZE": "2"})


def test_rank_zero_seeds_as_a_single_process_run_did():
    assert epoch_seed(3, 2) == epoch_seed(3, 2, rank=0) == 3 * 1_000_003 + 2
    assert len({epoch_seed(3, 2, rank) for rank in range(8)}) == 8


def test_a_stopped_rank_says_how_to_continue(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "run"))
    message = rank_stopped_message(cfg, Ranks(1, 2, 1, "gloo"), ValueError("bad value\nmore"))
    assert "rank 1 of 2: ValueError: bad value" in message and "more" not in message and "No epoch" in message
    gloo = RuntimeError("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:5: "
                        "Connection reset by peer. This is typically caused by a remote worker hanging")
    message = rank_stopped_message(cfg, Ranks(0, 2, 0, "gloo"), gloo)
    assert "lost contact with another process (Read error [127.0.0.1]:5: Connection reset by peer)" in message
    assert "pair.cc" not in message and "typically" not in message
    message = rank_stopped_message(cfg, Ranks(1, 2, 1, "gloo"), StoppedByLauncher("torchrun stopped this process"))
    assert "rank 1 of 2: torchrun stopped this process; its report names the one that ended first" in message
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(torch.zeros(1).numpy().tobytes())
    assert f"--resume {cfg.out}" in rank_stopped_message(cfg, Ranks(0, 2, 0, "gloo"), RuntimeError("x"))


def test_sigterm_becomes_a_stop_the_rank_can_explain():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StoppedByLauncher):
        with stop_on_sigterm(Ranks(0, 2, 0, "gloo")):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before
    with stop_on_sigterm(Ranks()):  # one process: SIGTERM keeps its meaning
        assert signal.getsignal(signal.SIGTERM) is before


def test_sync_batchnorm_is_refused_on_cpus_and_ignored_by_one_process():
    with pytest.raises(ImgcheckError, match="--sync-batchnorm needs CUDA"):
        check_sync_batchnorm(True, Ranks(0, 2, 0, "gloo"), torch.device("cpu"))
    check_sync_batchnorm(True, Ranks(), torch.device("cpu"))  # one process: nothing to synchronise
    check_sync_batchnorm(False, Ranks(0, 2, 0, "gloo"), torch.device("cpu"))
