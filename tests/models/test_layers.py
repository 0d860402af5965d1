"""Layer listing (`ModelWrapper.layer_info`) and one canonical layer name per model (issue 14, item 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from leapscope.analysis.attribution import explain
from leapscope.models import open_model
from tests.conftest import DIGITS


def _dotted_onnx(path: Path) -> Path:
    """A conv net like paddle2onnx writes: dotted node names (``p2o.Conv.0``) and a reshape target
    built from Constant/Shape/Gather/Unsqueeze/Concat nodes (the layers `leapscope layers` hides)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((64, 5)).astype(np.float32), "fc_w"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c0"], name="p2o.Conv.0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c0"], ["r0"], name="p2o.Relu.0"),
        helper.make_node("MaxPool", ["r0"], ["p0"], name="p2o.MaxPool.0", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["p0"], ["s0"], name="p2o.Shape.0"),
        helper.make_node(
            "Constant", [], ["k0"], name="p2o.Constant.0", value=numpy_helper.from_array(np.array(0, np.int64))
        ),
        helper.make_node("Gather", ["s0", "k0"], ["g0"], name="p2o.Gather.0", axis=0),
        helper.make_node("Unsqueeze", ["g0", "axes"], ["u0"], name="p2o.Unsqueeze.0"),
        helper.make_node(
            "Constant", [], ["m1"], name="p2o.Constant.1", value=numpy_helper.from_array(np.array([-1], np.int64))
        ),
        helper.make_node("Concat", ["u0", "m1"], ["shape"], name="p2o.Concat.0", axis=0),
        helper.make_node("Reshape", ["p0", "shape"], ["flat"], name="p2o.Reshape.0"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["y"], name="p2o.MatMul.0"),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    graph = helper.make_graph(
        nodes,
        "dotted",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def dotted(tmp_path_factory: pytest.TempPathFactory):
    return open_model(_dotted_onnx(tmp_path_factory.mktemp("dotted") / "dotted.onnx"))


def test_onnx_listing_hides_constants_and_shape_ops(dotted):
    shown = [layer.name for layer in dotted.layer_info()]
    assert shown == ["p2o.Conv.0", "p2o.Relu.0", "p2o.MaxPool.0", "p2o.Reshape.0", "p2o.MatMul.0"]
    everything = {layer.name: layer for layer in dotted.layer_info(include_hidden=True)}
    assert len(everything) == 11
    assert all(
        everything[n].hidden
        for n in ("p2o.Shape.0", "p2o.Constant.0", "p2o.Gather.0", "p2o.Unsqueeze.0", "p2o.Concat.0")
    )
    assert everything["p2o.Conv.0"].output_shape == (None, 4, 8, 8) and everything["p2o.Conv.0"].is_spatial
    assert not everything["p2o.Reshape.0"].is_spatial
    assert dotted.default_latent_layer() == "p2o.Reshape.0"


def test_onnx_torch_spelling_resolves_to_the_node_name(dotted, tmp_path):
    x = np.random.default_rng(1).random((2, 3, 8, 8), dtype=np.float32)
    assert dotted.canonical_layer("p2o/MaxPool/0") == "p2o.MaxPool.0"
    acts = dotted.activations([x], ["p2o.MaxPool.0", "p2o/MaxPool/0"])
    np.testing.assert_array_equal(acts["p2o.MaxPool.0"], acts["p2o/MaxPool/0"])
    assert acts["p2o.MaxPool.0"].shape == (2, 4, 4, 4)
    # the listed (onnxruntime) name works for Grad-CAM in the onnx2torch view, and so does the torch spelling
    assert dotted.differentiable, dotted.differentiable_reason
    listed = explain(dotted, x, method="gradcam", layer="p2o.Relu.0")
    torch_spelled = explain(dotted, x, method="gradcam", layer="p2o/Relu/0")
    assert listed.values.shape[0] == 2
    np.testing.assert_allclose(listed.values, torch_spelled.values, rtol=1e-5, atol=1e-6)
    act, _ = dotted.activation_and_output(torch.from_numpy(x), "p2o.Relu.0")
    np.testing.assert_allclose(
        act.detach().numpy(), dotted.activations([x], ["p2o.Relu.0"])["p2o.Relu.0"], rtol=1e-4, atol=1e-5
    )


def test_digits_onnx_and_keras_listing_and_names(digits_images):
    x = digits_images[:4]
    for path, latent, cam_layer in (
        (DIGITS / "model.onnx", "/Relu_2", "/Relu_1"),
        (DIGITS / "model.h5", "fc1", "conv2"),
    ):
        wrapper = open_model(path)
        info = wrapper.layer_info()
        assert all(layer.output_shape is not None for layer in info), path
        assert not any(layer.hidden for layer in info)
        assert wrapper.default_latent_layer() == latent
        names = [layer.name for layer in info]
        assert latent in names and cam_layer in names
        assert cam_layer in [layer.name for layer in info if layer.is_spatial]
        acts = wrapper.activations([x], [latent, cam_layer])
        assert acts[latent].shape[0] == 4 and acts[cam_layer].ndim == 4
        cam = explain(wrapper, x, method="gradcam", layer=cam_layer)
        assert cam.values.shape[0] == 4


class SmallNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.act = torch.nn.ReLU()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


def test_torch_listing_after_a_batch_and_gradcam():
    wrapper = open_model(SmallNet())
    x = np.random.default_rng(0).random((2, 1, 6, 6), dtype=np.float32)
    wrapper.predict([x])
    info = {layer.name: layer for layer in wrapper.layer_info()}
    assert list(info) == ["conv", "act", "pool", "fc"]
    assert info["act"].output_shape == (None, 4, 6, 6) and info["act"].is_spatial
    assert info["fc"].output_shape == (None, 3)
    assert wrapper.default_latent_layer() == "fc:input"
    assert wrapper.activations([x], ["act"])["act"].shape == (2, 4, 6, 6)
    assert explain(wrapper, x, method="gradcam", layer="act").values.shape[0] == 2
