from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import leapscope as ls
from leapscope.analysis.attribution import deletion_auc, explain, insertion_auc, randomization_check
from leapscope.exceptions import LeapscopeError, ModelError
from leapscope.models import load
from tests.conftest import DIGITS


@pytest.fixture(scope="module")
def images():
    sys.path.insert(0, str(DIGITS))
    import data

    imgs, _, rows = data.load()
    return imgs[rows["test"][:12]]


@pytest.fixture(scope="module")
def onnx_model():
    return load(DIGITS / "model.onnx")


@pytest.fixture(scope="module")
def keras_model():
    return load(DIGITS / "model.h5")


class TorchCNN(torch.nn.Module):
    """NCHW torch model with the ONNX export's weights."""

    def __init__(self, onnx_module):
        super().__init__()
        self.inner = onnx_module

    def forward(self, x):
        return self.inner(x.permute(0, 2, 3, 1))


def _complete(model, x, **kw):
    result = explain(model, x, method="integrated_gradients", steps=50, **kw)
    assert result.completeness_error is not None
    return result


@pytest.mark.parametrize("which", ["onnx", "keras", "torch"])
def test_integrated_gradients_completeness(which, images, onnx_model, keras_model):
    if which == "torch":
        model = load(TorchCNN(onnx_model.torch_module()), layout="NCHW")
        x = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    else:
        model, x = (onnx_model if which == "onnx" else keras_model), images
    result = _complete(model, x)
    assert result.values.shape == x.shape
    assert float(result.completeness_error.max()) < 0.05
    f_x = model.predict([x])[0][np.arange(len(x)), result.target]
    f_b = model.predict([np.zeros_like(x)])[0][np.arange(len(x)), result.target]
    np.testing.assert_allclose(result.values.reshape(len(x), -1).sum(1), f_x - f_b, rtol=0.05, atol=1e-3)


def test_gradcam_nchw_equals_nhwc_and_a_hand_computation(images, onnx_model, keras_model):
    onnx_cam = explain(onnx_model, images, method="gradcam", layer="/Relu_1")
    keras_cam = explain(keras_model, images, method="gradcam", layer="conv2")  # conv2 includes its relu
    np.testing.assert_allclose(onnx_cam.extra["cam"], keras_cam.extra["cam"], atol=1e-4)
    np.testing.assert_allclose(onnx_cam.values, keras_cam.values, atol=1e-4)
    # by hand on the Keras model: weights = spatial mean of d score / d A over H, W (NHWC axes 1, 2)
    from leapscope.models._keras import import_keras

    keras = import_keras()
    sub = keras.Model(keras_model.model.inputs, [keras_model.model.get_layer("conv2").output, keras_model.model.outputs[0]])
    acts, out = sub(torch.from_numpy(images), training=False)
    score = out[torch.arange(len(images)), torch.tensor(keras_cam.target)].sum()
    (grads,) = torch.autograd.grad(score, acts)
    cam = torch.relu((grads.mean(dim=(1, 2), keepdim=True) * acts).sum(dim=3)).detach().numpy()
    np.testing.assert_allclose(keras_cam.extra["cam"], cam, atol=1e-5)
    layercam = explain(keras_model, images, method="layercam", layer="conv2")
    assert layercam.values.shape == images.shape and (layercam.values >= 0).all()


def test_occlusion_on_onnx_without_torch_conversion(images, monkeypatch, onnx_model):
    fresh = load(DIGITS / "model.onnx")
    monkeypatch.setattr(type(fresh), "torch_module", lambda self: (_ for _ in ()).throw(AssertionError("no torch")))
    result = explain(fresh, images[:4], method="occlusion", window=2)
    assert result.values.shape == images[:4].shape and np.abs(result.values).sum() > 0
    np.testing.assert_allclose(result.values, explain(onnx_model, images[:4], method="occlusion", window=2).values, atol=1e-6)


def test_batch_equals_per_sample(images, onnx_model):
    for method in ("saliency", "integrated_gradients", "gradcam", "occlusion", "input_x_gradient"):
        batch = explain(onnx_model, images[:5], method=method)
        single = np.concatenate([explain(onnx_model, images[i : i + 1], method=method).values for i in range(5)])
        np.testing.assert_allclose(batch.values, single, rtol=1e-4, atol=1e-5, err_msg=method)


def test_targets_by_label_and_errors(images, onnx_model):
    by_label = explain(onnx_model, images[:2], method="saliency", target="7", labels=[str(i) for i in range(10)])
    assert by_label.target == [7, 7]
    with pytest.raises(LeapscopeError, match="not a label"):
        explain(onnx_model, images[:2], method="saliency", target="seven", labels=[str(i) for i in range(10)])
    with pytest.raises(LeapscopeError, match="unknown method"):
        explain(onnx_model, images[:2], method="lime")  # type: ignore[arg-type]


def test_smoothgrad_is_deterministic(images, onnx_model):
    a = explain(onnx_model, images[:3], method="smoothgrad", seed=3)
    b = explain(onnx_model, images[:3], method="smoothgrad", seed=3)
    np.testing.assert_array_equal(a.values, b.values)


def test_faithfulness_scores_rank_methods(images, onnx_model):
    ig = explain(onnx_model, images, method="integrated_gradients")
    noise = ls.analysis.attribution.Attribution(np.random.default_rng(0).random(images.shape).astype(np.float32), "random", ig.target, channel_axis=3)
    assert deletion_auc(onnx_model, images, ig).mean() < deletion_auc(onnx_model, images, noise).mean()
    assert insertion_auc(onnx_model, images, ig).mean() > insertion_auc(onnx_model, images, noise).mean()
    assert randomization_check(onnx_model, images[:6], method="saliency") < 0.5


def test_gradient_method_on_undifferentiable_model_says_use_occlusion(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    max_out = onnx.numpy_helper.from_array(np.array([3], dtype=np.int64), "max_out")
    graph = helper.make_graph(
        [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out"], ["sel"]), helper.make_node("Cast", ["sel"], ["y"], to=1)],
        "g",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 4]), helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [max_out],
    )
    path = tmp_path / "nms.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ModelError, match="use method='occlusion'"):
        explain(load(path), [np.zeros((1, 3, 4), np.float32), np.zeros((1, 1, 3), np.float32)], method="saliency", target=0)


def test_explain_cli_writes_a_png(tmp_path):
    run = ls.evaluate(DIGITS, workspace=tmp_path, max_samples=20, workers=0, explain="gradcam")
    heat = np.load(run.dir / "explanations" / "gradcam.npy")
    val = run.to_pandas().subset == "validation"
    assert heat.shape == (60, 8, 8) and np.isfinite(heat[val.to_numpy()]).all() and np.isnan(heat[~val.to_numpy()]).all()
    out = tmp_path / "x.png"
    proc = subprocess.run([sys.executable, "-m", "leapscope", "explain", run.id, "0", "--subset", "training", "-w", str(tmp_path),
                           "--method", "gradcam", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_loss_target_builtin_and_custom(images, onnx_model):
    from leapscope.sdk._builtins import cross_entropy

    gt = np.eye(10, dtype=np.float32)[(onnx_model.predict([images])[0].argmax(1) + 1) % 10]  # wrong labels: a high loss
    result = explain(onnx_model, images[:4], method="integrated_gradients", target="loss", ground_truth=gt[:4], loss="cross_entropy")
    loss_x = cross_entropy(gt[:4], onnx_model.predict([images[:4]])[0])
    loss_b = cross_entropy(gt[:4], onnx_model.predict([np.zeros_like(images[:4])])[0])
    np.testing.assert_allclose(result.values.reshape(4, -1).sum(1), loss_x - loss_b, rtol=0.05, atol=1e-3)
    assert result.extra["target"] == "loss" and result.target == [-1] * 4

    def my_loss(g, p):
        return ((g - p) ** 2).sum(1)

    occ = explain(onnx_model, images[:2], method="occlusion", target="loss", ground_truth=gt[:2], loss=my_loss, window=2)
    assert occ.values.shape == images[:2].shape and np.abs(occ.values).sum() > 0
    with pytest.raises(LeapscopeError, match="custom numpy loss has no gradient"):
        explain(onnx_model, images[:2], method="saliency", target="loss", ground_truth=gt[:2], loss=my_loss)
    with pytest.raises(LeapscopeError, match="needs ground_truth"):
        explain(onnx_model, images[:2], method="saliency", target="loss")


def test_run_context_explains_the_integrations_loss(digits_workspace):
    from leapscope.analysis import RunContext
    from leapscope.store import Workspace

    ctx = RunContext(Workspace(digits_workspace[0]).open_run(digits_workspace[1]))
    result, x = ctx.explain("test", "1500", method="integrated_gradients", target="loss")
    assert result.extra["loss"] == "cross_entropy" and x.shape == (8, 8, 1)
    assert float(result.completeness_error[0]) < 0.05
