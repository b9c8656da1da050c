from collections import Counter

import numpy as np
import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.data import Sample, list_split
from imgcheck.trainer.subsets import balanced_subset, count_groups, drop_duplicates_of, split_validation
from synthetic_data import make_dataset


@pytest.fixture(scope="module")
def train_samples(tmp_path_factory):
    return list_split(make_dataset(tmp_path_factory.mktemp("d"), train_per_group=12, test_per_group=2), "train")


def test_subset_is_balanced_over_class_and_category(train_samples):
    subset = balanced_subset(train_samples, 100, np.random.default_rng(0))  # the report's 25,000 at 1/250 scale
    counts = Counter((s.label, s.category) for s in subset)
    assert len(counts) == 20 and set(counts.values()) == {5}
    assert count_groups(subset)["FAKE/cat"] == 5 and count_groups(subset)["REAL/airplane"] == 5


def test_subset_is_seeded(train_samples):
    first = balanced_subset(train_samples, 60, np.random.default_rng(1))
    assert first == balanced_subset(train_samples, 60, np.random.default_rng(1))
    assert first != balanced_subset(train_samples, 60, np.random.default_rng(2))
    assert len(set(first)) == 60


def test_uneven_sizes_give_the_first_groups_one_more(train_samples):
    counts = Counter((s.label, s.category) for s in balanced_subset(train_samples, 23, np.random.default_rng(0)))
    assert sorted(counts.values()) == [1] * 17 + [2] * 3  # 12 REAL (two categories take 2), 11 FAKE (one takes 2)
    assert counts[(0, 1)] == counts[(0, 2)] == counts[(1, 1)] == 2


def test_each_source_gets_an_equal_share_of_its_class_whatever_its_categories(train_samples):
    gan = [Sample(f"/gan/{i}.jpg", 1, None, "gan") for i in range(40)]  # one FAKE source without categories
    subset = balanced_subset(train_samples + gan, 80, np.random.default_rng(0))
    by_source = Counter((s.label, s.source) for s in subset)
    assert by_source[(1, "gan")] == 20 and by_source[(0, train_samples[0].source)] == 40
    fake_cifake = Counter(s.category for s in subset if s.label == 1 and s.source != "gan")
    assert sum(fake_cifake.values()) == 20 and set(fake_cifake.values()) == {2}  # 2 per category


def test_all_and_too_many(train_samples):
    assert len(balanced_subset(train_samples, None, np.random.default_rng(0))) == len(train_samples)
    with pytest.raises(ImgcheckError, match="cannot draw 500 balanced samples.*at most 240"):
        balanced_subset(train_samples, 500, np.random.default_rng(0))


def test_validation_split_is_balanced_and_disjoint(train_samples):
    pool = balanced_subset(train_samples, 200, np.random.default_rng(0))
    train, val = split_validation(pool, 0.1, np.random.default_rng(0))
    assert len(val) == 20 and len(train) == 180
    assert not {s.path for s in train} & {s.path for s in val}
    assert set(Counter((s.label, s.category) for s in val).values()) == {1}
    assert split_validation(pool, 0.0, np.random.default_rng(0)) == (pool, [])


def test_dedupe_drops_train_images_identical_to_test_images(tmp_path):
    files = {name: tmp_path / name for name in ("a.jpg", "b.jpg", "c.jpg", "t1.jpg", "t2.jpg")}
    files["a.jpg"].write_bytes(b"same bytes as t1")
    files["b.jpg"].write_bytes(b"unique")
    files["c.jpg"].write_bytes(b"same bytes as t2")
    files["t1.jpg"].write_bytes(b"same bytes as t1")
    files["t2.jpg"].write_bytes(b"same bytes as t2")
    train = [Sample(str(files[n]), 1) for n in ("a.jpg", "b.jpg", "c.jpg")]
    kept, removed = drop_duplicates_of(train, [Sample(str(files["t1.jpg"]), 1), Sample(str(files["t2.jpg"]), 1)])
    assert [s.path for s in kept] == [str(files["b.jpg"])]
    assert len(removed) == 2
