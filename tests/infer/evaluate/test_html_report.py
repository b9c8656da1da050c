import numpy as np

from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.labels import Labeler
from imgcheck.infer.evaluate.html_report import PLOTS, render_html, write_report
from imgcheck.infer.scan.verdict_formats import Row


def _document(rows):
    scores = LabeledScores(Labeler())
    scores.add(rows)
    return scores, scores.document(0.5, model={"name": "m<1>.onnx", "arch": "cnn", "sha256": "ab"}, inputs=["x"])


def test_html_escapes_hostile_names():
    _, doc = _document([Row("s/FAKE/<script>alert(1)</script>/a.png", 0.9, "FAKE"), Row("s/REAL/b.png", 0.2, "REAL")])
    page = render_html(doc)
    assert "<script>" not in page and "&lt;script&gt;" in page and "m&lt;1&gt;.onnx" in page


def test_one_class_still_writes_every_file(tmp_path):
    scores, doc = _document([Row("s/FAKE/a.png", 0.9, "FAKE"), Row("s/FAKE/b.png", 0.3, "REAL")])
    y, p = scores.arrays()
    written = write_report(str(tmp_path / "r"), doc, y, p)
    assert sorted(w.rsplit("/", 1)[1] for w in written) == sorted([*PLOTS, "index.html"])
    assert all((tmp_path / "r" / name).stat().st_size > 1000 for name in PLOTS)
    assert "undefined" in (tmp_path / "r" / "index.html").read_text()  # ROC-AUC with one class


def test_many_scores_plot_quickly(tmp_path):
    rng = np.random.default_rng(0)
    rows = [Row(f"s/{'FAKE' if i % 2 else 'REAL'}/{i}.png", float(rng.uniform()), "REAL") for i in range(20_000)]
    scores, doc = _document(rows)
    write_report(str(tmp_path), doc, *scores.arrays())
    assert (tmp_path / "roc.png").stat().st_size > 1000
