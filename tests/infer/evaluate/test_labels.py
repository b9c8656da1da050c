import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.evaluate.labels import Label, LabelFile, Labeler, label_from_folders


@pytest.mark.parametrize("path, fake", [
    ("data/REAL/a.jpg", 0), ("data/FAKE/a.jpg", 1), ("data/real/a.png", 0), ("data/Fake/a.png", 1),
    ("set/0_real/x.jpg", 0), ("set/1_fake/x.jpg", 1), ("C:\\\\sets\\\\FAKE\\\\x.jpg", 1),
    ("FAKE/nested/deeper/REAL/x.jpg", 0),  # the nearest class folder wins
])
def test_labels_come_from_the_nearest_class_folder(path, fake):
    assert label_from_folders(path).fake == fake


@pytest.mark.parametrize("path", ["photos/a.jpg", "REAL.jpg", "data/REALISTIC/a.jpg", "unreal/a.jpg", "fake_news/a.jpg",
                                  "2_fake/a.jpg"])
def test_files_outside_class_folders_are_unlabeled(path):
    assert label_from_folders(path) is None


def test_subgroups_are_the_folder_below_the_class_folder_and_the_cifar_category():
    assert label_from_folders("eval/FAKE/midjourney/v5/001.png") == Label(1, (("folder", "midjourney"),))
    assert label_from_folders("cifake/test/REAL/1234 (4).jpg") == Label(0, (("category", "cat"),))
    assert label_from_folders("s/FAKE/sd14/7.jpg") == Label(1, (("folder", "sd14"), ("category", "airplane")))


def test_label_file_matches_paths_as_written_from_cwd_and_from_its_own_folder(tmp_path, monkeypatch):
    (tmp_path / "sets").mkdir()
    labels = tmp_path / "sets" / "labels.csv"
    labels.write_text("path,label\nimgs/a.jpg,FAKE\nimgs/b.jpg,real\n/abs/c.jpg,1\nd.jpg,0\n")
    monkeypatch.chdir(tmp_path)
    file = LabelFile(str(labels))
    assert len(file) > 0
    assert file.get("imgs/a.jpg") == 1  # as written
    assert file.get(str(tmp_path / "sets" / "imgs" / "b.jpg")) == 0  # relative to the CSV's folder
    assert file.get("sets/imgs/./b.jpg") == 0  # the same file, spelt differently
    assert file.get("/abs/c.jpg") == 1 and file.get("/abs/../abs/c.jpg") == 1
    assert file.get("d.jpg") == 0 and file.get("e.jpg") is None


def test_label_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a.jpg,FAKE\nb.jpg,maybe\n")
    with pytest.raises(ImgcheckError, match="line 2.*'maybe'"):
        LabelFile(str(bad))
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\n")
    with pytest.raises(ImgcheckError, match="no `path,label` rows"):
        LabelFile(str(empty))
    with pytest.raises(ImgcheckError, match="cannot read"):
        LabelFile(str(tmp_path / "missing.csv"))


def test_a_label_file_overrides_folders_and_leaves_unlisted_files_unlabeled(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("x/REAL/1 (3).jpg,FAKE\n")
    labeler = Labeler(LabelFile(str(labels)))
    assert labeler("x/REAL/1 (3).jpg") == Label(1, (("category", "bird"),))
    assert labeler("x/REAL/2.jpg") is None
    assert "labels.csv" in labeler.source and "folders" in Labeler().source
