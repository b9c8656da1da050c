import pytest

from imgcheck.infer.evaluate.cifake import parse_cifake_category


@pytest.mark.parametrize("name, category", [
    ("0000.jpg", 1), ("1234 (2).jpg", 2), ("99 (10).jpg", 10), ("5 (7).JPG", 7),
    ("12 (11).jpg", None), ("12 (0).jpg", None), ("photo.jpg", None), ("12 (3).png", None), ("12(3).jpg", None),
])
def test_cifake_names_carry_the_cifar_category(name, category):
    assert parse_cifake_category(name) == category
