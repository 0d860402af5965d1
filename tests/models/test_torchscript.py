"""TorchScript files (``torch.jit.script`` / ``torch.jit.trace`` saved with ``torch.jit.save``).

TorchScript modules take no forward hooks. Their layers keep their class in ``original_name``; a scripted
``nn.Sequential`` gives its activations by running its modules one after the other; any other scripted
module is refused, with the fix, before evaluation starts (never one failing sample after another).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import leapscope as ls
from leapscope.engine.setup import latent_spaces
from leapscope.exceptions import ModelError
from leapscope.models import open_model
from leapscope.store import Workspace

X = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)


def _mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 32),
        torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU()),
        torch.nn.Linear(16, 3),
    ).eval()


class Net(torch.nn.Module):
    """Not an nn.Sequential: a scripted Net gives no activations without hooks."""

    def __init__(self, features: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(features, 16)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


def _save(module: torch.nn.Module, path: Path, how: str = "script") -> Path:
    compiled = torch.jit.script(module) if how == "script" else torch.jit.trace(module, torch.from_numpy(X))
    torch.jit.save(compiled, str(path))
    return path


def _hidden(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The input of the last Linear, read with a hook on the nn.Module."""
    seen: dict[str, torch.Tensor] = {}
    last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    handle = last.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    with torch.no_grad():
        module(torch.from_numpy(x))
    handle.remove()
    return seen["x"].numpy()


@pytest.mark.parametrize("how", ["script", "trace"])
def test_scripted_sequential_layers_have_their_types_and_shapes(tmp_path, how):
    model = open_model(_save(_mlp(), tmp_path / "model.pt", how))
    expected = [
        ("0", "Linear", (None, 32)),
        ("1", "ReLU", (None, 32)),
        ("2.0", "Linear", (None, 16)),
        ("2.1", "ReLU", (None, 16)),
        ("3", "Linear", (None, 3)),
    ]
    # before any forward pass: from the weights; after one: as seen
    assert [(layer.name, layer.type, layer.output_shape) for layer in model.layers()] == expected
    model.predict([X])
    assert [(layer.name, layer.type, layer.output_shape) for layer in model.layers()] == expected


@pytest.mark.parametrize("how", ["script", "trace"])
def test_scripted_sequential_default_latent_without_hooks(tmp_path, how):
    model = open_model(_save(_mlp(), tmp_path / "model.pt", how))
    assert model.default_latent_layer() == "3:input"
    assert model.default_latent_or_none() == "3:input"
    outputs, latents = model.predict_with_latent([X])
    np.testing.assert_allclose(latents["3:input"], _hidden(_mlp(), X), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(outputs[0], _mlp()(torch.from_numpy(X)).numpy(), atol=1e-6)
    acts = model.activations([X], ["0", "2", "2.0:input", "2:input"])
    with torch.no_grad():
        first = _mlp()[0](torch.from_numpy(X))
        np.testing.assert_allclose(acts["0"], first.numpy(), atol=1e-6)
        np.testing.assert_allclose(acts["2"], _mlp()[2](torch.relu(first)).numpy(), atol=1e-6)
    np.testing.assert_array_equal(acts["2.0:input"], acts["2:input"])
    np.testing.assert_allclose(acts["2.0:input"], np.maximum(acts["0"], 0), atol=1e-6)


def test_scripted_module_that_is_not_sequential_is_refused_with_the_fix(tmp_path):
    path = _save(Net(), tmp_path / "net.pt")
    model = open_model(path)
    assert [(layer.name, layer.type) for layer in model.layers()] == [("body", "Linear"), ("head", "Linear")]
    assert model.default_latent_layer() == "head:input"
    assert model.default_latent_or_none() is None  # `leapscope layers` marks no layer it cannot give
    model.predict([X])  # predictions need no hooks
    for call in (lambda: model.resolve_layers(["body"]), lambda: model.activations([X], ["head:input"])):
        with pytest.raises(ModelError) as info:
            call()
        message = str(info.value)
        assert str(path) in message and "(Net)" in message
        assert "no forward hooks" in message and "not an nn.Sequential" in message
        assert "load_state_dict" in message and "torch.onnx.export" in message and "--latent none" in message


def test_layer_inside_a_module_the_sequential_runs_as_one_step_is_refused(tmp_path):
    model = open_model(_save(torch.nn.Sequential(Net(), torch.nn.Softmax(dim=1)).eval(), tmp_path / "m.pt"))
    assert model.default_latent_or_none() is None  # the last Linear lies inside Net
    acts = model.activations([X], ["0", "1"])  # the Sequential's own modules can be read
    np.testing.assert_allclose(acts["1"].sum(1), 1.0, atol=1e-6)
    with pytest.raises(ModelError, match=r"'0\.head' lies inside '0', a Net module that runs as one step"):
        model.resolve_layers(["0.head"])


def test_latent_spaces_refuses_an_unreadable_default_before_evaluating(tmp_path):
    model = open_model(_save(Net(), tmp_path / "net.pt"))
    with pytest.raises(ModelError, match=r"net\.pt \(Net\) cannot give the activations of layer 'head:input'"):
        latent_spaces(model, None)
    with pytest.raises(ModelError, match="layer 'body'"):
        latent_spaces(model, ["body"])
    assert latent_spaces(model, ["none"]) == {}


SCRIPTED_MODEL = """
    return {path!r}
"""


def test_evaluate_a_scripted_sequential_stores_its_default_latent(make_integration, tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.Softmax(1))
    path = _save(module.eval(), tmp_path / "seq.pt")
    run = ls.evaluate(
        make_integration(model=SCRIPTED_MODEL.format(path=str(path))), workspace=tmp_path / "ws", workers=0
    )
    assert run.latent_spaces == ["2_input"]
    frame = run.to_pandas()
    assert len(frame) == 40 and run.errors.num_rows == 0
    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)  # the base integration's features
    order = frame["sample_id"].astype(int).to_numpy()
    np.testing.assert_allclose(run.latent("2_input"), _hidden(module, x[order]), atol=1e-5)


def test_evaluate_a_scripted_non_sequential_is_refused_before_any_sample(make_integration, tmp_path):
    path = _save(Net(features=4), tmp_path / "net.pt")
    folder = make_integration(model=SCRIPTED_MODEL.format(path=str(path)))
    with pytest.raises(ModelError, match=r"net\.pt \(Net\) cannot give the activations of layer 'head:input'"):
        ls.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    assert not any(run.status == "complete" for run in Workspace(tmp_path / "ws").runs())
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=0, latent=["none"])
    assert run.latent_spaces == [] and len(run.to_pandas()) == 40 and run.errors.num_rows == 0


def _cnn() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()


def test_scripted_sequential_gives_differentiable_activations_for_grad_cam(tmp_path):
    images = torch.from_numpy(np.random.default_rng(1).random((2, 1, 6, 6), dtype=np.float32))
    scripted = open_model(_save(_cnn(), tmp_path / "cnn.pt"))
    plain = open_model(_cnn())
    (act, out), (want_act, want_out) = (m.activation_and_output(images, "1") for m in (scripted, plain))
    torch.testing.assert_close(act, want_act)
    torch.testing.assert_close(out, want_out)
    (grad,) = torch.autograd.grad(out[:, 0].sum(), act)
    (want_grad,) = torch.autograd.grad(want_out[:, 0].sum(), want_act)
    torch.testing.assert_close(grad, want_grad)
    with pytest.raises(ModelError, match=r"not an nn\.Sequential"):
        open_model(_save(Net(), tmp_path / "net.pt")).activation_and_output(torch.from_numpy(X), "body")
