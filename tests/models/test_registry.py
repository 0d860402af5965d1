"""Backends register themselves; a file or object finds its backend through the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import leapscope.models as models
from leapscope.exceptions import ModelLoadError
from leapscope.models import ModelWrapper, TensorSpec, open_model
from leapscope.models import _registry as registry
from leapscope.models._onnx_torch import convert_checked
from tests.conftest import DIGITS

PACKAGE = Path(models.__file__).parent


def test_builtin_backends_and_suffixes():
    assert [b.name for b in registry.backends()] == ["keras", "onnx", "torch"]
    assert registry.suffixes() == {
        ".onnx": "onnx",
        ".h5": "keras",
        ".hdf5": "keras",
        ".keras": "keras",
        ".pt": "torch",
        ".pth": "torch",
        ".pt2": "torch",
    }
    assert registry.backend_for_object(torch.nn.Linear(2, 2)).name == "torch"  # type: ignore[union-attr]
    with pytest.raises(ModelLoadError, match=r"supported: \.h5, \.hdf5, \.keras, \.onnx, \.pt, \.pt2, \.pth"):
        open_model(DIGITS / "integration.py")


class _Doubler(ModelWrapper):
    framework = "doubler"

    def __init__(self, factor: float = 2.0):
        self.inputs, self.outputs, self.factor = [TensorSpec("x", (None, 3))], [TensorSpec("y", (None, 3))], factor

    def _predict(self, inputs):
        return [inputs[0] * self.factor]

    def _forward_with(self, inputs, layers):
        return self._predict(inputs), {}

    def layers(self):
        return []

    def default_latent_layer(self):
        return "x"

    def torch_module(self):
        raise NotImplementedError


def test_a_registered_backend_opens_its_files_and_objects(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    registry.register_backend(
        registry.Backend(
            "doubler",
            (".dbl",),
            open_path=lambda path, layout, trust_code: _Doubler(float(path.read_text())),
            accepts=lambda obj: isinstance(obj, float),
            open_object=lambda obj, layout: _Doubler(obj),
        )
    )
    path = tmp_path / "m.DBL"
    path.write_text("3")
    x = np.ones((2, 3), np.float32)
    assert open_model(path).predict([x])[0].tolist() == [[3.0] * 3] * 2
    assert open_model(0.5).predict([x])[0].tolist() == [[0.5] * 3] * 2
    assert ".dbl" in registry.suffixes()


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_import_cycle_and_no_self_import_of_the_package():
    for path in PACKAGE.glob("*.py"):
        if path.name != "__init__.py":
            assert "leapscope.models" not in _imports(path), f"{path.name} imports its own package __init__"
    assert "leapscope.models._onnx" not in _imports(PACKAGE / "_onnx_torch.py")  # it takes a predict function and specs


def test_convert_checked_takes_a_predict_function_and_specs():
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(DIGITS / "model.onnx"))
    session = ort.InferenceSession(str(DIGITS / "model.onnx"))
    specs_in, specs_out = [TensorSpec("image", (None, 8, 8, 1))], [TensorSpec("classes", (None, 10))]

    def predict(arrays):
        return session.run(None, {"image": arrays[0]})

    module, reason = convert_checked(proto, predict, specs_in, specs_out)
    assert module is not None and reason is None

    def wrong(arrays):
        return [np.zeros((len(arrays[0]), 10), np.float32) + 5]

    module, reason = convert_checked(proto, wrong, specs_in, specs_out)
    assert module is None and "differs from onnxruntime" in reason  # type: ignore[operator]


@pytest.mark.parametrize("path, layer", [("model.onnx", "/Relu_1"), ("model.h5", "conv2")])
def test_activation_and_output_is_one_differentiable_pass(path, layer, digits_images):
    model = open_model(DIGITS / path)
    x = torch.from_numpy(digits_images[:4])
    act, out = model.activation_and_output(x, layer, 0)
    assert act.requires_grad and out.requires_grad
    np.testing.assert_allclose(out.detach().numpy(), model.predict([digits_images[:4]])[0], atol=1e-5)
    np.testing.assert_allclose(act.detach().numpy(), model.activations([digits_images[:4]], [layer])[layer], atol=1e-5)
    assert act.shape[3 if model.internal_layout == "NHWC" else 1] == 32  # conv2 has 32 channels, in its own layout
