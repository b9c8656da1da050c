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


def _count_opens(monkeypatch, path):
    """Count Python-level opens of `path` (builtins.open, which zipfile and torch.load use too) and onnxruntime
    sessions made."""
    import builtins

    import onnxruntime

    counts = {"opens": 0, "sessions": 0}
    real_open, real_session = builtins.open, onnxruntime.InferenceSession
    target = os.path.realpath(path)

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.path.realpath(file) == target:
            counts["opens"] += 1
        return real_open(file, *args, **kwargs)

    class CountingSession(real_session):
        def __init__(self, *args, **kwargs):
            counts["sessions"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(onnxruntime, "InferenceSession", CountingSession)
    return counts


def test_a_scan_opens_the_model_file_twice_and_makes_one_session(runner, tiny_files, tmp_path, monkeypatch):
    """One read for the meta (the header), one whole read that hashes the file and checks its graph; onnxruntime
    reads it once more, for its one session. Nothing else touches it, sha256 included."""
    import hashlib

    from imgcheck.infer.cli.root import cli
    from synthetic_data import gray_image

    for i in range(3):
        gray_image(tmp_path / "imgs" / f"{i}.png", 60 * i)
    digests = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: digests.append(1) or real_sha256(*a))
    counts = _count_opens(monkeypatch, tiny_files["onnx"])
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv"), "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert counts == {"opens": 2, "sessions": 1}
    assert len(digests) == 1  # the model's sha256, computed once for both writes of the scan record


def test_a_checkpoint_is_loaded_once_for_its_meta_and_its_weights(tiny_files, monkeypatch):
    import torch

    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    model_file = ModelFile.open(tiny_files["checkpoint"])
    assert model_file.checkpoint()["epoch"] == 1 and model_file.meta.output == "logit"
    model_file.checkpoint()
    assert len(loads) == 1


def test_format_and_precision_are_read_from_the_content_not_the_name(tiny_files, tmp_path):
    import onnx
    from onnx import numpy_helper

    renamed = tmp_path / "model.int8.onnx"
    renamed.write_bytes(tiny_files["onnx"].read_bytes())
    assert ModelFile.open(renamed).format.name == "onnx"
    proto = onnx.load(str(tiny_files["onnx"]))
    for index, tensor in enumerate(proto.graph.initializer):  # float16 weights make an fp16 file, whatever its name
        proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float16"),
                                                                        tensor.name))
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    assert ModelFile.open(tmp_path / "plain.onnx").format.name == "onnx-fp16"
    checkpoint_named_onnx = tmp_path / "weights.onnx"
    checkpoint_named_onnx.write_bytes(tiny_files["checkpoint"].read_bytes())
    assert ModelFile.open(checkpoint_named_onnx).format.name == "checkpoint"
    torchscript_named_pt = ModelFile.open(tiny_files["torchscript"])
    assert torchscript_named_pt.format.name == "torchscript"


def test_a_valid_file_of_another_kind_is_never_called_corrupted(tiny_files, tmp_path):
    """The old failure: a checkpoint named .pt was taken for TorchScript and 'corrupted'. Content decides now, and a
    file that is truly damaged is named as such, in one line."""
    from imgcheck.infer.runtime import load_backend

    model_file = ModelFile.open(tiny_files["checkpoint"])
    assert model_file.carrier == CHECKPOINT and "corrupt" not in repr(model_file)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(tiny_files["torchscript"].read_bytes()[:300])
    with pytest.raises(ModelFileError, match="damaged zip archive"):
        load_backend(ModelFile.open(damaged))
