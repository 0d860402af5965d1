"""Custom numpy losses (Tensorleap / code-loader style) are differentiated on torch tensors with numpy's meaning:
``.astype``, ``np.asarray``, dtype casts, reductions with axis / keepdims, ``np.where``, ``.transpose(0, 2, 3, 1)``,
``.max(axis=)``, ``.std()``, a list of tensors given to ``np.mean``, in-place edits of a copy. Each loss's torch
values equal its numpy values, and integrated gradients of it on the real digits ONNX model add up to the numpy loss
difference (completeness). A loss that still cannot be differentiated is an error that names the operation and
the line of the loss, and offers occlusion in API words."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from code_loader.default_metrics import (
    binary_crossentropy,
    categorical_crossentropy,
    mean_absolute_error_dimension_reduced,
    mean_squared_error_dimension_reduced,
    mean_squared_logarithmic_error_dimension_reduced,
)

from leapscope.analysis.attribution import LossGradientError, differentiable_loss, explain


def astype_ce(gt, prediction):  # the bundled tensorleap-mnist-style example's loss
    return -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(-1).astype(np.float32)


def asarray_weighted(gt, prediction):
    p = np.asarray(prediction, dtype=np.float32)
    g = np.array(gt)
    w = np.where(g > 0, 2.0, 1.0)
    return np.mean(w * np.square(g - p), axis=1, keepdims=True).reshape(-1).astype("float64")


def normalised_keepdims(gt, prediction):
    p = prediction / np.sum(prediction, axis=1, keepdims=True)
    return -(np.expand_dims(gt, 1) * np.log(np.expand_dims(p, 1) + 1e-7)).squeeze(1).sum(axis=1)


def pixel_layout(gt, prediction):  # (B, 10) seen as (B, 2, 5, 1) maps: numpy transpose / max / std
    p = prediction.reshape(len(prediction), 2, 5, 1).transpose(0, 2, 3, 1)
    g = gt.reshape(len(gt), 2, 5, 1).transpose(0, 2, 3, 1)
    return (p.max(axis=-1) * (1 + g.max(axis=-1))).reshape(len(p), -1).std(axis=1) + p[0].size * 0.0


def per_class_list(gt, prediction):  # a python list of per-class values, averaged by np.mean
    return np.mean([np.abs(gt[:, c] - prediction[:, c]) for c in range(prediction.shape[1])], axis=0)


def edited_copy(gt, prediction):
    p = prediction.copy()
    p[p < 1e-12] = 1e-12
    return np.add.reduce(-gt * np.log(p), axis=1)


LOSSES = [
    astype_ce,
    asarray_weighted,
    normalised_keepdims,
    pixel_layout,
    per_class_list,
    edited_copy,
    categorical_crossentropy,  # code-loader's own default losses
    binary_crossentropy,
    mean_squared_error_dimension_reduced,
    mean_absolute_error_dimension_reduced,
    mean_squared_logarithmic_error_dimension_reduced,
]


def _batch(onnx_model, images, n=4):
    prediction = onnx_model.predict([images[:n]])[0]
    gt = np.eye(10, dtype=np.float32)[(prediction.argmax(1) + 1) % 10]  # wrong labels: a high loss
    return gt, prediction


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_numpy_loss_runs_on_torch_with_numpy_values_and_a_gradient(loss, onnx_model, images):
    gt, prediction = _batch(onnx_model, images)
    fn, reason = differentiable_loss(loss, gt, prediction)
    assert reason is None and fn is not None
    p = torch.from_numpy(prediction.copy()).requires_grad_(True)
    values = fn(torch.from_numpy(gt), p)
    np.testing.assert_allclose(values.detach().numpy(), np.asarray(loss(gt, prediction)), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(values.sum(), p)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert np.asarray.__module__ == "numpy" and np.mean.__module__ == "numpy"  # numpy itself is as it was


@pytest.mark.parametrize("loss", [astype_ce, asarray_weighted, per_class_list, categorical_crossentropy])
def test_integrated_gradients_of_a_numpy_loss_add_up_to_its_numpy_difference(loss, onnx_model, images):
    gt, _ = _batch(onnx_model, images)
    result = explain(
        onnx_model, images[:4], method="integrated_gradients", target="loss", ground_truth=gt, loss=loss, steps=64
    )
    at_x = np.asarray(loss(gt, onnx_model.predict([images[:4]])[0]), dtype=np.float64)
    at_baseline = np.asarray(loss(gt, onnx_model.predict([np.zeros_like(images[:4])])[0]), dtype=np.float64)
    np.testing.assert_allclose(result.values.reshape(4, -1).sum(1), at_x - at_baseline, rtol=0.05, atol=2e-3)
    assert result.extra["loss_gradient"] and result.extra["loss"] == loss.__name__


def interp_loss(gt, prediction):
    scaled = np.interp(prediction, [0.0, 1.0], [0.0, 2.0])
    return (gt * scaled).sum(axis=1)


def python_floats(gt, prediction):
    return np.array([float(np.sum(g * p)) for g, p in zip(gt, prediction, strict=True)])


def test_a_loss_that_cannot_be_differentiated_names_the_operation_and_line_and_offers_occlusion(onnx_model, images):
    gt, _ = _batch(onnx_model, images, 2)
    with pytest.raises(LossGradientError) as caught:
        explain(onnx_model, images[:2], method="saliency", target="loss", ground_truth=gt, loss=interp_loss)
    text = str(caught.value)
    assert "np.interp failed on torch tensors" in text
    assert "test_numpy_losses.py" in text and "in interp_loss" in text and "np.interp(prediction" in text
    assert "method=occlusion" in text and "--method" not in text  # API words; the CLI's are for_cli()
    assert "--method occlusion" in caught.value.for_cli() and "numpy-only" not in text
    with pytest.raises(LossGradientError, match=r"'python_floats'.*without a gradient.*float\(\)"):
        explain(onnx_model, images[:2], method="saliency", target="loss", ground_truth=gt, loss=python_floats)
    # occlusion calls the numpy loss as it is
    occ = explain(
        onnx_model, images[:2], method="occlusion", target="loss", ground_truth=gt, loss=interp_loss, window=4
    )
    assert np.abs(occ.values).sum() > 0


def test_array_constructors_are_routed_only_in_the_calling_thread_and_only_for_its_tensors():
    import threading

    from leapscope.analysis.attribution import _numpy_torch

    t = _numpy_torch.numpy_tensor(torch.arange(3.0))
    seen = {}
    with _numpy_torch.numpy_on_torch():
        seen["here"] = type(np.asarray(t, dtype=np.float64))
        seen["plain"] = type(np.asarray(torch.arange(3.0)))  # a plain tensor: numpy's own conversion
        other = threading.Thread(target=lambda: seen.setdefault("other", type(np.asarray(t))))
        other.start()
        other.join()
    assert seen["here"] is type(t) and seen["plain"] is np.ndarray and seen["other"] is np.ndarray
    assert np.asarray.__module__ == "numpy"
