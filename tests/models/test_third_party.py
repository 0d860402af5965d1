"""Real pretrained models from PyPI wheels (installed by `make install`, never committed)."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from leapscope.models import open_model

SITE = Path(sysconfig.get_paths()["purelib"])


def _digit_recognizer_cnn() -> torch.nn.Module:
    """The package's CNN class, loaded by file path: its __init__ imports torchvision."""
    root = SITE / "digit_recognizer"
    spec = importlib.util.spec_from_file_location("digit_recognizer_model", root / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.CNN()
    net.load_state_dict(torch.load(root / "models" / "handwriting_model.pth", map_location="cpu", weights_only=True))
    return net.eval()


@pytest.fixture(scope="module")
def mnist_images() -> np.ndarray:
    from sklearn.datasets import load_digits

    digits = load_digits()
    img = torch.from_numpy((digits.images[:16] / 16.0).astype(np.float32))[:, None]
    return torch.nn.functional.interpolate(img, size=(28, 28), mode="bilinear").numpy()


def test_digit_recognizer_torch_and_onnx_parity(tmp_path, mnist_images):
    net = _digit_recognizer_cnn()
    wrapper = open_model(net)
    with torch.no_grad():
        expected = net(torch.from_numpy(mnist_images)).numpy()
    np.testing.assert_allclose(wrapper.predict([mnist_images])[0], expected, atol=1e-5)
    assert wrapper.default_latent_layer() == "fc_layers.2:input"
    _, latents = wrapper.predict_with_latent([mnist_images])
    assert latents["fc_layers.2:input"].shape == (16, 256)
    acts = wrapper.activations([mnist_images], ["conv_layers.0", "conv_layers.8"])
    assert acts["conv_layers.0"].shape == (16, 32, 28, 28) and acts["conv_layers.8"].shape == (16, 128, 3, 3)

    path = tmp_path / "mnist.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, 28, 28),),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "b"}, "logits": {0: "b"}},
        dynamo=False,
    )
    onnx_model = open_model(path)
    assert onnx_model.inputs[0].layout == "NCHW"
    np.testing.assert_allclose(onnx_model.predict([mnist_images])[0], expected, atol=1e-4)
    module = onnx_model.torch_module()
    x = torch.from_numpy(mnist_images[:2]).requires_grad_(True)
    (grad_onnx,) = torch.autograd.grad(module(x)[:, 7].sum(), x)
    x2 = torch.from_numpy(mnist_images[:2]).requires_grad_(True)
    (grad_torch,) = torch.autograd.grad(net(x2)[:, 7].sum(), x2)
    np.testing.assert_allclose(grad_onnx.numpy(), grad_torch.numpy(), atol=1e-4)


def _magika_features(paths: list[Path]):
    import magika

    m = magika.Magika()
    feats = []
    for p in paths:
        result, features = m._get_result_or_features_from_path(p)
        assert features is not None, result
        feats.append((p, features))
    x = np.array([f.beg[:1024] + f.end[-1024:] for _, f in feats], dtype=np.int32)
    return m, feats, x


def test_magika_predictions_match_the_package():
    import magika

    model_path = Path(magika.__file__).parent / "models" / "standard_v3_3" / "model.onnx"
    files = [Path(p) for p in (sys.modules["json"].__file__, np.__file__, ort.__file__)]
    files += sorted((SITE / "magika" / "config").glob("*.json"))
    m, feats, x = _magika_features(files)
    wrapper = open_model(model_path)
    assert wrapper.inputs[0].shape == (None, 2048)
    x = x.astype(wrapper.inputs[0].dtype)
    ours = wrapper.predict([x])[0]
    theirs = np.array(m._get_raw_predictions(feats))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    labels = [str(m._model_config.target_labels_space[i]) for i in ours.argmax(1)]
    assert labels[:3] == ["python", "python", "python"] and labels[3] == "json"
    _, latents = wrapper.predict_with_latent([x])
    (latent,) = latents.values()
    assert latent.shape[0] == len(files) and latent.ndim == 2


def test_magika_onnx_torch_parity():
    import magika

    model_path = Path(magika.__file__).parent / "models" / "standard_v3_3" / "model.onnx"
    wrapper = open_model(model_path)
    assert wrapper.differentiable, wrapper.differentiable_reason
    rng = np.random.default_rng(1)
    x = rng.integers(0, 257, size=(4, 2048)).astype(wrapper.inputs[0].dtype)
    with torch.no_grad():
        out = wrapper.torch_module()(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), wrapper.predict([x])[0], atol=1e-4)
