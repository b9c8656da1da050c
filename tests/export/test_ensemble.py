"""imgcheck.export.ensemble: members of different sizes and outputs become one ONNX file that scores as they do."""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from imgcheck.export import ensemble as ensemble_module
from imgcheck.export.ensemble import EnsembleRefused, build_ensemble
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.model_file import ModelFile, file_sha256
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.runtime import load_backend
from tiny_models import tiny_meta, tiny_model, write_onnx, write_torchscript

MEAN_B, STD_B = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


class TwoClassSoftmax(nn.Module):
    """Conv features -> two class scores -> softmax: P(REAL), P(FAKE)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.features(image)), dim=1)


class ClippedProbability(nn.Module):
    """A probability whose last op is not a Sigmoid (a Clip after it): its logit is log p - log(1 - p)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny_model(seed=4, with_sigmoid=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(self.inner(image)), 0.0, 1.0)


def _images(folder, size=16, count=12):
    """REAL/ and FAKE/ PNGs of smooth colour fields with noise, `size` square."""
    rng = np.random.default_rng(0)
    for label in ("REAL", "FAKE"):
        (folder / label).mkdir(parents=True)
        for i in range(count):
            y, x = np.mgrid[0:size, 0:size] / size
            base = np.stack([x, y, (x + y) / 2], -1) * rng.uniform(60, 250) + rng.normal(0, 25, (size, size, 3))
            Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(folder / label / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """a: 16x16, probability from a final Sigmoid, threshold 0.42; b: 32x32 logit output, its own mean/std,
    threshold 0.6; c: 24x24 two-class softmax; d: 16x16 probability ending in a Clip."""
    out = tmp_path_factory.mktemp("members")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "a": write_onnx(out / "a.onnx", tiny_meta(arch="a", input_size=(3, 16, 16), threshold=0.42),
                            tiny_model(0)),
            "b": write_onnx(out / "b.onnx", tiny_meta(arch="b", input_size=(3, 32, 32), threshold=0.6, mean=MEAN_B,
                                                      std=STD_B, output="logit"), tiny_model(1, with_sigmoid=False)),
            "c": write_onnx(out / "c.onnx", tiny_meta(arch="c", input_size=(3, 24, 24), output="softmax",
                                                      threshold=0.3), TwoClassSoftmax()),
            "d": write_onnx(out / "d.onnx", tiny_meta(arch="d", input_size=(3, 16, 16), threshold=0.55),
                            ClippedProbability()),
            "folder": out,
        }


@pytest.fixture(scope="module")
def check_images(tmp_path_factory):
    return _images(tmp_path_factory.mktemp("check"))


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def test_the_ensemble_scores_the_weighted_mean_of_threshold_shifted_logits(members, check_images, tmp_path):
    out = tmp_path / "pair.onnx"
    outcome = build_ensemble([members["a"], members["b"]], out, check_images=check_images, weights=[1, 3])
    assert outcome.wiring.passed and outcome.wiring.max_abs_diff <= 1e-4
    assert outcome.faithfulness.passed and outcome.faithfulness.n == 24
    # the expectation, from the torch modules: b sees the 16x16 input bilinearly upsampled to 32x32
    meta = ModelFile.open(out).meta
    pixels = np.stack([Preprocessor.from_meta(meta).load_pixels(p) for p in sorted(check_images.rglob("*.png"))])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    mean_a = torch.tensor(ModelMeta(arch="x").mean).view(1, 3, 1, 1)
    std_a = torch.tensor(ModelMeta(arch="x").std).view(1, 3, 1, 1)
    with torch.no_grad():
        z_a = tiny_model(0, with_sigmoid=False)((x - mean_a) / std_a).double()
        up = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        z_b = tiny_model(1, with_sigmoid=False)((up - torch.tensor(MEAN_B).view(1, 3, 1, 1))
                                                 / torch.tensor(STD_B).view(1, 3, 1, 1)).double()
    expected = torch.sigmoid(0.25 * (z_a - _logit(0.42)) + 0.75 * (z_b - _logit(0.6))).numpy()
    scored = load_backend(ModelFile.open(out))(Preprocessor.from_meta(meta).normalize(pixels))
    np.testing.assert_allclose(scored, expected, atol=1e-5)


def test_the_ensemble_carries_its_members_in_its_metadata(members, check_images, tmp_path):
    out = tmp_path / "pair.onnx"
    build_ensemble([members["a"], members["b"]], out, check_images=check_images, weights=[1, 3])
    meta = ModelFile.open(out).meta
    assert meta.arch == "ensemble(a+b)" and meta.input_size == (3, 16, 16)
    assert (meta.mean, meta.std, meta.output, meta.threshold) == ((0, 0, 0), (1, 1, 1), "logit", 0.5)
    record = meta.provenance.extra["ensemble"]
    assert record["weights"] == [0.25, 0.75]
    assert [m["sha256"] for m in record["members"]] == [file_sha256(members["a"]), file_sha256(members["b"])]
    assert [m["threshold"] for m in record["members"]] == [0.42, 0.6]
    assert ModelMeta(**{**record["members"][1]["meta"], "provenance": ModelMeta(arch="x").provenance}).std == STD_B
    assert meta.provenance.dataset == "synthetic"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.onnx"]  # nothing staged is left


def test_softmax_and_clipped_probability_members_give_their_logits(members, check_images, tmp_path):
    out = tmp_path / "three.onnx"
    outcome = build_ensemble([members["c"], members["d"], members["a"]], out, check_images=check_images)
    assert outcome.meta.input_size == (3, 16, 16)  # the smallest member's, wherever it is listed
    pixels = np.stack([Preprocessor.from_meta(outcome.meta).load_pixels(p)
                       for p in sorted(check_images.rglob("*.png"))])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (ModelMeta(arch="x").mean, ModelMeta(arch="x").std))
    with torch.no_grad():
        probabilities = TwoClassSoftmax()((F.interpolate(x, size=(24, 24), mode="bilinear") - mean) / std).double()
        z_c = torch.log(probabilities[:, 1]) - torch.log(probabilities[:, 0])
        z_d = tiny_model(4, with_sigmoid=False)((x - mean) / std).double()
        z_a = tiny_model(0, with_sigmoid=False)((x - mean) / std).double()
    expected = torch.sigmoid(((z_c - _logit(0.3)) + (z_d - _logit(0.55)) + (z_a - _logit(0.42))) / 3).numpy()
    scored = load_backend(ModelFile.open(out))(Preprocessor.from_meta(outcome.meta).normalize(pixels))
    np.testing.assert_allclose(scored, expected, atol=1e-4)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_the_graphs_upsampling_is_pillows_filter(interpolation):
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    sizes = helper.make_tensor("sizes", TensorProto.INT64, [4], [2, 3, 40, 56])
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **ensemble_module.UPSAMPLING[interpolation])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 16, 24])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 40, 56])], [sizes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    x = np.random.default_rng(0).random((2, 3, 16, 24), dtype=np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"x": x})
    member = type("M", (), {"size": (40, 56), "meta": ModelMeta(arch="m", interpolation=interpolation)})()
    np.testing.assert_allclose(y, ensemble_module.resize_like_pillow(x, member), atol=1e-5)


def _meta_file(members, name, **changes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_onnx(members["folder"] / f"{name}.onnx", tiny_meta(arch=name, **changes), tiny_model(0))


@pytest.mark.parametrize("case, fragment", [
    ("one", "at least two models"),
    ("torchscript", "it is a torchscript file; export it to ONNX first"),
    ("crop", "members must take the whole image resized"),
    ("centre_crop", "without a crop"),
    ("narrow", "each side must be at least the smallest member's"),
    ("nearest", "upsamples larger members inside the graph with bilinear or bicubic only"),
    ("classes", "the members name their classes differently"),
    ("weights", r"1 --weight value\(s\) for 2 models"),
    ("negative", "weights must be positive finite numbers"),
    ("out_is_member", "is one of the members"),
])
def test_refusals_are_one_line_and_write_nothing(members, check_images, tmp_path, case, fragment):
    a = members["a"]
    other, weights = members["b"], None
    if case == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = write_torchscript(tmp_path / "ts.pt", tiny_meta())
    elif case == "crop":
        other = _meta_file(members, "crop", input_size=(3, 16, 16), fit="crop")
    elif case == "centre_crop":
        other = _meta_file(members, "centre", input_size=(3, 16, 16), resize_size=20)
    elif case == "narrow":
        other = _meta_file(members, "narrow", input_size=(3, 8, 64))
    elif case == "nearest":
        other = _meta_file(members, "nearest", input_size=(3, 32, 32), interpolation="nearest")
    elif case == "classes":
        other = _meta_file(members, "classes", input_size=(3, 16, 16), class_names=("real", "fake"),
                           positive_class="fake")
    elif case == "weights":
        weights = [1.0]
    elif case == "negative":
        weights = [1.0, 0.0]
    out = a if case == "out_is_member" else tmp_path / "e.onnx"
    paths = [a] if case == "one" else [a, other]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EnsembleRefused, match=fragment) as caught:
        build_ensemble(paths, out, check_images=check_images, weights=weights, force=case == "out_is_member")
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_existing_out_needs_force(members, check_images, tmp_path):
    out = tmp_path / "e.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(Exception, match="already exists; pass --force"):
        build_ensemble([members["a"], members["b"]], out, check_images=check_images)
    assert out.read_bytes() == b"keep me"
    build_ensemble([members["a"], members["b"]], out, check_images=check_images, force=True)
    assert ModelFile.open(out).meta.arch == "ensemble(a+b)"


def test_a_wiring_failure_writes_nothing(members, check_images, tmp_path, monkeypatch):
    real_combine = ensemble_module.combine
    monkeypatch.setattr(ensemble_module, "combine", lambda ms, zs: np.clip(real_combine(ms, zs) + 0.01, 0, 1))
    with pytest.raises(EnsembleRefused, match="does not score as its members do: max .dp. = 0.01"):
        build_ensemble([members["a"], members["b"]], tmp_path / "e.onnx", check_images=check_images)
    assert list(tmp_path.iterdir()) == []


def test_an_unfaithful_ensemble_is_refused_and_writes_nothing(members, tmp_path, monkeypatch):
    big = _images(tmp_path / "big", size=96, count=6)
    monkeypatch.setattr(ensemble_module, "MIN_AGREEMENT", 1.01)  # no agreement is enough: the refusal path
    with pytest.raises(EnsembleRefused, match="agrees with its members fed by their own preprocessing on only"):
        build_ensemble([members["a"], members["b"]], tmp_path / "e.onnx", check_images=big)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big"]


def test_without_check_images_outside_a_clone_it_says_what_to_pass(members, tmp_path, monkeypatch):
    from imgcheck.export import parity

    monkeypatch.setattr(parity, "SAMPLES", tmp_path / "no-samples")
    with pytest.raises(ImgcheckError, match="the ensemble's gates compare it with its members on real images: pass "
                                            "--check-images DIR"):
        build_ensemble([members["a"], members["b"]], tmp_path / "e.onnx")


def test_an_int8_member_makes_an_int8_ensemble_gated_by_the_int8_bound(members, check_images, tmp_path):
    from imgcheck.export.int8_schemes import SCHEMES
    from imgcheck.export.metadata import attach_to_onnx
    from imgcheck.export.quantize import quantize_onnx
    import onnx

    meta = ModelFile.open(members["b"]).meta
    calibration = np.random.default_rng(1).normal(0, 1, (32, 3, 32, 32)).astype(np.float32)
    int8 = tmp_path / "b.int8.onnx"
    quantize_onnx(members["b"], int8, calibration, SCHEMES["u8u8"])
    proto = onnx.load(str(int8))
    attach_to_onnx(proto, meta)
    onnx.save(proto, str(int8))
    assert ModelFile.open(int8).format.precision == "int8"
    unlabelled = tmp_path / "unlabelled"  # 24 labelled images would make the ROC-AUC bound a coin toss
    unlabelled.mkdir()
    for path in check_images.rglob("*.png"):
        shutil.copy(path, unlabelled / f"{path.parent.name}_{path.name}")
    outcome = build_ensemble([members["a"], int8], tmp_path / "e.onnx", check_images=unlabelled)
    assert ModelFile.open(tmp_path / "e.onnx").format.precision == "int8"
    assert outcome.wiring.precision == "int8" and outcome.wiring.passed
    assert "verdict agreement >= 99.5%" in outcome.wiring.bound


def test_members_that_both_define_a_local_function_of_one_name_combine(members, check_images, tmp_path):
    import onnx
    from onnx import helper

    paths = []
    for name in ("f1", "f2"):
        proto = onnx.load(str(members["a"]))
        proto.functions.append(helper.make_function("local", "scale", ["x"], ["y"],
                                                    [helper.make_node("Identity", ["x"], ["y"])],
                                                    [helper.make_opsetid("", 20)]))
        proto.opset_import.append(helper.make_opsetid("local", 1))
        onnx.save(proto, str(tmp_path / f"{name}.onnx"))
        paths.append(tmp_path / f"{name}.onnx")
    build_ensemble(paths, tmp_path / "e.onnx", check_images=check_images)
    written = onnx.load(str(tmp_path / "e.onnx"))
    assert sorted(f.name for f in written.functions) == ["m0_scale", "m1_scale"]  # each member's, renamed
