import os
import threading

import pytest

from imgcheck.infer.regular_files import NotRegularFileError, open_regular_file


def test_a_regular_file_opens(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    with open_regular_file(tmp_path / "a.bin") as fh:
        assert fh.read() == b"abc"


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), "a FIFO"),
    (lambda p: os.symlink("/dev/zero", p), "a character device"),
    (lambda p: os.mkdir(p), "a directory"),
])
def test_anything_else_is_refused_at_once_without_reading(tmp_path, make, kind):
    path = tmp_path / "x.jpg"
    make(path)
    outcome = []

    def attempt():
        try:
            open_regular_file(path)
        except NotRegularFileError as exc:
            outcome.append(exc.kind)

    opener = threading.Thread(target=attempt, daemon=True)
    opener.start()
    opener.join(10)
    assert outcome == [kind]
