"""The fp16/int8 parity gate compares verdicts on real images (--check-images, or the images held out of
--calibration), never on random pixels alone, where a network saturates (issue 30, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from imgcheck.export.job import ExportJob, ProbabilityModel
from imgcheck.export.parity import (HOLD_OUT_EVERY, SEEDED, ExportParityError, build_check_set, compare, hold_out,
                                    image_paths)
from imgcheck.export.pipeline import export_checkpoint, gate_images
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.formats import FORMATS


def smooth_images(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` 32x32 PNGs like photos of smooth scenes: a colour gradient of random direction, a slow ripple and
    a little sensor noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32].astype(np.float64)
    for i in range(count):
        slope, base = rng.uniform(-3, 3, (2, 3)), rng.uniform(60, 190, 3)
        ripple = rng.uniform(5, 15) * np.sin(x / rng.uniform(6, 12) + y / rng.uniform(6, 12))
        rgb = base + x[..., None] * slope[0] + y[..., None] * slope[1] + ripple[..., None]
        rgb += rng.normal(0, 1.5, rgb.shape)
        Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)).save(folder / f"scene_{i:03d}.png")
    return folder


class SaturatesOnNoise(nn.Module):
    """One logit from the image's fine detail: a random convolution of (image - its 3x3 blur), ReLU on a positive
    bias, averaged per channel, then a linear head. Smooth images leave every channel near its bias, so their
    logits differ by little, around 0 once `fit` has centred them; random pixels push every channel up through the
    ReLU, far past any real image, and `fit` scales the head so that they saturate."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.blur = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.2)
            self.conv.bias.copy_(torch.rand(8, generator=generator) * 0.4 + 0.2)  # ReLU's linear side: smooth images
            self.head.weight.copy_(torch.rand((1, 8), generator=generator) + 0.5)  # positive: more detail, more FAKE
            self.head.bias.zero_()

    def features(self, image: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(image - self.blur(image))).mean(dim=(2, 3))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image)).squeeze(1)

    @torch.no_grad()
    def fit(self, smooth: np.ndarray, noise: np.ndarray, margin: float = 30.0) -> SaturatesOnNoise:
        """Centre the smooth images' logits on 0 (their median) and scale them so that every noise input's logit
        is at least `margin` (p_fake 1 - 1e-13)."""
        smooth_logit = self.head(self.features(torch.from_numpy(smooth))).squeeze(1)
        noise_logit = self.head(self.features(torch.from_numpy(noise))).squeeze(1)
        centre = smooth_logit.median()
        gain = margin / float((noise_logit - centre).min())
        assert gain > 0, "random pixels must have more detail than every smooth image"
        self.head.weight.mul_(gain)
        self.head.bias.copy_(-gain * centre)
        return self.eval()


META = ModelMeta(arch="saturates", input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                 output="probability", threshold=0.5)


def _noise(count: int, seed: int) -> np.ndarray:
    """Model inputs of uniform random pixels, as the gate's seeded batch is made (another seed)."""
    return build_check_set(META, count=count, seed=seed).inputs


@pytest.fixture(scope="module")
def saturating(tmp_path_factory):
    """(a SaturatesOnNoise model fitted on smooth scenes, a calibration folder of 100 more of them)."""
    root = tmp_path_factory.mktemp("saturating")
    fit_on = build_check_set(META, count=0, folder=smooth_images(root / "fit", 60, seed=1)).inputs
    model = SaturatesOnNoise().fit(fit_on, _noise(256, seed=7))
    return model, smooth_images(root / "calibration", 100, seed=2)


def _job(model: nn.Module, workdir: Path) -> ExportJob:
    workdir.mkdir(parents=True, exist_ok=True)
    return ExportJob(ProbabilityModel(model).eval(), META, workdir)


@pytest.mark.parametrize("fmt, options", [("onnx-int8", {"int8_scheme": "u8u8"}), ("onnx-fp16", {})])
def test_a_model_that_saturates_on_random_pixels_but_not_on_real_ones_fails_the_gate(saturating, tmp_path, fmt,
                                                                                    options):
    """The attack of issue 30: the model answers every random-pixel input p_fake = 1 in any precision, and sits
    near its threshold on smooth real-looking images, where the reduced precision moves it across. The old gate,
    given --calibration and no --check-images, compared the 64 random-pixel inputs alone with this very bound and
    passed (they agree 100%, as the refusal itself reports); the new one compares the images held out of
    --calibration and refuses. Nothing is written."""
    model, calibration = saturating
    p_noise = ProbabilityModel(model)(torch.from_numpy(build_check_set(META).inputs)).detach().numpy()
    assert p_noise.min() == 1.0  # saturated (in float32) on the gate's own random pixels
    out = tmp_path / "out"
    with pytest.raises(ExportParityError) as refused:
        export_checkpoint("saturates (built in the test)", out, [fmt], calibration=calibration, measure_speed=False,
                          job=_job(model, tmp_path / "work"), **options)
    message = str(refused.value)
    assert f"{fmt} export of saturates failed the parity gate" in message
    assert f"on 20 real images is below 99.5% (the {SEEDED} random-pixel inputs: 100.00%)" in message
    assert "20 images held out of --calibration" in message and "No file was written" in message
    if fmt == "onnx-int8":  # what else to try is named, never a looser bound
        assert "try --int8-calibration percentile or entropy, another --int8-scheme" in message
    assert not out.exists() and list((tmp_path / "work").iterdir()) == []


def test_the_same_model_passes_where_real_images_agree(saturating, tmp_path):
    """Control: the fp32 ONNX export of that model passes the exact gate on the same inputs, so the refusal above
    is the reduced precision's doing, not the model's or the images'."""
    model, calibration = saturating
    (record,) = export_checkpoint("saturates", tmp_path, ["onnx"], check_images=calibration, measure_speed=False,
                                  job=_job(model, tmp_path / "work"))
    assert record.parity.passed and record.parity.real_images == 100


def test_the_trained_cnn_int8_export_passes_on_images_held_out_of_calibration(trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    records = {r.format: r for r in export_checkpoint(checkpoint, tmp_path, ["onnx", "onnx-int8", "onnx-fp16"],
                                                      calibration=data / "train", measure_speed=False)}
    held = len(image_paths(data / "train")) // HOLD_OUT_EVERY
    for record in records.values():
        assert record.parity.passed and record.parity.real_images == held == 40
        assert record.check_images.startswith("40 images held out of --calibration")
    for name in ("onnx-int8", "onnx-fp16"):
        parity = records[name].parity
        assert parity.verdict_agreement >= 0.995 and parity.seeded_agreement is not None
        assert parity.auc_reference is not None  # the held-out images keep their REAL/FAKE labels
    assert records["onnx"].parity.seeded_agreement is None  # fp32 counts every input alike


def test_the_trained_cnn_int8_export_passes_on_check_images(trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    (record,) = export_checkpoint(checkpoint, tmp_path, ["onnx-int8"], calibration=data / "train",
                                  check_images=data / "test", measure_speed=False)
    assert record.parity.passed and record.parity.real_images == 80 and record.parity.n == SEEDED + 80
    assert record.check_images == f"--check-images {data / 'test'}"


@pytest.mark.parametrize("formats, scheme, names", [
    (["onnx-fp16"], "auto", ("--check-images DIR", "--calibration DIR")),
    (["onnx", "onnx-int8"], "dynamic", ("--check-images DIR",)),
])
def test_a_reduced_precision_export_without_real_images_is_refused_before_any_work(trained_cnn, tmp_path, formats,
                                                                                   scheme, names):
    checkpoint, _ = trained_cnn
    with pytest.raises(ImgcheckError, match="gate compares verdicts on real images, and there are none") as refused:
        export_checkpoint(checkpoint, tmp_path / "out", formats, int8_scheme=scheme, measure_speed=False)
    assert all(name in str(refused.value) for name in names) and "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_fp32_exports_still_need_no_real_images(tmp_path):
    from imgcheck.infer.models.architectures import build_model, default_meta
    from imgcheck.trainer.checkpoint import save_checkpoint

    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "cnn.pt", build_model("cnn").state_dict(), default_meta("cnn"))
    (record,) = export_checkpoint(checkpoint, tmp_path / "out", ["onnx"], measure_speed=False)
    assert record.parity.passed and record.parity.real_images == 0 and record.check_images is None


def test_too_few_calibration_images_to_hold_any_out_are_refused(trained_cnn, tmp_path):
    checkpoint, _ = trained_cnn
    few = smooth_images(tmp_path / "few", HOLD_OUT_EVERY - 1)
    with pytest.raises(ImgcheckError, match=r"--calibration .*few: 4 image\(s\), too few to hold every 5th out"):
        export_checkpoint(checkpoint, tmp_path / "out", ["onnx-int8"], calibration=few, measure_speed=False)
    assert not (tmp_path / "out").exists()


def test_hold_out_takes_every_5th_path_and_calibration_never_sees_them(tmp_path):
    paths = [Path(f"{label}/{i:02d}.png") for label in ("FAKE", "REAL") for i in range(12)]
    kept, held = hold_out(paths)
    assert held == paths[4::5] and len(held) == 4 and set(kept).isdisjoint(held) and len(kept) + len(held) == 24
    assert {p.parent.name for p in held} == {"FAKE", "REAL"}
    assert hold_out(paths) == (kept, held)  # deterministic
    folder = smooth_images(tmp_path / "cal", 12)
    check, calibrate_on = gate_images(META, None, folder)
    assert check.seeded == SEEDED and check.real == 2 and len(calibrate_on) == 10
    assert set(calibrate_on).isdisjoint(image_paths(folder)[4::5])
    check, calibrate_on = gate_images(META, folder, folder)  # --check-images given: calibration keeps every image
    assert check.real == 12 and calibrate_on is None


def test_random_pixels_do_not_dilute_the_real_agreement_and_still_catch_gross_errors():
    int8, fp32 = FORMATS["onnx-int8"], FORMATS["onnx"]
    labels = np.full(SEEDED + 150, -1)
    reference = np.r_[np.ones(SEEDED), np.linspace(0.1, 0.9, 150)].astype(np.float32)
    exported = reference.copy()
    exported[SEEDED + 100] = 0.2  # one real verdict of 150 flips: 99.33%
    pooled = compare(int8, reference, exported, labels, 0.5, 1e-4)  # the old gate: 213 of 214 agree, 99.53%
    assert pooled.passed
    gate = compare(int8, reference, exported, labels, 0.5, 1e-4, seeded=SEEDED)
    assert not gate.passed and gate.real_images == 150 and gate.seeded_agreement == 1.0
    assert gate.failure.startswith("verdict agreement 99.33% on 150 real images is below 99.5%")
    assert "random pixels only for gross errors" in gate.bound
    gross = reference.copy()
    gross[:10] = 0.0  # 10 of 64 random-pixel verdicts flip (84%), every real one agrees
    assert "a gross error" in compare(int8, reference, gross, labels, 0.5, 1e-4, seeded=SEEDED).failure
    for fmt in (int8, fp32):
        broken = reference.copy()
        broken[3] = np.nan  # a NaN reads as a REAL verdict, and as no difference at all
        assert compare(fmt, reference, broken, labels, 0.5, 1e-4, seeded=SEEDED).failure == \
            "1 exported p_fake value(s) are not finite"
    no_real = compare(int8, reference[:SEEDED], reference[:SEEDED], labels[:SEEDED], 0.5, 1e-4, seeded=SEEDED)
    assert not no_real.passed and "no real images" in no_real.failure


def test_the_cli_compares_images_held_out_of_calibration_and_says_so(runner, trained_cnn, tmp_path):
    """The refusal without real images, through the CLI, is in tests/infer/cli/test_export.py."""
    checkpoint, data = trained_cnn
    held = runner.invoke(cli, ["export", str(checkpoint), "--out", str(tmp_path / "b"), "--format", "onnx", "--int8",
                               "--calibration", str(data / "train")])
    assert held.exit_code == 0, held.output
    said = " ".join(held.stderr.split())
    assert "parity compared 64 random-pixel inputs and 40 real images: 40 images held out of --calibration" in said
    assert "fp16/int8 verdict agreement counts the real images only" in said
    report = json.loads((tmp_path / "b" / "export_report.json").read_text())
    int8 = next(f for f in report["files"] if f["format"] == "onnx-int8")
    assert int8["parity"]["real_images"] == 40 and int8["check_images"].startswith("40 images held out")


def test_a_roc_auc_refusal_also_gives_the_verdict_agreement():
    """Every verdict agrees but the ranking moved: the refusal names both numbers, so a page of refusals shows each."""
    int8 = FORMATS["onnx-int8"]
    labels = np.r_[np.full(SEEDED, -1), np.zeros(100), np.ones(100)]
    reference = np.r_[np.ones(SEEDED), np.linspace(0.05, 0.45, 100), np.linspace(0.55, 0.95, 100)]
    reference[SEEDED + 99] = 0.6  # one REAL image above the threshold, ranked among the FAKE ones
    exported = reference.copy()
    exported[SEEDED + 99] = 0.96  # still a FAKE verdict, now above every FAKE image: ROC-AUC 0.9987 -> 0.99
    gate = compare(int8, reference.astype(np.float32), exported.astype(np.float32), labels, 0.5, 1e-4, seeded=SEEDED)
    assert not gate.passed and gate.verdict_agreement == 1.0
    assert gate.failure == "|dROC-AUC| = 0.0087 exceeds 0.002 (verdict agreement 100.00% on 200 real images)"
