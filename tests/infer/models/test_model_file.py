import json
import os

import pytest

from imgcheck.infer.errors import ModelFileError, ModelMetaError
from imgcheck.infer.meta import SCHEMA_VERSION, TORCHSCRIPT_EXTRA_FILE
from imgcheck.infer.models.model_file import CHECKPOINT, ONNX, TORCHSCRIPT, ModelFile, read_meta
from imgcheck.infer.models.onnx_proto import read_onnx_header
from tiny_models import tiny_meta


@pytest.mark.parametrize("carrier, fmt", [("onnx", ONNX), ("torchscript", TORCHSCRIPT), ("checkpoint", CHECKPOINT)])
def test_meta_round_trips_through_every_carrier(tiny_files, carrier, fmt):
    info = ModelFile.open(tiny_files[carrier])
    expected = tiny_meta(output="logit") if carrier == "checkpoint" else tiny_meta()
    assert info.carrier == fmt and info.format.carrier == fmt
    assert info.meta == expected
    assert info.size_bytes == os.path.getsize(tiny_files[carrier])


def test_readers_agree_with_the_official_libraries(tiny_files):
    import onnx
    import torch

    proto = onnx.load(str(tiny_files["onnx"]))
    official = {p.key: p.value for p in proto.metadata_props}
    header = read_onnx_header(tiny_files["onnx"])
    assert header.metadata_props == official
    assert header.ir_version == proto.ir_version
    assert header.opsets == {o.domain: o.version for o in proto.opset_import}
    assert header.producer_name == proto.producer_name

    extra = {TORCHSCRIPT_EXTRA_FILE: ""}
    torch.jit.load(str(tiny_files["torchscript"]), _extra_files=extra)
    assert json.loads(extra[TORCHSCRIPT_EXTRA_FILE]) == read_meta(tiny_files["torchscript"]).to_dict()

    checkpoint = torch.load(tiny_files["checkpoint"], weights_only=True)
    assert checkpoint["meta"] == read_meta(tiny_files["checkpoint"]).to_dict()


@pytest.mark.parametrize("carrier, where", [("onnx_bare", "metadata_props key 'imgcheck'"),
                                             ("torchscript_bare", "extra file 'imgcheck.json'")])
def test_model_without_meta_is_a_clear_error(tiny_files, carrier, where):
    with pytest.raises(ModelMetaError, match="carries no imgcheck metadata") as caught:
        read_meta(tiny_files[carrier])
    assert where in caught.value.message and "imgcheck export" in caught.value.message


def test_checkpoint_without_meta_is_a_clear_error(tmp_path):
    import torch

    path = tmp_path / "plain.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(ModelMetaError, match="has no 'meta' entry"):
        read_meta(path)


def _onnx_with_raw_meta(source, path, raw: str):
    import onnx

    proto = onnx.load(str(source))
    proto.metadata_props[0].value = raw
    onnx.save(proto, str(path))
    return path


def test_malformed_and_newer_meta_in_a_file(tmp_path, tiny_files):
    with pytest.raises(ModelMetaError, match="not valid JSON"):
        read_meta(_onnx_with_raw_meta(tiny_files["onnx"], tmp_path / "bad.onnx", "{oops"))
    newer = json.dumps({**tiny_meta().to_dict(), "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ModelMetaError, match="newer imgcheck") as caught:
        read_meta(_onnx_with_raw_meta(tiny_files["onnx"], tmp_path / "newer.onnx", newer))
    assert str(tmp_path / "newer.onnx") in caught.value.message


def test_torchscript_with_malformed_meta(tmp_path):
    import torch

    from tiny_models import tiny_model

    path = tmp_path / "bad_ts.pt"
    torch.jit.save(torch.jit.trace(tiny_model(), torch.zeros(1, 3, 32, 32)), str(path),
                   _extra_files={TORCHSCRIPT_EXTRA_FILE: '{"schema_version": 1}'})
    with pytest.raises(ModelMetaError, match="lacks field"):
        read_meta(path)


def test_files_that_are_not_models(tmp_path, tiny_files):
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "text.onnx").write_text("hello, I am not a model\n")
    (tmp_path / "weights.bin").write_bytes(os.urandom(64))
    (tmp_path / "truncated.onnx").write_bytes(tiny_files["onnx"].read_bytes()[:-100])
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.pt", "w") as archive:
        archive.writestr("readme.txt", "just a zip")
    cases = {
        "empty.onnx": "empty file",
        "text.onnx": "not a valid ONNX model",
        "weights.bin": "not a model file imgcheck knows",
        "truncated.onnx": "not a valid ONNX model",
        "other.pt": "not one written by torch.save",
        "missing.onnx": "no such model file",
    }
    for name, fragment in cases.items():
        with pytest.raises(ModelFileError, match=fragment):
            read_meta(tmp_path / name)
    with pytest.raises(ModelFileError, match="not a file"):
        read_meta(tmp_path)


def test_checkpoint_needing_pickled_code_is_refused(tmp_path):
    from hostile_models import pickled_code_checkpoint

    marker = tmp_path / "code-ran"
    path = pickled_code_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(ModelFileError, match="refused to load this checkpoint safely"):
        read_meta(path)
    assert not marker.exists()
