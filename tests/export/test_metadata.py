import json

import onnx

from imgcheck.export.metadata import attach_to_onnx, torchscript_extra_files
from imgcheck.infer.meta import ONNX_METADATA_KEY, TORCHSCRIPT_EXTRA_FILE, parse_meta
from imgcheck.infer.models.model_file import read_meta
from tiny_models import tiny_meta


def test_attaching_twice_replaces_rather_than_duplicates(tmp_path, tiny_files):
    proto = onnx.load(str(tiny_files["onnx"]))
    proto.metadata_props.add(key="other", value="kept")
    attach_to_onnx(proto, tiny_meta(threshold=0.9))
    keys = [p.key for p in proto.metadata_props]
    assert keys.count(ONNX_METADATA_KEY) == 1 and "other" in keys
    onnx.save(proto, str(tmp_path / "m.onnx"))
    assert read_meta(tmp_path / "m.onnx").threshold == 0.9


def test_torchscript_extra_file_holds_the_canonical_json():
    meta = tiny_meta()
    extra = torchscript_extra_files(meta)
    assert list(extra) == [TORCHSCRIPT_EXTRA_FILE]
    assert extra[TORCHSCRIPT_EXTRA_FILE] == meta.to_json()
    assert parse_meta(json.loads(extra[TORCHSCRIPT_EXTRA_FILE])) == meta
