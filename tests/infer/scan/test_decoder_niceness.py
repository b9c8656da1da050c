"""The decoding workers run below the scanning process's priority (DECODER_NICENESS by default), so the model's
runtime threads win the cores whenever they have work."""

import os

import imgcheck.infer.scan.pipeline as pipeline
from imgcheck.infer.meta import ModelMeta
from synthetic_data import noise_images


def _niceness(_: object) -> int:
    return os.nice(0)


def _meta() -> ModelMeta:
    return ModelMeta(arch="cnn", input_size=(3, 8, 8))


def test_a_worker_starts_at_the_niceness_it_is_given():
    base = os.nice(0)
    for niceness in (0, 3):
        seen = list(pipeline.ordered_pool_map(_niceness, [None, None], 1, pipeline._init_worker,
                                              (_meta().to_json(), True, True, niceness)))
        assert seen == [min(19, base + niceness)] * 2


def test_a_scan_lends_its_decoders_the_default_niceness_unless_told(monkeypatch, tmp_path):
    given = []
    real = pipeline.ordered_pool_map

    def spy(fn, items, workers, initializer=None, initargs=()):  # noqa: ANN001, ANN202
        given.append(initargs[-1])
        return real(fn, items, workers, initializer, initargs)

    monkeypatch.setattr(pipeline, "ordered_pool_map", spy)
    paths = sorted(str(p) for p in noise_images(tmp_path / "images", 4, (8, 8)).iterdir())
    for niceness, expected in ((None, pipeline.DECODER_NICENESS), (0, 0), (5, 5)):
        chunks = list(pipeline.decoded_chunks(paths, _meta(), 2, 1, niceness=niceness))
        assert sum(len(c.pixels) for c in chunks) == 4
        assert given.pop() == expected
