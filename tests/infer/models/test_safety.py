"""Hostile or inconsistent ONNX files are refused before (external data) or right after (signature) loading."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from imgcheck.export.metadata import attach_to_onnx
from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.runtime import load_backend
from hostile_models import external_data_model, scorer_model
from tiny_models import tiny_meta


def _model(inputs, outputs, nodes):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_to_onnx(model, tiny_meta())
    return model


def test_external_data_beside_the_model_loads(tmp_path):
    path = external_data_model(tmp_path)
    assert ModelFile.open(path).graph().external_data_locations == ("weights.bin",)
    backend = load_backend(ModelFile.open(path))
    assert backend(np.ones((2, 3, 32, 32), np.float32)).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/passwd", "sub/../../weights.bin", "link.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    path = external_data_model(tmp_path / "model", location)
    with pytest.raises(ModelFileError, match="outside the model's folder"):
        load_backend(ModelFile.open(path))


def test_a_signature_that_contradicts_modelmeta_is_refused(tmp_path):
    model = scorer_model()
    attach_to_onnx(model, tiny_meta(input_size=(3, 64, 64)))
    onnx.save(model, str(tmp_path / "wrong_size.onnx"))
    with pytest.raises(ModelFileError, match=r"input_size is \[3, 64, 64\] \(axis 2: 32 != 64\)"):
        load_backend(ModelFile.open(tmp_path / "wrong_size.onnx"))

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])
    two = _model([image], [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N"]) for n in ("a", "b")],
                 [helper.make_node("ReduceMean", ["image"], ["a"], axes=[1, 2, 3], keepdims=0),
                  helper.make_node("ReduceMax", ["image"], ["b"], axes=[1, 2, 3], keepdims=0)])
    onnx.save(two, str(tmp_path / "two.onnx"))
    batch = np.random.default_rng(0).uniform(size=(2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(load_backend(ModelFile.open(tmp_path / "two.onnx"))(batch), batch.max(axis=(1, 2, 3)))

    second = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 3, 32, 32])
    two_inputs = _model([image, second], [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N"])],
                        [helper.make_node("ReduceMean", ["image"], ["p"], axes=[1, 2, 3], keepdims=0)])
    onnx.save(two_inputs, str(tmp_path / "two_inputs.onnx"))
    with pytest.raises(ModelFileError, match="2 inputs"):
        load_backend(ModelFile.open(tmp_path / "two_inputs.onnx"))

    wide = _model([image], [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 3])],
                  [helper.make_node("ReduceMean", ["image"], ["p"], axes=[2, 3], keepdims=0)])  # a score per channel
    onnx.save(wide, str(tmp_path / "wide.onnx"))
    with pytest.raises(ModelFileError, match=r"shape \[N, 3\]; imgcheck expects one probability per image"):
        load_backend(ModelFile.open(tmp_path / "wide.onnx"))


def test_the_scan_command_reports_a_refusal_as_one_line(runner, tmp_path):
    from imgcheck.infer.cli.root import cli

    model = scorer_model()
    attach_to_onnx(model, tiny_meta(input_size=(3, 64, 64)))
    onnx.save(model, str(tmp_path / "m.onnx"))
    (tmp_path / "imgs").mkdir()
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(tmp_path / "m.onnx"), "--out",
                                 str(tmp_path / "v.csv")])
    assert result.exit_code == 1 and "refused" in result.stderr and "Traceback" not in result.stderr
