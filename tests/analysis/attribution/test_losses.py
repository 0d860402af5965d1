from __future__ import annotations

import numpy as np
import pytest
import torch

from leapscope.analysis.attribution import BUILTIN_LOSSES, TORCH_LOSSES, builtin_loss_name, explain, torch_loss
from leapscope.exceptions import LeapscopeError
from leapscope.sdk._builtins import cross_entropy


def test_loss_target_builtin_and_custom(images, onnx_model):
    gt = np.eye(10, dtype=np.float32)[(onnx_model.predict([images])[0].argmax(1) + 1) % 10]  # wrong labels: a high loss
    result = explain(
        onnx_model, images[:4], method="integrated_gradients", target="loss", ground_truth=gt[:4], loss="cross_entropy"
    )
    loss_x = cross_entropy(gt[:4], onnx_model.predict([images[:4]])[0])
    loss_b = cross_entropy(gt[:4], onnx_model.predict([np.zeros_like(images[:4])])[0])
    np.testing.assert_allclose(result.values.reshape(4, -1).sum(1), loss_x - loss_b, rtol=0.05, atol=1e-3)
    assert result.extra["target"] == "loss" and result.target == [-1] * 4

    def my_loss(g, p):
        return ((g - p) ** 2).sum(1)

    occ = explain(
        onnx_model, images[:2], method="occlusion", target="loss", ground_truth=gt[:2], loss=my_loss, window=2
    )
    assert occ.values.shape == images[:2].shape and np.abs(occ.values).sum() > 0
    # numpy-style code that also runs on torch tensors is differentiated as it is (checked against numpy)
    grad = explain(onnx_model, images[:2], method="saliency", target="loss", ground_truth=gt[:2], loss=my_loss)
    x = torch.from_numpy(images[:2].copy()).requires_grad_(True)
    (expected,) = torch.autograd.grad(my_loss(torch.from_numpy(gt[:2]), onnx_model.torch_module()(x)).sum(), x)
    np.testing.assert_allclose(grad.values, expected.abs().numpy(), rtol=1e-4, atol=1e-6)

    def numpy_only(g, p):
        return np.array([float(np.square(a - b).sum()) for a, b in zip(g, p, strict=True)])

    with pytest.raises(LeapscopeError, match=r"gradient of loss 'numpy_only'.*without a gradient.*method=occlusion"):
        explain(onnx_model, images[:2], method="saliency", target="loss", ground_truth=gt[:2], loss=numpy_only)
    with pytest.raises(LeapscopeError, match="needs ground_truth"):
        explain(onnx_model, images[:2], method="saliency", target="loss")


@pytest.mark.parametrize("name", sorted(BUILTIN_LOSSES))
def test_every_builtin_loss_is_differentiable_and_equals_the_numpy_one(name):
    # one formula per loss (sdk/_builtins.LOSS_FORMULAS) serves numpy and torch alike
    rng = np.random.default_rng(0)
    gt = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    prediction = (
        np.exp(logits) / np.exp(logits).sum(1, keepdims=True) if name != "cross_entropy_from_logits" else logits
    )
    out = torch.from_numpy(prediction.astype(np.float32)).requires_grad_(True)
    value = torch_loss(name, out, torch.from_numpy(gt))
    np.testing.assert_allclose(value.detach().numpy(), BUILTIN_LOSSES[name](gt, prediction), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(value.sum(), out)
    assert grad.shape == out.shape and torch.isfinite(grad).all()
    assert builtin_loss_name(BUILTIN_LOSSES[name]) == name


def test_torch_losses_are_the_builtin_losses():
    assert set(TORCH_LOSSES) == set(BUILTIN_LOSSES)
    assert builtin_loss_name(lambda g, p: g) is None
    with pytest.raises(LeapscopeError, match="no differentiable version of loss 'hinge'"):
        torch_loss("hinge", torch.zeros(1, 2), torch.zeros(1, 2))
