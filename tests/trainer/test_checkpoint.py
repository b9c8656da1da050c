import pytest
import torch

from imgcheck.infer.errors import ModelMetaError
from imgcheck.infer.models.model_file import read_meta
from imgcheck.trainer.checkpoint import load_checkpoint, save_checkpoint
from tiny_models import tiny_meta, tiny_model


def test_checkpoint_is_a_plain_dict_that_loads_with_weights_only(tmp_path):
    model = tiny_model(with_sigmoid=False)
    meta = tiny_meta(output="logit")
    path = save_checkpoint(tmp_path / "run" / "best.pt", model.state_dict(), meta, epoch=3, history=[{"loss": 0.5}])
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"state_dict", "meta", "epoch", "history"}
    assert isinstance(raw["meta"], dict)
    checkpoint, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta == read_meta(path)
    assert checkpoint["epoch"] == 3 and checkpoint["history"] == [{"loss": 0.5}]
    for name, tensor in model.state_dict().items():
        assert torch.equal(checkpoint["state_dict"][name], tensor)
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temporary file left behind


def test_loading_validates_the_meta(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"state_dict": {}, "meta": {**tiny_meta().to_dict(), "std": [0, 0, 0]}}, path)
    with pytest.raises(ModelMetaError, match="'std' must be positive"):
        load_checkpoint(path)
