import numpy as np
from PIL import Image

from imgcheck.infer.evaluate.gallery import Gallery
from imgcheck.infer.evaluate.html_report import HISTOGRAM, PLOTS, write_report
from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.labels import Labeler
from imgcheck.infer.evaluate.report_page import ScanContext, render_page
from imgcheck.infer.scan.verdict_formats import Row

CONTEXT = ScanContext({"name": "m<1>.onnx", "arch": "cnn", "sha256": "ab"}, 0.5, ["x"],
                      {"files": 2, "REAL": 1, "FAKE": 1, "ERROR": 0}, "none found")


def _document(rows):
    scores = LabeledScores(Labeler())
    scores.add(rows)
    return scores, scores.document(0.5, model={"name": "m<1>.onnx", "arch": "cnn", "sha256": "ab"}, inputs=["x"])


def _gallery(rows, limit=200):
    labeler = Labeler()
    gallery = Gallery(limit, lambda path: None if (label := labeler(path)) is None else label.fake)
    gallery.add(rows)
    return gallery


def test_html_escapes_hostile_names_and_metadata():
    rows = [Row("s/FAKE/<script>alert(1)</script>/a.png", 0.9, "FAKE", "", 4, 4, "png:ai-generated(<b>x</b>)"),
            Row("s/REAL/b.png", 0.2, "REAL")]
    _, doc = _document(rows)
    page = render_page(CONTEXT, _gallery(rows), {}, doc, PLOTS, HISTOGRAM)
    assert "<script>" not in page and "&lt;script&gt;" in page and "m&lt;1&gt;.onnx" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_names_that_are_not_utf8_still_make_a_page(tmp_path):
    name = "latin1-\udce9\udcff.png"  # a file name with bytes that are not UTF-8, as os.fsdecode gives it
    rows = [Row(str(tmp_path / name), 0.7, "FAKE", "", 8, 8)]
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    (tmp_path / "x.png").rename(tmp_path.joinpath(name))
    write_report(str(tmp_path / "r"), CONTEXT, _gallery(rows))
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "latin1-\ufffd\ufffd.png" in page and "thumbs/00000.jpg" in page


def test_one_class_still_writes_every_file(tmp_path):
    rows = [Row("s/FAKE/a.png", 0.9, "FAKE"), Row("s/FAKE/b.png", 0.3, "REAL")]
    scores, doc = _document(rows)
    y, p = scores.arrays()
    written = write_report(str(tmp_path / "r"), CONTEXT, _gallery(rows), doc, y, p)
    names = sorted(w.rsplit("/", 1)[1] for w in written)
    assert names == sorted([*PLOTS, HISTOGRAM, "index.html"])  # the images no longer exist: no thumbnails
    assert all((tmp_path / "r" / name).stat().st_size > 1000 for name in [*PLOTS, HISTOGRAM])
    page = (tmp_path / "r" / "index.html").read_text()
    assert "undefined" in page  # ROC-AUC with one class
    assert page.count("no thumbnail (unreadable now)") == 3  # two ranked, and b.png again as a FAKE called REAL


def test_an_unlabeled_scan_gets_a_gallery_without_metric_plots(tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / "imgs" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (300, 200), (i * 50, 0, 0)).save(path)
        paths.append(str(path))
    rows = [Row(path, i / 10, "REAL", "", 300, 200, "") for i, path in enumerate(paths)]
    written = write_report(str(tmp_path / "r"), CONTEXT, _gallery(rows, limit=3))
    assert not any(name in w for w in written for name in PLOTS)
    thumbs = sorted((tmp_path / "r" / "thumbs").iterdir())
    assert len(thumbs) == 3 and all(max(Image.open(t).size) == 160 for t in thumbs)
    page = (tmp_path / "r" / "index.html").read_text()
    assert "Labeled images" not in page and "the 3 with the highest p_fake of 5 scored images" in page
    shown = [page.index(f"p_fake {p:.4f}") for p in (0.4, 0.3, 0.2)]
    assert shown == sorted(shown) and "p_fake 0.1000" not in page  # most FAKE first, bounded by the limit
    assert "300×200" in page


def test_many_scores_plot_quickly(tmp_path):
    rng = np.random.default_rng(0)
    rows = [Row(f"s/{'FAKE' if i % 2 else 'REAL'}/{i}.png", float(rng.uniform()), "REAL") for i in range(20_000)]
    scores, doc = _document(rows)
    write_report(str(tmp_path), CONTEXT, _gallery(rows, limit=0), doc, *scores.arrays())
    assert (tmp_path / "roc.png").stat().st_size > 1000
