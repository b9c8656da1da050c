"""The gallery's selection: the top `limit` by p_fake in bounded memory, the most confident mistakes of each kind,
and a histogram of every score."""

import numpy as np

from imgcheck.infer.evaluate.gallery import HISTOGRAM_BINS, Gallery
from imgcheck.infer.scan.verdict_formats import Row


def _label(path):
    return 1 if "/FAKE/" in path else 0 if "/REAL/" in path else None


def test_the_top_limit_most_fake_first_ties_in_scan_order():
    gallery = Gallery(3)
    gallery.add([Row(f"{i}.png", p, "FAKE" if p >= 0.5 else "REAL") for i, p in enumerate([0.2, 0.9, 0.5, 0.9, 0.1])])
    gallery.add([Row("bad.png", None, "ERROR", "x")])
    assert [item.row.path for item in gallery.ranked()] == ["1.png", "3.png", "2.png"]
    assert (gallery.rows, gallery.errors, gallery.scored) == (6, 1, 5)
    assert gallery.histogram.sum() == 5 and gallery.histogram[45] == 2
    assert gallery.histogram[5] == 1 == gallery.histogram[25]


def test_the_most_confident_mistakes_of_each_kind():
    rows = [Row("s/REAL/a.png", 0.99, "FAKE"), Row("s/REAL/b.png", 0.6, "FAKE"), Row("s/REAL/c.png", 0.1, "REAL"),
            Row("s/FAKE/d.png", 0.01, "REAL"), Row("s/FAKE/e.png", 0.3, "REAL"), Row("s/FAKE/f.png", 0.8, "FAKE"),
            Row("other/g.png", 0.7, "FAKE")]
    gallery = Gallery(20, _label)
    gallery.add(rows)
    assert gallery.mistake_limit == 2
    assert [i.row.path for i in gallery.false_fakes()] == ["s/REAL/a.png", "s/REAL/b.png"]
    assert [i.row.path for i in gallery.false_reals()] == ["s/FAKE/d.png", "s/FAKE/e.png"]
    assert {i.row.path: i.label for i in gallery.ranked()}["other/g.png"] is None
    assert gallery.ranked()[0].label == "REAL"


def test_memory_is_bounded_whatever_the_scan_size():
    rng = np.random.default_rng(0)
    gallery = Gallery(10, _label)
    for start in range(0, 50_000, 1000):
        gallery.add(Row(f"s/{'FAKE' if i % 2 else 'REAL'}/{i}.png", float(p), "FAKE" if p >= 0.5 else "REAL")
                    for i, p in zip(range(start, start + 1000), rng.uniform(size=1000)))
    assert len(gallery.ranked()) == 10 and len(gallery.false_fakes()) == 1 == len(gallery.false_reals())
    assert gallery.histogram.shape == (HISTOGRAM_BINS,) and gallery.histogram.sum() == 50_000
    ranked = [i.row.p_fake for i in gallery.ranked()]
    assert ranked == sorted(ranked, reverse=True) and ranked[-1] > 0.999


def test_a_limit_of_zero_shows_no_thumbnail_but_keeps_the_histogram():
    gallery = Gallery(0, _label)
    gallery.add([Row("s/REAL/a.png", 0.9, "FAKE")])
    assert gallery.ranked() == gallery.false_fakes() == [] and gallery.histogram.sum() == 1
