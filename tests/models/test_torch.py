from __future__ import annotations

import numpy as np
import pytest
import torch

from leapscope.exceptions import ModelError, ModelLoadError
from leapscope.models import open_model
from tests.models.conftest import TwoInTwoOut


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


X = np.random.default_rng(0).random((6, 1, 5, 5), dtype=np.float32)


def test_module_predict_layers_and_latent():
    model = open_model(SmallCNN())
    out = model.predict([X])[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, SmallCNN()(torch.from_numpy(X)).numpy(), atol=1e-6)
    assert [(layer.name, layer.type) for layer in model.layers()] == [
        ("features.0", "Conv2d"),
        ("features.1", "ReLU"),
        ("fc", "Linear"),
    ]
    assert model.default_latent_layer() == "fc:input"
    _outputs, latents = model.predict_with_latent([X])
    assert latents["fc:input"].shape == (6, 4)
    acts = model.activations([X], ["features.0"], pool="mean")
    np.testing.assert_allclose(
        acts["features.0"].mean(1), model.activations([X], ["features.0"])["features.0"].mean(axis=(1, 2, 3)), atol=1e-6
    )
    assert model.outputs[0].shape == (None, 3)


def test_module_is_put_in_eval_mode():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.9))
    net.train()
    model = open_model(net)
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(model.predict([x])[0], model.predict([x])[0])


def test_torchscript_and_export_files(tmp_path):
    scripted = torch.jit.script(SmallCNN().eval())
    torch.jit.save(scripted, str(tmp_path / "m.pt"))
    ts = open_model(tmp_path / "m.pt")
    np.testing.assert_allclose(ts.predict([X])[0], open_model(SmallCNN()).predict([X])[0], atol=1e-6)
    with pytest.raises(ModelError, match="TorchScript modules take no forward hooks"):
        ts.activations([X], ["fc"])
    program = torch.export.export(SmallCNN().eval(), (torch.from_numpy(X),))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    exported = open_model(tmp_path / "m.pt2")
    np.testing.assert_allclose(exported.predict([X])[0], open_model(SmallCNN()).predict([X])[0], atol=1e-6)


def test_state_dict_file_says_how_to_load_it(tmp_path):
    torch.save(SmallCNN().state_dict(), str(tmp_path / "weights.pth"))
    with pytest.raises(ModelLoadError, match=r"holds a state dict.*load_state_dict"):
        open_model(tmp_path / "weights.pth")


def test_multi_input_multi_output_module():
    model = open_model(TwoInTwoOut())
    assert [s.name for s in model.inputs] == ["a", "b"]
    total, classes = model.predict([np.ones((2, 3), np.float32), np.ones((2, 2), np.float32)])
    assert total.shape == (2, 1) and classes.shape == (2, 4)
    assert [s.name for s in model.outputs] == ["output_0", "output_1"]


def test_unknown_layer_and_bad_object():
    model = open_model(SmallCNN())
    with pytest.raises(ModelError, match="close matches: fc"):
        model.activations([X], ["fcc"])
    with pytest.raises(ModelLoadError, match="cannot load a model from a dict"):
        open_model({"not": "a model"})
