from __future__ import annotations

import numpy as np

from leapscope.analysis.attribution import explain
from leapscope.models import open_model
from tests.conftest import DIGITS


def test_occlusion_on_onnx_without_torch_conversion(images, monkeypatch, onnx_model):
    fresh = open_model(DIGITS / "model.onnx")
    monkeypatch.setattr(type(fresh), "torch_module", lambda self: (_ for _ in ()).throw(AssertionError("no torch")))
    result = explain(fresh, images[:4], method="occlusion", window=2)
    assert result.values.shape == images[:4].shape and np.abs(result.values).sum() > 0
    np.testing.assert_allclose(
        result.values, explain(onnx_model, images[:4], method="occlusion", window=2).values, atol=1e-6
    )
