from __future__ import annotations

import numpy as np
import pytest

from leapscope.analysis.attribution import explain
from leapscope.models import open_model
from tests.analysis.attribution.conftest import TorchCNN


def _complete(model, x, **kw):
    result = explain(model, x, method="integrated_gradients", steps=50, **kw)
    assert result.completeness_error is not None
    return result


@pytest.mark.parametrize("which", ["onnx", "keras", "torch"])
def test_integrated_gradients_completeness(which, images, onnx_model, keras_model):
    if which == "torch":
        model = open_model(TorchCNN(onnx_model.torch_module()), layout="NCHW")
        x = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    else:
        model, x = (onnx_model if which == "onnx" else keras_model), images
    result = _complete(model, x)
    assert result.values.shape == x.shape
    assert float(result.completeness_error.max()) < 0.05
    f_x = model.predict([x])[0][np.arange(len(x)), result.target]
    f_b = model.predict([np.zeros_like(x)])[0][np.arange(len(x)), result.target]
    np.testing.assert_allclose(result.values.reshape(len(x), -1).sum(1), f_x - f_b, rtol=0.05, atol=1e-3)


def test_smoothgrad_is_deterministic(images, onnx_model):
    a = explain(onnx_model, images[:3], method="smoothgrad", seed=3)
    b = explain(onnx_model, images[:3], method="smoothgrad", seed=3)
    np.testing.assert_array_equal(a.values, b.values)
