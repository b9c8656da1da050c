"""Batches handed back through shared memory: the slots themselves, and a scan's decoded batches through them are
exactly those decoded in the scanning process."""

import multiprocessing

import numpy as np
import pytest

import imgcheck.infer.scan.batch_slots as batch_slots
import imgcheck.infer.scan.pipeline as pipeline
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.scan.batch_slots import BatchSlots, shared_memory_pays
from synthetic_data import noise_images


def test_a_slot_gives_back_what_was_written_and_is_lent_again():
    slots = BatchSlots(2, 4 * 8 * 8 * 3)
    first, second = slots.take(), slots.take()
    pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    assert slots.write(second, pixels)
    assert np.array_equal(slots.copy_out(second, pixels.shape), pixels)
    assert slots.take() == second  # freed by copy_out
    assert not slots.write(first, np.zeros((5, 8, 8, 3), np.uint8))  # larger than a slot: it goes by pipe
    slots.release(first)
    assert slots.take() == first
    slots.close()


def test_shared_memory_is_used_for_large_batches_of_forked_workers_only(monkeypatch):
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "fork")
    assert shared_memory_pays(256 * 224 * 224 * 3)  # 38.5 MB
    assert not shared_memory_pays(256 * 32 * 32 * 3)  # 0.8 MB: pipes cost little
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    assert not shared_memory_pays(256 * 224 * 224 * 3)  # spawned workers would not inherit the slots


def _decoded(paths, meta, workers):
    chunks = list(pipeline.decoded_chunks(iter(paths), meta, 4, workers, provenance=False))
    return [c.paths for c in chunks], np.concatenate([c.pixels for c in chunks]), [c.errors for c in chunks], \
        [c.facts for c in chunks]


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="shared slots need forked workers")
@pytest.mark.parametrize("fit, tiles", [("resize", 1), ("crop", 4)])
def test_batches_through_shared_slots_equal_those_decoded_here(tmp_path, monkeypatch, fit, tiles):
    folder = noise_images(tmp_path / "images", 10, size=(40, 36))
    (folder / "img_004.png").write_bytes(b"not an image")  # an ERROR row mid-batch
    paths = sorted(str(p) for p in folder.iterdir())  # 10 files in batches of 4: the last batch is short
    meta = ModelMeta(arch="t", input_size=(3, 16, 16), mean=(0, 0, 0), std=(1, 1, 1), fit=fit, tiles=tiles)
    lent = []
    monkeypatch.setattr(batch_slots, "SHARED_MEMORY_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "lend_to_workers",
                        lambda slots: (lent.append(slots), batch_slots.lend_to_workers(slots)))
    copied = []
    copy_out = BatchSlots.copy_out
    monkeypatch.setattr(BatchSlots, "copy_out", lambda self, index, shape: (copied.append(shape),
                                                                          copy_out(self, index, shape))[1])
    shared = _decoded(paths, meta, 2)
    assert lent and lent[0] is not None and lent[-1] is None  # the slots were lent, then taken back
    assert len(copied) == 3  # every batch's pixels came through a slot, none through the pipe
    here = _decoded(paths, meta, 0)
    assert shared[0] == here[0] and shared[2] == here[2] and shared[3] == here[3]
    assert np.array_equal(shared[1], here[1]) and len(shared[1]) == 9 * tiles
