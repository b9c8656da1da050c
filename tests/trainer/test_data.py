import sys
import types

import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.data import KAGGLE_HANDLE, find_split_root, list_split, resolve_data_root
from synthetic_data import make_dataset


def test_listing_a_cifake_split(tmp_path):
    root = make_dataset(tmp_path, train_per_group=2, test_per_group=1)
    (root / "train" / "REAL" / "notes.txt").write_text("not an image")
    samples = list_split(root, "train")
    assert len(samples) == 2 * 10 * 2
    assert {s.label for s in samples} == {0, 1}
    assert sorted({s.category for s in samples}) == list(range(1, 11))
    assert [s.path for s in samples if s.label == 0] == sorted(s.path for s in samples if s.label == 0)


def test_other_datasets_have_no_category(tmp_path):
    root = make_dataset(tmp_path, train_per_group=2, test_per_group=1, cifake_names=False)
    assert {s.category for s in list_split(root, "test")} == {None}


def test_class_folders_match_case_insensitively_and_one_level_down(tmp_path):
    root = make_dataset(tmp_path / "download" / "cifake", 1, 1, categories=2)
    (root / "train" / "REAL").rename(root / "train" / "real")
    assert find_split_root(tmp_path / "download") == root
    assert len(list_split(root, "train")) == 4


def test_missing_layout_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "REAL").mkdir(parents=True)
    with pytest.raises(ImgcheckError, match="expected train/REAL, train/FAKE, test/REAL and test/FAKE"):
        resolve_data_root(str(tmp_path))
    with pytest.raises(ImgcheckError, match="no such folder"):
        resolve_data_root(str(tmp_path / "nowhere"))


def test_data_kaggle_downloads_cifake_with_kagglehub(tmp_path, monkeypatch):
    download = make_dataset(tmp_path / "kaggle-cache" / "versions" / "3", 1, 1, categories=1)
    calls = []
    fake = types.ModuleType("kagglehub")
    fake.dataset_download = lambda handle: calls.append(handle) or str(download)
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    assert resolve_data_root("kaggle") == download
    assert calls == [KAGGLE_HANDLE]
