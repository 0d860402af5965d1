from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from leapscope.exceptions import ModelError, ModelInputError, ModelLoadError
from leapscope.models import open_model
from leapscope.models._onnx_torch import _fix_reshape_allowzero
from tests.conftest import DIGITS

ONNX = DIGITS / "model.onnx"


def test_predict_equals_bare_onnxruntime(digits_images):
    model = open_model(ONNX)
    expected = ort.InferenceSession(str(ONNX)).run(None, {"image": digits_images})[0]
    np.testing.assert_allclose(model.predict([digits_images])[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(digits_images, batch_size=5)[0], expected, rtol=1e-5, atol=1e-6)


def test_specs_layers_and_layout():
    model = open_model(ONNX)
    assert model.inputs[0].name == "image" and model.inputs[0].shape == (None, 8, 8, 1)
    assert model.inputs[0].layout == "NHWC" and model.inputs[0].dtype == "float32"
    assert model.outputs[0].shape == (None, 10)
    types = [layer.type for layer in model.layers()]
    assert types[:2] == ["Transpose", "Conv"] and types[-1] == "Softmax"
    conv = next(layer for layer in model.layers() if layer.type == "Conv")
    assert conv.output_shape == (None, 16, 8, 8)


def test_default_latent_feeds_the_last_gemm():
    model = open_model(ONNX)
    latent = model.default_latent_layer()
    last_gemm = [n for n in model.proto.graph.node if n.op_type == "Gemm"][-1]
    producer = next(n for n in model.proto.graph.node if last_gemm.input[0] in n.output)
    assert latent == producer.name


def test_activations_in_one_pass_and_pooling(digits_images):
    model = open_model(ONNX)
    conv = next(layer.name for layer in model.layers() if layer.type == "Conv")
    latent = model.default_latent_layer()
    raw = model.activations([digits_images], [conv, latent])
    assert raw[conv].shape == (32, 16, 8, 8) and raw[latent].shape == (32, 64)
    pooled = model.activations([digits_images], [conv], pool="mean")
    np.testing.assert_allclose(pooled[conv], raw[conv].mean(axis=(2, 3)), rtol=1e-5)
    assert model.activations([digits_images], [conv], pool="max")[conv].shape == (32, 16)


def test_predict_with_latent_matches_separate_calls(digits_images):
    model = open_model(ONNX)
    outputs, latents = model.predict_with_latent([digits_images])
    np.testing.assert_allclose(outputs[0], model.predict([digits_images])[0], rtol=1e-6)
    (name,) = latents
    assert latents[name].dtype == np.float32 and latents[name].shape == (32, 64)
    np.testing.assert_allclose(latents[name], model.activations([digits_images], [name])[name], rtol=1e-6)


def test_torch_view_matches_and_gradients_match_finite_differences(digits_images):
    model = open_model(ONNX)
    module = model.torch_module()
    assert model.differentiable and model.differentiable_reason is None
    x = torch.from_numpy(digits_images[:4].astype(np.float64)).float().requires_grad_(True)
    out = module(x)
    np.testing.assert_allclose(out.detach().numpy(), model.predict([digits_images[:4]])[0], atol=1e-5)
    target = out[:, 3].sum()
    (grad,) = torch.autograd.grad(target, x)
    eps = 1e-2
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, h, w = int(rng.integers(4)), int(rng.integers(8)), int(rng.integers(8))
        plus, minus = digits_images[:4].copy(), digits_images[:4].copy()
        plus[i, h, w, 0] += eps
        minus[i, h, w, 0] -= eps
        fd = (model.predict([plus])[0][:, 3].sum() - model.predict([minus])[0][:, 3].sum()) / (2 * eps)
        assert fd == pytest.approx(float(grad[i, h, w, 0]), abs=2e-3, rel=5e-2)
    assert "torchvision" not in sys.modules  # the stand-in never leaks


def test_input_errors_name_the_input_and_the_fix(digits_images):
    model = open_model(ONNX)
    with pytest.raises(ModelInputError, match=r"takes 1 input\(s\) \(image\) but got 2"):
        model.predict([digits_images, digits_images])
    with pytest.raises(
        ModelInputError, match=r"input 'image': dtype float64, the model expects float32.*astype\(np.float32\)"
    ):
        model.predict([digits_images.astype(np.float64)])
    with pytest.raises(
        ModelInputError, match=r"input 'image': got shape \(32, 8, 8\), the model expects \(B, 8, 8, 1\).*\(8, 8, 1\)"
    ):
        model.predict([digits_images[..., 0]])


def test_unknown_layer_lists_close_matches():
    model = open_model(ONNX)
    with pytest.raises(ModelError, match=r"unknown layer '/conv1/Con'.*close matches: /conv1/Conv"):
        model.activations([np.zeros((1, 8, 8, 1), np.float32)], ["/conv1/Con"])


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"unsupported model file 'model.tflite'; supported: .h5"):
        open_model(tmp_path / "model.tflite")
    with pytest.raises(ModelLoadError, match="does not exist"):
        open_model(tmp_path / "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot load ONNX model"):
        open_model(tmp_path / "bad.onnx")


def test_inference_session_object(digits_images):
    session = ort.InferenceSession(str(ONNX))
    model = open_model(session)
    assert model.predict([digits_images])[0].shape == (32, 10)
    assert model.default_latent_layer() == open_model(ONNX).default_latent_layer()


def test_multi_input_multi_output(two_in_two_out_onnx):
    model = open_model(two_in_two_out_onnx)
    assert [s.name for s in model.inputs] == ["a", "b"] and [s.name for s in model.outputs] == ["total", "classes"]
    a, b = np.ones((5, 3), np.float32), np.ones((5, 2), np.float32)
    total, classes = model.predict([a, b])
    assert total.shape == (5, 1) and classes.shape == (5, 4)
    module = model.torch_module()
    _t_total, t_classes = module(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(t_classes.detach().numpy(), classes, atol=1e-5)


def test_fixed_batch_model_pads_and_cuts(fixed_batch_onnx, digits_images):
    model = open_model(fixed_batch_onnx)
    assert model.fixed_batch == 4
    out = model.predict([digits_images[:10]])[0]
    assert out.shape == (10, 10)
    np.testing.assert_allclose(out, open_model(ONNX).predict([digits_images[:10]])[0], atol=1e-5)


def _graph_model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_reshape_allowzero_is_fixed_where_safe(tmp_path):
    shape = onnx.numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape_zero")
    safe = onnx.numpy_helper.from_array(np.array([-1, 6], dtype=np.int64), "shape_safe")
    nodes = [
        helper.make_node("Reshape", ["x", "shape_safe"], ["y"], allowzero=1),
        helper.make_node("Reshape", ["y", "shape_zero"], ["z"], allowzero=1),
    ]
    proto = _graph_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [shape, safe],
    )
    assert _fix_reshape_allowzero(proto) == 1  # the shape with a 0 keeps allowzero=1
    assert [a.i for n in proto.graph.node for a in n.attribute] == [0, 1]


def test_global_max_pool_converter(tmp_path):
    proto = _graph_model(
        [helper.make_node("GlobalMaxPool", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 1, 1])],
    )
    path = tmp_path / "gmp.onnx"
    onnx.save(proto, str(path))
    model = open_model(path)
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    out = model.torch_module()(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), x.max(axis=(2, 3), keepdims=True))
    assert model.differentiable


def test_unconvertible_graph_is_not_differentiable_but_still_predicts(tmp_path):
    # NonMaxSuppression needs torchvision, which is absent: inference still works in onnxruntime
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 3])
    out = helper.make_tensor_value_info("sel", TensorProto.INT64, None)
    max_out = onnx.numpy_helper.from_array(np.array([3], dtype=np.int64), "max_out")
    proto = _graph_model(
        [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out"], ["sel"])],
        [boxes, scores],
        [out],
        [max_out],
    )
    path = tmp_path / "nms.onnx"
    onnx.save(proto, str(path))
    model = open_model(path)
    b = np.array([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]], np.float32)
    s = np.array([[[0.9, 0.8, 0.7]]], np.float32)
    assert model.predict([b, s])[0].shape[1] == 3
    with pytest.raises(ModelError, match="no differentiable view"):
        model.torch_module()
    assert model.differentiable is False and "torchvision.ops.nms is not available" in model.differentiable_reason
    assert "torchvision" not in sys.modules
