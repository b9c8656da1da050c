import onnx
import pytest

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import ONNX_METADATA_KEY
from imgcheck.infer.models.model_file import ModelFile, read_meta
from imgcheck.infer.models.rewrite import write_model_with_meta
from imgcheck.infer.models.onnx_proto import read_onnx_header


def test_onnx_copy_replaces_only_the_imgcheck_entry(tiny_files, tmp_path):
    source = tmp_path / "with_props.onnx"
    proto = onnx.load(str(tiny_files["onnx"]))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "owner", "team-x"
    onnx.save(proto, str(source))
    meta = read_meta(source)
    first = tmp_path / "a.onnx"
    write_model_with_meta(ModelFile.open(source), first, meta.replace(threshold=0.3))
    write_model_with_meta(ModelFile.open(first), first, read_meta(first).replace(threshold=0.7))  # in place, twice
    header = read_onnx_header(first)
    assert header.metadata_props["owner"] == "team-x"
    assert read_meta(first).threshold == 0.7
    reloaded = onnx.load(str(first))
    assert [p.key for p in reloaded.metadata_props].count(ONNX_METADATA_KEY) == 1
    onnx.checker.check_model(reloaded, full_check=True)
    assert reloaded.graph == proto.graph
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "with_props.onnx"]  # nothing staged is left


def test_a_file_that_is_not_a_model_leaves_nothing(tiny_files, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tiny_files["onnx"].read_bytes()[:200])
    with pytest.raises(ModelFileError):
        write_model_with_meta(ModelFile.open(broken), tmp_path / "out.onnx", read_meta(tiny_files["onnx"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx"]


def test_an_unwritable_destination_is_a_clear_error(tiny_files, tmp_path):
    with pytest.raises(ModelFileError, match="cannot write"):
        write_model_with_meta(ModelFile.open(tiny_files["onnx"]), tmp_path / "missing" / "x.onnx", read_meta(tiny_files["onnx"]))
