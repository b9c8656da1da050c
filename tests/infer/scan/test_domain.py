"""Domain notes: images far outside the sizes the model was trained on, from ModelMeta's record or, without one,
from the model's input size (and the warning says which)."""

from imgcheck.infer.meta import Provenance
from imgcheck.infer.scan.domain import FAR, SizeCheck, TrainingSizes
from imgcheck.infer.scan.verdict_formats import Row
from tiny_models import tiny_meta


def _rows(*sizes):
    sized = [Row(f"{i}.jpg", 0.5, "FAKE", "", w, h) for i, (w, h) in enumerate(sizes)]
    return sized + [Row("x.jpg", None, "ERROR", "e")]


def test_recorded_sizes_are_used_and_named():
    sizes = TrainingSizes.of(tiny_meta(provenance=Provenance(train_image_sizes=((32, 32), (32, 32)))))
    assert sizes == TrainingSizes((32, 32), (32, 32), True)
    check = SizeCheck(sizes)
    check.add(_rows((4000, 3000), (129, 20), (128, 128), (8, 8), (7, 32)))
    assert (check.sized, check.larger, check.smaller) == (5, 2, 1)
    assert check.warnings() == [
        "trained on 32×32 images; 2 of 5 images here are larger than 4× that: their verdicts are unreliable, see "
        "MODEL_CARD.md",
        "trained on 32×32 images; 1 of 5 images here are smaller than 1/4 of that: their verdicts are unreliable, see "
        "MODEL_CARD.md"]
    assert check.record() == {"train_image_sizes": [[32, 32], [32, 32]], "recorded": True, "factor": FAR, "sized": 5,
                              "larger": 2, "smaller": 1, "out_of_domain": 3, "abstain": False, "abstained": 0}


def test_a_range_of_training_sizes_is_described_as_one():
    sizes = TrainingSizes.of(tiny_meta(provenance=Provenance(train_image_sizes=((200, 300), (1024, 768)))))
    check = SizeCheck(sizes)
    check.add(_rows((3073, 100), (3072, 4096)))  # width over 4 × 768; 4096 high is exactly 4 × 1024: inside
    assert check.larger == 1 and check.warnings()[0].startswith("trained on images from 300×200 to 768×1024; 1 of 2")


def test_without_a_record_the_input_size_stands_in_and_the_warning_says_so():
    check = SizeCheck(TrainingSizes.of(tiny_meta()))
    check.add(_rows(*[(4032, 3024)] * 25))
    assert check.warnings() == [
        "the model takes 32×32 inputs (its ModelMeta does not record its training images' sizes); 25 of 25 images "
        "here are larger than 4× that: their verdicts are unreliable, see MODEL_CARD.md"]
    assert check.record()["recorded"] is False


def test_crop_models_without_a_record_and_images_inside_get_no_warning():
    assert TrainingSizes.of(tiny_meta(fit="crop", tiles=4)) is None
    check = SizeCheck(None)
    check.add(_rows((9000, 9000)))
    assert check.warnings() == [] and check.sized == 1
    inside = SizeCheck(TrainingSizes.of(tiny_meta()))
    inside.add(_rows((32, 32), (100, 120)))
    assert inside.warnings() == []
