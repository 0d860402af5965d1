from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from leapscope.exceptions import ModelLoadError
from leapscope.models import open_model
from leapscope.models._keras import import_keras
from tests.conftest import DIGITS

H5 = DIGITS / "model.h5"


def test_h5_predicts_like_the_onnx_export(digits_images):
    model = open_model(H5)
    assert model.framework == "keras" and model.internal_layout == "NHWC"
    assert model.inputs[0].shape == (None, 8, 8, 1) and model.inputs[0].layout == "NHWC"
    assert model.outputs[0].name == "classes"
    np.testing.assert_allclose(
        model.predict([digits_images])[0], open_model(DIGITS / "model.onnx").predict([digits_images])[0], atol=1e-5
    )


def test_layers_latent_and_nhwc_activations(digits_images):
    model = open_model(H5)
    assert [layer.name for layer in model.layers()] == ["conv1", "conv2", "pool", "flatten", "fc1", "classes"]
    assert model.default_latent_layer() == "fc1"
    acts = model.activations([digits_images], ["conv1", "fc1"])
    assert acts["conv1"].shape == (32, 8, 8, 16)  # channels last
    # same weights as the ONNX export: channel means must agree across layouts
    onnx_model = open_model(DIGITS / "model.onnx")
    # keras' conv1 includes its relu: compare with the ONNX Relu that follows the first Conv
    conv = next(layer.name for layer in onnx_model.layers() if layer.type == "Relu")
    pooled_keras = model.activations([digits_images], ["conv1"], pool="mean")["conv1"]
    pooled_onnx = onnx_model.activations([digits_images], [conv], pool="mean")[conv]
    np.testing.assert_allclose(pooled_keras, pooled_onnx, atol=1e-5)
    _, latents = model.predict_with_latent([digits_images])
    _, onnx_latents = onnx_model.predict_with_latent([digits_images])
    np.testing.assert_allclose(latents["fc1"], next(iter(onnx_latents.values())), atol=1e-4)


def test_keras_format_roundtrip(tmp_path, digits_images):
    keras = import_keras()
    path = tmp_path / "model.keras"
    open_model(H5).model.save(str(path))
    model = open_model(path)
    assert isinstance(model.model, keras.Model)
    np.testing.assert_allclose(model.predict([digits_images])[0], open_model(H5).predict([digits_images])[0], atol=1e-6)


def test_torch_view_gradients_match_finite_differences(digits_images):
    model = open_model(H5)
    module = model.torch_module()
    x = torch.from_numpy(digits_images[:2].copy()).requires_grad_(True)
    out = module(x)
    (grad,) = torch.autograd.grad(out[:, 5].sum(), x)
    eps = 1e-2
    plus, minus = digits_images[:2].copy(), digits_images[:2].copy()
    plus[1, 3, 4, 0] += eps
    minus[1, 3, 4, 0] -= eps
    fd = (model.predict([plus])[0][:, 5].sum() - model.predict([minus])[0][:, 5].sum()) / (2 * eps)
    assert fd == pytest.approx(float(grad[1, 3, 4, 0]), abs=2e-3, rel=5e-2)


def _lambda_model(path):
    keras = import_keras()
    inp = keras.Input((3,))
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    keras.Model(inp, out).save(str(path))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layers_are_refused_unless_trusted(tmp_path, suffix):
    path = tmp_path / f"lam{suffix}"
    _lambda_model(path)
    with pytest.raises(ModelLoadError, match=r"contains a Lambda layer.*trust_code=True"):
        open_model(path)
    trusted = open_model(path, trust_code=True)
    np.testing.assert_allclose(trusted.predict([np.ones((2, 3), np.float32)])[0], 2.0)


def test_legacy_rnn_time_major_config(tmp_path):
    """A tf.keras 2 .h5 writes time_major into RNN configs; Keras 3 dropped the argument."""
    keras = import_keras()
    inp = keras.Input((5, 2), name="seq")
    out = keras.layers.Dense(1, name="out")(keras.layers.LSTM(4, name="lstm")(inp))
    model = keras.Model(inp, out)
    path = tmp_path / "legacy.h5"
    model.save(str(path))
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "LSTM":
                layer["config"]["time_major"] = False  # what tf.keras 2.x wrote
        f.attrs["model_config"] = json.dumps(config)
    loaded = open_model(path)
    x = np.random.default_rng(0).random((3, 5, 2), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict([x])[0], np.asarray(model(x).detach()), atol=1e-5)


def test_sequential_model_object():
    keras = import_keras()
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"), keras.layers.Dense(2, name="d2")])
    model = open_model(seq)
    assert model.default_latent_layer() == "d1"
    assert model.predict([np.ones((2, 4), np.float32)])[0].shape == (2, 2)
