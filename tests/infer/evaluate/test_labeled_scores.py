import numpy as np
import pytest

from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.labels import Labeler
from imgcheck.infer.evaluate.metrics import binary_metrics
from imgcheck.infer.scan.verdict_formats import Row


def _rows():
    return [
        Row("s/REAL/1.jpg", 0.1, "REAL"), Row("s/REAL/2 (2).jpg", 0.7, "FAKE"), Row("s/REAL/3.jpg", None, "ERROR", "x"),
        Row("s/FAKE/sd/1.jpg", 0.9, "FAKE"), Row("s/FAKE/sd/2 (2).jpg", 0.4, "REAL"),
        Row("s/FAKE/mj/1.jpg", 0.8, "FAKE"), Row("s/FAKE/mj/2.jpg", None, "ERROR", "y"),
        Row("elsewhere/a.jpg", 0.5, "FAKE"),
    ]


def test_overall_metrics_skip_errors_and_unlabeled_files():
    scores = LabeledScores(Labeler())
    scores.add(_rows())
    doc = scores.document(0.5, model={"name": "m.onnx"}, inputs=["s", "elsewhere"])
    y, p = scores.arrays()
    assert y.tolist() == [0, 0, 1, 1, 1] and p.tolist() == [0.1, 0.7, 0.9, 0.4, 0.8]
    assert doc["metrics"] == binary_metrics(y, p, 0.5, n_errors=2)
    assert doc["labels"] == {"source": "folders (REAL/FAKE)", "labeled": 7, "unlabeled": 1,
                             "unlabeled_examples": ["elsewhere/a.jpg"]}
    assert doc["model"] == {"name": "m.onnx"} and doc["threshold"] == 0.5 and doc["schema_version"] == 1


def test_subgroups_per_folder_and_per_category():
    scores = LabeledScores(Labeler())
    scores.add(_rows())
    groups = scores.document(0.5)["groups"]
    assert set(groups["folder"]) == {"mj", "sd"}
    assert groups["folder"]["sd"]["n"] == 2 and groups["folder"]["sd"]["accuracy"] == 0.5
    assert groups["folder"]["mj"]["n"] == 1 and groups["folder"]["mj"]["n_errors"] == 1
    assert set(groups["category"]) == {"airplane", "automobile"}
    automobile = groups["category"]["automobile"]
    assert automobile == binary_metrics([0, 1], [0.7, 0.4], 0.5)
    assert groups["category"]["airplane"]["n_errors"] == 2


def test_scores_are_stored_as_the_verdict_file_rounds_them():
    scores = LabeledScores(Labeler())
    scores.add([Row("REAL/a.jpg", 0.12345678, "REAL"), Row("FAKE/b.jpg", 0.9, "FAKE")])
    assert scores.arrays()[1].tolist() == [0.123457, 0.9]


def test_nothing_scored_is_an_error_for_the_document():
    scores = LabeledScores(Labeler())
    scores.add([Row("REAL/a.jpg", None, "ERROR", "bad"), Row("x/b.jpg", 0.3, "REAL")])
    assert scores.labeled == 1 and scores.scored == 0 and scores.unlabeled == 1
    with pytest.raises(ValueError):
        scores.document(0.5)


def test_memory_per_row_is_small():
    scores = LabeledScores(Labeler())
    scores.add(Row(f"data/FAKE/gen{i % 3}/{i} ({i % 10 + 1}).jpg", 0.5, "FAKE") for i in range(10_000))
    stored = sum(a.itemsize * len(a) for a in (scores._fake, scores._p))
    stored += sum(g.index.itemsize * len(g.index) for g in scores._groups.values())
    assert stored / 10_000 <= 20  # label, score and two group ids: never the path
    assert np.unique(scores.arrays()[0]).tolist() == [1]
