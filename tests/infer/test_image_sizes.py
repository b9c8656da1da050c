"""The size range a trainer records as provenance.train_image_sizes: headers only, unreadable files left out."""

from PIL import Image

from imgcheck.infer.image_sizes import image_size_range


def test_the_range_is_per_side_over_readable_files(tmp_path):
    paths = []
    for i, size in enumerate([(32, 32), (640, 480), (300, 900)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", size).save(paths[-1])
    (tmp_path / "bad.png").write_text("not an image")
    assert image_size_range(paths + [tmp_path / "bad.png", tmp_path / "missing.png"]) == ((32, 32), (900, 640))
    assert image_size_range([tmp_path / "bad.png"]) is None and image_size_range([]) is None
