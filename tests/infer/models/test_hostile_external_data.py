"""Issue 30, item 2: external data that leads outside the model's folder, from anywhere in the model (a `Constant`'s
tensor, an `If` branch at any depth, a sparse initializer) or through a symlink (the data file, the model file), is
refused by imgcheck's own reader before onnxruntime touches the file, whatever its version: `imgcheck scan --model`,
`imgcheck info` and `Detector` all refuse in one line, and nothing is scanned."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imgcheck.export.metadata import attach_to_onnx
from imgcheck.infer.api import Detector
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.onnx_proto import read_onnx_graph
from synthetic_data import gray_image
from tiny_models import tiny_meta

WEIGHTS = np.full(4, 0.5, np.float32)
SECRET = b"root:x:0:0:root:/root:/bin/bash\n"  # what a hostile location would feed the runtime as weights
OUTSIDE = "outside the model's folder"


def _external(name: str, location: str, values: np.ndarray = WEIGHTS) -> onnx.TensorProto:
    """A tensor whose data lives in the file `location` (relative to the model's folder), from byte 0."""
    tensor = numpy_helper.from_array(values, name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(values.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _constant(output: str, tensor: onnx.TensorProto) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [output], value=tensor)


def _if(output: str, then_nodes: list, then_out: str, else_value: np.ndarray = WEIGHTS) -> list[onnx.NodeProto]:
    """`output` = an If (on a constant true) whose then-branch runs `then_nodes` (producing `then_out`) and whose
    else-branch holds `else_value` inline."""
    out = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [4])  # noqa: E731
    then_branch = helper.make_graph(then_nodes, f"then_{output}", [], [out(then_out)])
    else_branch = helper.make_graph([_constant(f"else_{output}", numpy_helper.from_array(else_value, "e"))],
                                    f"else_{output}", [], [out(f"else_{output}")])
    condition = _constant(f"cond_{output}", numpy_helper.from_array(np.array(True), "c"))
    return [condition, helper.make_node("If", [f"cond_{output}"], [output], then_branch=then_branch,
                                        else_branch=else_branch)]


def _scorer(weights_nodes: list, initializers=(), sparse=()) -> onnx.ModelProto:
    """image [N, 3, 32, 32] -> p_fake [N] = mean pixel x mean(w), where `weights_nodes` (or an initializer) make w."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])
    p_fake = helper.make_tensor_value_info("p_fake", TensorProto.FLOAT, ["N"])
    nodes = [*weights_nodes,
             helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("ReduceMean", ["w"], ["wm"], keepdims=0),
             helper.make_node("Mul", ["m", "wm"], ["p_fake"])]
    graph = helper.make_graph(nodes, "g", [image], [p_fake], initializer=list(initializers),
                              sparse_initializer=list(sparse))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_to_onnx(model, tiny_meta())
    return model


def _model_reading(kind: str, location: str) -> onnx.ModelProto:
    """A scorer whose weights w come, by `kind`, from external data at `location`."""
    if kind == "constant":
        return _scorer([_constant("w", _external("cw", location))])
    if kind == "if":
        return _scorer(_if("w", [_constant("t", _external("tw", location))], "t"))
    if kind == "nested-if":  # an If inside an If's branch: any depth
        inner = _if("inner", [_constant("t", _external("tw", location))], "t")
        return _scorer(_if("w", inner, "inner"))
    if kind == "sparse":
        indices = numpy_helper.from_array(np.arange(4, dtype=np.int64), "i")
        return _scorer([], sparse=[helper.make_sparse_tensor(_external("w", location), indices, [4])])
    raise ValueError(kind)


KINDS = ("constant", "if", "nested-if", "sparse")


def _hostile(root: Path, attack: str) -> Path:
    """root/model/m.onnx (or a symlink there) whose weights, by `attack`, are read from root/secret.bin, outside its
    folder: `..` in a Constant, an If branch, a nested If, a sparse initializer; a data file that is a symlink out
    of the folder; or a model file that is a symlink into a folder whose data file is such a symlink."""
    (root / "model").mkdir(parents=True)
    (root / "secret.bin").write_bytes(SECRET)
    model_path = root / "model" / "m.onnx"
    if attack in KINDS:
        model_path.write_bytes(_model_reading(attack, "../secret.bin").SerializeToString())
    elif attack == "symlinked-data":
        os.symlink(root / "secret.bin", root / "model" / "w.bin")
        model_path.write_bytes(_model_reading("constant", "w.bin").SerializeToString())
    elif attack == "symlinked-model":
        # Beside the link: a harmless w.bin. Beside the file it leads to: w.bin, a link out. A runtime resolving
        # from the real file's folder would read the secret, so both folders are checked.
        real = root / "elsewhere" / "deep"
        real.mkdir(parents=True)
        (real / "m.onnx").write_bytes(_model_reading("constant", "w.bin").SerializeToString())
        os.symlink(root / "secret.bin", real / "w.bin")
        (root / "model" / "w.bin").write_bytes(WEIGHTS.tobytes())
        os.symlink(real / "m.onnx", model_path)
    else:
        raise ValueError(attack)
    return model_path


ATTACKS = (*KINDS, "symlinked-data", "symlinked-model")


def _images(root: Path) -> Path:
    for level in (40, 200):
        gray_image(root / "imgs" / f"{level}.png", level)
    return root / "imgs"


def _assert_one_line_refusal(result) -> None:
    assert result.exit_code == 1, result.output
    assert OUTSIDE in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1


@pytest.mark.parametrize("attack", ATTACKS)
def test_scan_refuses_external_data_outside_the_folder_and_scans_nothing(runner, tmp_path, attack):
    model = _hostile(tmp_path, attack)
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(_images(tmp_path)), "--model", str(model), "--out", str(out),
                                 "--workers", "0"])
    _assert_one_line_refusal(result)
    assert not out.exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_info_refuses_external_data_outside_the_folder(runner, tmp_path, attack):
    result = runner.invoke(cli, ["info", str(_hostile(tmp_path, attack))])
    _assert_one_line_refusal(result)
    assert result.stdout == ""


@pytest.mark.parametrize("attack", ATTACKS)
def test_detector_refuses_external_data_outside_the_folder(tmp_path, attack):
    with pytest.raises(ModelFileError, match=OUTSIDE):
        Detector(_hostile(tmp_path, attack), device="cpu")


@pytest.mark.parametrize("kind", ["constant", "if", "nested-if"])
def test_external_data_beside_the_model_still_loads_wherever_it_is_used(tmp_path, kind):
    """The walk refuses by location, not by kind: the same graphs with their data beside the model run."""
    (tmp_path / "w.bin").write_bytes(WEIGHTS.tobytes())
    (tmp_path / "m.onnx").write_bytes(_model_reading(kind, "w.bin").SerializeToString())
    detector = Detector(tmp_path / "m.onnx", device="cpu")
    np.testing.assert_allclose(detector.backend(np.ones((2, 3, 32, 32), np.float32)), [0.5, 0.5])


def test_the_walk_finds_every_tensor_in_the_model():
    """Every place a TensorProto can sit: initializers, sparse initializers (values and indices), Constant `t` and
    `sparse_value`, any `tensors`, subgraphs through `g` and `graphs` (If, Loop, nested), model-local functions,
    training graphs, and a second `graph` field that protobuf merges into the first."""
    sparse = lambda values, indices: helper.make_sparse_tensor(  # noqa: E731
        _external("sv", values), _external("si", indices, np.arange(4, dtype=np.int64)), [4])
    deep = helper.make_graph([_constant("d", _external("d", "deep.bin"))], "deep", [],
                             [helper.make_tensor_value_info("d", TensorProto.FLOAT, [4])])
    middle = helper.make_graph([helper.make_node("If", ["c"], ["d"], then_branch=deep, else_branch=deep)], "middle",
                               [], [helper.make_tensor_value_info("d", TensorProto.FLOAT, [4])])
    loop_body = helper.make_graph([], "body", [], [], initializer=[_external("b", "loop.bin")])
    nodes = [
        _constant("t", _external("t", "constant.bin")),
        helper.make_node("Constant", [], ["s"], sparse_value=sparse("constant_values.bin", "constant_indices.bin")),
        helper.make_node("Custom", [], ["x"], domain="test", many=[_external("m", "tensors.bin")],
                         sparse_many=[sparse("sparse_values.bin", "sparse_indices.bin")], bodies=[middle]),
        helper.make_node("Loop", ["", ""], ["y"], body=loop_body),
    ]
    graph = helper.make_graph(nodes, "g", [], [], initializer=[_external("i", "initializer.bin")],
                              sparse_initializer=[sparse("values.bin", "indices.bin")])
    model = helper.make_model(graph)
    function = helper.make_function("test", "f", [], ["o"], [_constant("o", _external("o", "function.bin"))],
                                    [helper.make_opsetid("", 17)])
    model.functions.append(function)
    training = model.training_info.add()
    training.initialization.CopyFrom(helper.make_graph([], "init", [], [], initializer=[_external("r", "train.bin")]))
    merged = helper.make_graph([_constant("late", _external("late", "merged.bin"))], "late", [], [])
    data = model.SerializeToString() + onnx.ModelProto(graph=merged).SerializeToString()
    assert "late" in [n.output[0] for n in onnx.load_from_string(data).graph.node]  # protobuf merges the two

    found = set(read_onnx_graph(data).external_data_locations)
    assert found == {"initializer.bin", "values.bin", "indices.bin", "constant.bin", "constant_values.bin",
                     "constant_indices.bin", "tensors.bin", "sparse_values.bin", "sparse_indices.bin", "deep.bin",
                     "loop.bin", "function.bin", "train.bin", "merged.bin"}


def test_a_tensor_marked_external_without_a_location_is_refused(tmp_path):
    tensor = _external("cw", "w.bin")
    del tensor.external_data[:]
    (tmp_path / "m.onnx").write_bytes(_scorer([_constant("w", tensor)]).SerializeToString())
    with pytest.raises(ModelFileError, match="names no file"):
        Detector(tmp_path / "m.onnx", device="cpu")


def test_a_data_file_that_is_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "w.bin")  # opening it for reading would block the runtime forever
    (tmp_path / "m.onnx").write_bytes(_model_reading("constant", "w.bin").SerializeToString())
    with pytest.raises(ModelFileError, match="not a regular file"):
        Detector(tmp_path / "m.onnx", device="cpu")
