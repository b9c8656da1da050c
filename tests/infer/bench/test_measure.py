import numpy as np
import pytest

from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.bench import measure
from imgcheck.infer.bench.measure import (Timing, bench_model, parse_size, synthetic_images, time_decode,
                                          time_infer)


def test_timing_summary_is_median_min_max_and_latency_percentiles():
    timing = Timing(images=100, pass_seconds=[1.0, 0.5, 0.25], batch_seconds=[0.001 * i for i in range(1, 101)])
    summary = timing.summary()
    assert (summary["samples_per_sec"], summary["samples_per_sec_min"], summary["samples_per_sec_max"]) == (200, 100,
                                                                                                           400)
    assert summary["step_time_ms_p50"] == pytest.approx(50.5) and summary["step_time_ms_p99"] == pytest.approx(99.01)
    assert Timing(images=3, pass_seconds=[1.0]).summary()["step_time_ms_p95"] is None


def test_time_infer_runs_every_full_batch_per_pass_and_syncs():
    calls, syncs = [], []
    timing = time_infer(lambda batch: calls.append(len(batch)), np.zeros((10, 3, 4, 4), np.float32), 4,
                        warmup=2, repeat=3, synchronize=lambda: syncs.append(1))
    assert calls == [4, 4] + [4, 4] * 3  # warm-up, then 2 full batches of 4 per pass (the last 2 images left out)
    assert timing.images == 8 and len(timing.pass_seconds) == 3 and len(timing.batch_seconds) == 6
    assert len(syncs) == 1 + 6  # after warm-up, and before every clock read
    small = time_infer(lambda batch: calls.append(len(batch)), np.zeros((3, 3, 4, 4), np.float32), 8, 0, 1, lambda: None)
    assert small.images == 8  # fewer images than one batch: tiled up to a batch


def test_models_are_recognised_by_content(tiny_files, tmp_path):
    assert bench_model(str(tiny_files["onnx"])).format == "onnx"
    assert bench_model(str(tiny_files["torchscript"])).format == "torchscript"
    eager = bench_model(str(tiny_files["checkpoint"]))
    backend = eager.model_file.format.backend
    assert (eager.format, eager.precision, backend.endswith("EagerBackend")) == ("eager", "fp32", True)
    renamed = tmp_path / "model.int8.onnx"
    renamed.write_bytes(tiny_files["onnx"].read_bytes())
    assert bench_model(str(renamed)).precision == "fp32"  # its name says int8; its graph says otherwise


def test_synthetic_images_and_sizes(tmp_path):
    paths = synthetic_images(tmp_path, 3, (40, 20))
    from PIL import Image

    assert [Image.open(p).size for p in paths] == [(40, 20)] * 3
    assert parse_size("64x48") == (64, 48)
    for bad in ("64", "0x3", "ax4"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_each_torch_backend_runs_with_its_own_thread_count(tiny_files):
    import torch

    from imgcheck.infer.runtime.torchscript import TorchScriptBackend

    before = torch.get_num_threads()
    try:
        one = TorchScriptBackend(ModelFile.open(tiny_files["torchscript"]), threads=1)
        two = TorchScriptBackend(ModelFile.open(tiny_files["torchscript"]), threads=2)  # torch's setting is process-wide
        batch = np.zeros((1, 3, 32, 32), np.float32)
        one(batch)
        assert torch.get_num_threads() == 1
        two(batch)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_cpu_per_image_splits_the_cores_time_into_own_workers_and_idle(monkeypatch):
    monkeypatch.setattr(measure, "available_cores", lambda: 2)
    timing = Timing(images=10, pass_seconds=[1.0, 2.0, 4.0], cpu_seconds=[(0.5, 0.3), (1.0, 1.0), (9.0, 9.0)])
    cpu = timing.cpu_per_image()  # each part is its median over the passes
    assert cpu["own"] == pytest.approx(0.1) and cpu["workers"] == pytest.approx(0.1)
    assert cpu["idle"] == pytest.approx(0.12)  # per pass 2 cores x wall - CPU, over 10 images: 0.12, 0.2, -1.0
    assert Timing(images=3).cpu_per_image() == {}


def test_a_pass_records_the_cpu_of_this_process_and_of_its_decoding_workers(tiny_files, tmp_path):
    import time

    def busy(batch):  # burns 20 ms of this process's CPU per batch
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass

    timing = time_infer(busy, np.zeros((4, 3, 4, 4), np.float32), 2, 0, 2, lambda: None)
    assert len(timing.cpu_seconds) == 2 and all(own >= 0.04 and workers == 0 for own, workers in timing.cpu_seconds)
    paths = synthetic_images(tmp_path, 6, (48, 48))
    decoded = time_decode(paths, ModelFile.open(tiny_files["onnx"]).meta, 2, 1, 0, 1)
    assert decoded.cpu_seconds[0][1] > 0  # the worker decoded every image and was reaped within the pass
    in_process = time_decode(paths, ModelFile.open(tiny_files["onnx"]).meta, 2, 0, 0, 1)
    assert in_process.cpu_seconds[0][0] > 0 and in_process.cpu_seconds[0][1] == 0
