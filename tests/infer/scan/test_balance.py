"""How a scan shares the cores: the worker choice from measured costs, the runtime's threads, and what a scan
records of its split."""

import json

import numpy as np
import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.scan.balance import DECODE_MARGIN, Split, choose_workers, default_threads
from synthetic_data import noise_images


def test_a_cheap_model_gets_a_decoder_per_core():
    # 0.2 ms to decode, 0.03 ms of the model on 2 threads (the report's tiny CNN at 32x32): decoding is most of it
    split = choose_workers(2, 0.2e-3, 0.03e-3, 2)
    assert (split.workers, split.threads, split.spinning) == (2, 2, False)
    assert "decoding is 77% of the CPU time" in split.reason


def test_an_expensive_model_gets_one_decoder_and_keeps_the_cores():
    # 0.2 ms to decode, 1.6 ms of a ResNet-50 on 2 threads (620 images/s): decoding is 6% of the work
    split = choose_workers(2, 0.2e-3, 1.6e-3, 2)
    assert (split.workers, split.threads) == (1, 2)
    assert "6%" in split.reason and "1 decoding worker(s) on 2 cores" in split.reason


def test_a_resnet18_on_two_cores_still_gets_both_decoders():
    # 0.2 ms to decode, 0.45 ms of a ResNet-18 on 2 threads: 18% of the work, times the margin, is 1.4 cores
    assert choose_workers(2, 0.2e-3, 0.45e-3, 2).workers == 2


def test_camera_photos_are_decode_bound_on_any_number_of_cores():
    # 40 ms to decode a 12 MP JPEG against 1 ms of the model: every core decodes
    assert choose_workers(16, 40e-3, 1e-3, 16).workers == 16


def test_the_workers_grow_with_decoding_share_and_stay_within_the_cores():
    model = 1e-3
    workers = [choose_workers(8, decode, model, 8).workers for decode in (1e-5, 1e-3, 4e-3, 1e-2, 1.0)]
    assert workers == sorted(workers) and workers[0] == 1 and workers[-1] == 8
    assert all(1 <= w <= 8 for w in workers)
    # the share rule itself: 1 ms to decode against 1 ms of the model on 8 threads (8 ms of CPU) is a share of 1/9,
    # so 4 x 8 / 9 = 3.6 cores, rounded up
    assert choose_workers(8, 1e-3, 1e-3, 8).workers == 4 == int(np.ceil(DECODE_MARGIN * 8 / 9))


def test_one_core_decodes_in_the_scanning_process():
    assert choose_workers(1, 1e-3, 1e-3, 1) == Split(0, 1, reason="one core: decoding in the scanning process")


def test_nothing_measured_means_decoding_is_all_the_work():
    assert choose_workers(4, 0.0, 0.0, 4).workers == 4


def test_the_runtime_gets_every_core_unless_told():
    assert default_threads(6) == 6 and default_threads(6, 2) == 2 and default_threads(0) == 1


def test_a_scan_records_the_split_it_chose_from_its_first_batch(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 10)
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--batch-size", "4", "--threads", "1"])
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "v.csv.json").read_text())["split"]
    assert split["threads"] == 1 and split["spinning"] is False
    assert split["workers"] >= 1 and "decoding is" in split["reason"]
    assert "1 runtime thread(s), decoding workers sized after the first batch" in result.stderr
    assert len(out.read_text().splitlines()) == 11  # the first batch, scored while measuring, is written once


def test_given_workers_are_used_as_given(runner, tiny_files, tmp_path):
    folder = noise_images(tmp_path / "imgs", 3)
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv"), "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "v.csv.json").read_text())["split"]
    assert split["workers"] == 0 and split["reason"] == "as given (--workers)"


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_threads_must_be_a_positive_integer(runner, tiny_files, tmp_path, value):
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(tiny_files["onnx"]), "--threads", value])
    assert result.exit_code == 2 and "--threads" in result.stderr


def test_threads_are_refused_with_the_ray_engine(runner, tiny_files, tmp_path):
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(tiny_files["onnx"]), "--engine", "ray",
                                 "--threads", "2"])
    assert result.exit_code == 2 and "--threads applies to the local engine" in result.stderr


def test_the_default_batch_holds_256_cifake_inputs_worth_of_pixels():
    from imgcheck.infer.scan.balance import default_batch_size

    assert default_batch_size((3, 32, 32)) == 256
    assert default_batch_size((3, 64, 64)) == 64
    assert default_batch_size((3, 96, 96)) == 16  # 28 fit: rounded down to a power of two
    assert default_batch_size((3, 224, 224)) == 8  # 5 fit: at least 8
    assert default_batch_size((3, 16, 16)) == 256  # at most 256
    assert default_batch_size((3, 32, 32), tiles=4) == 64  # every tile of an image counts
