import json
import math

import pytest

from imgcheck.infer.errors import ModelMetaError
from imgcheck.infer.meta import SCHEMA_VERSION, ModelMeta, Provenance, parse_meta
from tiny_models import tiny_meta


def test_json_round_trip_is_lossless():
    meta = tiny_meta()
    text = meta.to_json()
    assert parse_meta(text) == meta
    assert parse_meta(text.encode()) == meta
    assert parse_meta(meta.to_dict()) == meta
    assert json.loads(text)["schema_version"] == 1  # nothing in it needs a newer schema


def test_a_record_is_written_with_the_lowest_schema_that_expresses_it():
    per_class = tiny_meta(output="softmax", class_names=("real", "ai", "edited"), positive_class="ai")
    assert json.loads(per_class.to_json())["schema_version"] == 2
    assert parse_meta(per_class.to_json()) == per_class and per_class.positive_index == 1
    assert per_class.negative_class == "not ai"
    assert tiny_meta().replace(output="logits").schema_version == 2
    assert tiny_meta().replace(output="logit").schema_version == 1


def test_training_image_sizes_are_a_version_3_field_absent_from_older_records():
    sized = tiny_meta(provenance=Provenance(dataset="cifake", train_image_sizes=[[32, 32], [64, 48]]))
    assert sized.provenance.train_image_sizes == ((32, 32), (64, 48)) and sized.schema_version == 3
    record = json.loads(sized.to_json())
    assert record["schema_version"] == 3 and record["provenance"]["train_image_sizes"] == [[32, 32], [64, 48]]
    assert parse_meta(sized.to_json()) == sized
    old = json.loads(tiny_meta().to_json())
    assert old["schema_version"] == 1 and "train_image_sizes" not in old["provenance"]
    assert parse_meta(old).provenance.train_image_sizes is None  # records written before version 3 still read


@pytest.mark.parametrize("value, fragment", [
    ([[32, 32]], "[[min H, min W], [max H, max W]]"),
    ([[32, 0], [32, 32]], "positive integers"),
    ([[32, 32], [16, 32]], "each minimum at most its maximum"),
    ("32x32", "[[min H, min W], [max H, max W]]"),
])
def test_bad_training_image_sizes_are_named(value, fragment):
    data = tiny_meta().to_dict()
    data["provenance"]["train_image_sizes"] = value
    with pytest.raises(ModelMetaError, match="provenance.train_image_sizes") as caught:
        parse_meta(data)
    assert fragment in caught.value.message


def test_json_is_canonical_and_carries_every_field():
    data = json.loads(tiny_meta().to_json())
    assert list(data) == sorted(data)
    assert set(data) == {
        "schema_version", "arch", "input_size", "interpolation", "antialias", "mean", "std", "class_names",
        "positive_class", "output", "threshold", "provenance", "imgcheck_version",
    }
    assert set(data["provenance"]) == {
        "dataset", "train_size", "val_size", "test_size", "seed", "epochs", "selection_metric", "test_metrics", "extra",
    }


def test_constructor_normalises_types_so_built_equals_read():
    meta = ModelMeta(arch="x", mean=[0, 0, 0], std=[1, 1, 1], input_size=[3, 8, 8], threshold=1)
    assert meta.mean == (0.0, 0.0, 0.0) and isinstance(meta.mean, tuple)
    assert meta.input_size == (3, 8, 8)
    assert parse_meta(meta.to_json()) == meta
    assert meta.negative_class == "REAL"


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"std": (0.2, 0.0, 0.2)}, "'std' must be positive"),
        ({"mean": (0.5, 0.5)}, "'mean' must be a list of 3 values"),
        ({"input_size": (1, 32, 32)}, "3 channels"),
        ({"input_size": (3, 0, 32)}, "positive integers"),
        ({"interpolation": "cubic"}, "'interpolation' must be one of"),
        ({"interpolation": "bicubic", "antialias": False}, "'antialias' false is supported only with"),
        ({"threshold": 1.5}, "'threshold' must be a probability"),
        ({"positive_class": "AI"}, "'positive_class' must be one of REAL, FAKE"),
        ({"class_names": ("FAKE", "FAKE")}, "must be different names"),
        ({"class_names": ("REAL", "FAKE", "EDITED")}, "must be two names for a single probability output"),
        ({"class_names": ("FAKE",), "positive_class": "FAKE"}, "at least 2 names"),
        ({"output": "scores"}, "'output' must be one of probability, logit, softmax, logits"),
        ({"arch": ""}, "'arch' must be a non-empty string"),
    ],
)
def test_invalid_fields_are_named(changes, fragment):
    with pytest.raises(ModelMetaError, match="ModelMeta") as caught:
        tiny_meta(**changes)
    assert fragment in caught.value.message
    assert "imgcheck export" in caught.value.message  # says what to do


def test_nan_metrics_are_refused_when_written_and_when_read():
    with pytest.raises(ModelMetaError, match="None for undefined metrics"):
        tiny_meta(provenance=Provenance(test_metrics={"roc_auc": math.nan}))
    text = tiny_meta().to_json().replace('"threshold":0.42', '"threshold":NaN')
    with pytest.raises(ModelMetaError, match="not valid JSON"):
        parse_meta(text)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: "{not json", "is not valid JSON"),
        (lambda d: "[1, 2]", "must be a JSON object"),
        (lambda d: json.dumps({**d, "schema_version": SCHEMA_VERSION + 1}), "written by a newer imgcheck"),
        (lambda d: json.dumps({**d, "schema_version": "1"}), "no valid 'schema_version'"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "std"}), "lacks field(s) std"),
        (lambda d: json.dumps({**d, "colour": "blue"}), "unknown field(s) colour"),
        (lambda d: json.dumps({**d, "provenance": {"seed": "7"}}), "'provenance.seed' must be int"),
        (lambda d: json.dumps({**d, "provenance": {"owner": "me"}}), "unknown field(s) owner"),
        (lambda d: json.dumps({**d, "antialias": "yes"}), "'antialias' must be true or false"),
    ],
)
def test_malformed_json_gets_a_clear_error_naming_the_source(mutate, fragment):
    with pytest.raises(ModelMetaError) as caught:
        parse_meta(mutate(tiny_meta().to_dict()), source="model.onnx")
    assert caught.value.message.startswith("model.onnx: ")
    assert fragment in caught.value.message


def test_newer_schema_says_how_to_upgrade():
    data = {**tiny_meta().to_dict(), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ModelMetaError, match=r"Upgrade imgcheck"):
        parse_meta(data)


def test_missing_provenance_reads_as_empty():
    data = tiny_meta().to_dict()
    del data["provenance"]
    assert parse_meta(data).provenance == Provenance()
