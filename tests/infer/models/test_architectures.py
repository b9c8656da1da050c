import pytest
import torch
import torchvision
from torch import nn

from imgcheck.infer.errors import ImgcheckError
from imgcheck.trainer.checkpoint import save_checkpoint
from imgcheck.infer.cli.train import ARCH_NAMES
from imgcheck.infer.models.architectures import ARCHS, ReportCNN, build_model, count_parameters, default_meta

# The report's Table 2: (layer, output shape without the batch axis)
TABLE_2 = [
    ("Conv2d", (32, 30, 30)), ("ReLU", (32, 30, 30)), ("MaxPool2d", (32, 15, 15)),
    ("Conv2d", (64, 13, 13)), ("ReLU", (64, 13, 13)), ("MaxPool2d", (64, 6, 6)),
    ("Conv2d", (128, 4, 4)), ("ReLU", (128, 4, 4)), ("MaxPool2d", (128, 2, 2)),
    ("Flatten", (512,)), ("Linear", (256,)), ("ReLU", (256,)), ("Dropout", (256,)), ("Linear", (1,)),
]


def test_report_cnn_matches_table_2_layer_by_layer():
    model = ReportCNN().eval()
    assert count_parameters(model) == 224_833
    x = torch.zeros(2, 3, 32, 32)
    layers = [*model.features, *model.classifier]
    assert len(layers) == len(TABLE_2)
    for layer, (kind, shape) in zip(layers, TABLE_2):
        x = layer(x)
        assert type(layer).__name__ == kind
        assert tuple(x.shape[1:]) == shape, kind
    assert model(torch.zeros(5, 3, 32, 32)).shape == (5,)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_emits_one_logit_per_image(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 32, 32)).shape == (3,)
    meta = default_meta(arch)
    assert meta.arch == arch and meta.output == "logit" and meta.input_size == (3, 32, 32)


def test_cli_choices_are_the_registry():
    assert tuple(ARCHS) == ARCH_NAMES


def test_weights_file_in_torchvision_format_loads_the_backbone(tmp_path):
    torch.manual_seed(1)
    imagenet = torchvision.models.resnet18(weights=None)  # what the weights API downloads: a 1000-class state_dict
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    model = build_model("resnet18_v1", weights_file=path)
    assert torch.equal(model.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    assert model.fc[0].out_features == 1


@pytest.mark.parametrize("arch,other", [("cnn", "resnet18_v1"), ("opennsfw_resnet50", "efficientnet_lite0")])
def test_weights_file_can_be_an_imgcheck_checkpoint(tmp_path, arch, other):
    source = build_model(arch)
    path = save_checkpoint(tmp_path / "best.pt", source.state_dict(), default_meta(arch))
    model = build_model(arch, weights_file=path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    with pytest.raises(ImgcheckError, match=f"is a {arch} checkpoint; it cannot initialise {other}"):
        build_model(other, weights_file=path)


def test_weights_file_that_does_not_fit(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ImgcheckError, match="does not fit resnet50_v1"):
        build_model("resnet50_v1", weights_file=path)
    torch.save({"not": "tensors"}, tmp_path / "junk.pth")
    with pytest.raises(ImgcheckError, match="not a state_dict"):
        build_model("cnn", weights_file=tmp_path / "junk.pth")


@pytest.mark.parametrize("arch, weights", [("resnet50_v2", "IMAGENET1K_V2"), ("resnet101_v1", "IMAGENET1K_V1")])
def test_pretrained_asks_torchvision_for_the_named_weights(monkeypatch, arch, weights):
    """--pretrained goes through torchvision's weights API (a download, impossible here): serve it locally."""
    requested = []
    enum = torchvision.models.get_model_weights(ARCHS[arch].torchvision_name)
    reference = getattr(torchvision.models, ARCHS[arch].torchvision_name)(weights=None).state_dict()

    def fake_get_state_dict(self, *args, **kwargs):
        requested.append(self)
        return reference

    monkeypatch.setattr(type(enum[weights]), "get_state_dict", fake_get_state_dict)
    model = build_model(arch, pretrained=True)
    assert requested == [enum[weights]]
    assert torch.equal(model.conv1.weight, reference["conv1.weight"])
    assert isinstance(model.fc, nn.Sequential) and model.fc[0].out_features == 1


def test_pretrained_cnn_and_both_sources_are_refused(tmp_path):
    with pytest.raises(ImgcheckError, match="cnn has no pretrained weights"):
        build_model("cnn", pretrained=True)
    with pytest.raises(ImgcheckError, match="either --pretrained or --weights-file"):
        build_model("resnet18_v1", pretrained=True, weights_file=tmp_path / "x.pth")
    with pytest.raises(ImgcheckError, match="unknown arch 'vgg'"):
        build_model("vgg")


def test_report_cnn_initialises_like_keras_by_default():
    torch.manual_seed(0)
    model = ReportCNN()
    for layer in [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
        fan_in = layer.weight[0].numel()
        fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel()
        bound = (6 / (fan_in + fan_out)) ** 0.5  # Glorot uniform
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0
    torch.manual_seed(0)
    assert torch.count_nonzero(ReportCNN(init="torch").classifier[1].bias) > 0


def test_the_bundled_architecture_is_small():
    model = build_model("cnn_bn")
    assert count_parameters(model) == 162_121
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2,)


def test_weights_file_in_timm_format_loads_the_preact_backbone(tmp_path):
    import timm

    torch.manual_seed(2)
    imagenet = timm.create_model("resnetv2_50", num_classes=1000)  # what timm's hub weights hold: a 1000-class head
    path = tmp_path / "resnetv2_50-imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    model = build_model("resnet50_preact", weights_file=path)
    assert torch.equal(model.body.stem.conv.weight, imagenet.stem.conv.weight)
    assert torch.equal(model.body.norm.running_mean, imagenet.norm.running_mean)
    assert model.body.head.fc.out_channels == 1
    again = build_model("resnet50_preact", weights_file=save_checkpoint(  # an imgcheck checkpoint of the same arch
        tmp_path / "best.pt", model.state_dict(), default_meta("resnet50_preact")))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
    with pytest.raises(ImgcheckError, match="does not fit resnet101_preact"):
        build_model("resnet101_preact", weights_file=path)


def test_pretrained_preact_asks_timm_for_its_weights(monkeypatch):
    """--pretrained goes through timm's hub download (impossible here): check the request, serve a local model."""
    import timm

    calls = []
    real = timm.create_model

    def fake_create_model(name, pretrained=False, **kwargs):
        calls.append((name, pretrained, kwargs))
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", fake_create_model)
    model = build_model("resnet101_preact", pretrained=True)
    assert calls == [("resnetv2_101", True, {"num_classes": 1})]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2,)


def test_residual_stem_is_fixed_high_pass_and_flat_images_leave_no_residual():
    from imgcheck.infer.models.architectures import ResidualStem
    stem = ResidualStem()
    flat = torch.full((2, 3, 16, 16), 0.7)
    out = stem(flat)
    assert out.shape == (2, 12, 16, 16)
    assert torch.equal(out[:, :3], flat)
    assert out[:, 3:].abs().max() < 1e-6  # every kernel sums to zero: a flat image has no residual
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    assert out.shape[1] == 12 and stem(ramp)[:, 3:, :, 2:-2].abs().max() < 1e-5  # second-order: blind to ramps
    noisy = flat[:1] + 0.1 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert stem(noisy)[:, 3:].abs().mean() > 0.05  # pixel noise is what it shows
    model = build_model("cnn_bn_srm")
    assert not [n for n, p in model.named_parameters() if "kernels" in n]  # a buffer, never trained
    assert "features.0.kernels" in model.state_dict()  # but saved, so a checkpoint rebuilds it exactly
