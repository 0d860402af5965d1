"""A default latent space for models without a final dense layer (issue 14, item 4): the deepest feature map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from leapscope.models import open_model


class _EncoderDecoder(torch.nn.Module):
    """A dense-output (segmentation-like) net: 32x32 -> 16x16 -> 8x8 bottleneck -> back to 32x32."""

    def __init__(self) -> None:
        super().__init__()
        self.down1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.down2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up1 = torch.nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.up2 = torch.nn.ConvTranspose2d(8, 1, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.down2(torch.relu(self.down1(x))))
        return torch.sigmoid(self.up2(torch.relu(self.up1(x))))


class _ConvOnly(torch.nn.Module):
    """Conv layers and a global pool, no Linear: class scores from a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x))).mean(dim=(2, 3))


class _SqueezeExcitation(torch.nn.Module):
    """An encoder-decoder whose encoder has a squeeze-excitation block (as PP-OCRv4's detector): its 1x1
    gate (HardSigmoid) is the smallest map, but it holds channel weights, not features."""

    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.squeeze, self.excite = torch.nn.Conv2d(8, 2, 1), torch.nn.Conv2d(2, 8, 1)
        self.up = torch.nn.ConvTranspose2d(8, 1, 4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.down(x))
        gate = torch.nn.functional.hardsigmoid(self.excite(torch.relu(self.squeeze(x.mean(dim=(2, 3), keepdim=True)))))
        return torch.sigmoid(self.up(x * gate))


def _export(module: torch.nn.Module, path: Path) -> Path:
    torch.onnx.export(
        module.eval(),
        (torch.zeros(1, 3, 32, 32),),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        dynamo=False,
    )
    return path


@pytest.mark.parametrize("net", [_EncoderDecoder, _ConvOnly, _SqueezeExcitation])
def test_default_latent_is_the_deepest_feature_map(tmp_path: Path, net: type[torch.nn.Module]) -> None:
    torch.manual_seed(0)
    wrapper = open_model(_export(net(), tmp_path / "model.onnx"))
    layer = wrapper.default_latent_layer()
    info = {i.name: i for i in wrapper.layer_info()}[layer]
    assert info.is_spatial
    if net is _EncoderDecoder:  # the 8x8 bottleneck, not a decoder map
        assert info.output_shape is not None and tuple(info.output_shape[2:]) == (8, 8)
    if net is _SqueezeExcitation:  # the 8x8 feature map (gated or not), never the 1x1 gate or squeeze
        assert info.output_shape is not None and tuple(info.output_shape[2:]) == (8, 8)
    x = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)
    latent = wrapper.activations(x, [layer], pool="mean")[layer]
    assert latent.shape[0] == 5 and latent.ndim == 2 and np.isfinite(latent).all()


def test_torch_default_latent_is_the_bottleneck_before_and_after_a_forward_pass() -> None:
    torch.manual_seed(0)
    wrapper = open_model(_EncoderDecoder().eval())
    assert wrapper.default_latent_layer() == "down2"  # by module order: the last conv before the first upsampling
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    wrapper.predict([x])  # the shapes are known now: the smallest map (8x8) before the decoder
    assert wrapper.default_latent_layer() == "down2"
    _, latent = wrapper.predict_with_latent([x])
    assert latent["down2"].shape == (3, 16)
    # no Linear and no upsampling: the latest multi-channel map, the same rule as for the ONNX export
    assert open_model(_ConvOnly().eval()).default_latent_layer() == "head"


def test_keras_default_latent_without_a_dense_layer() -> None:
    from leapscope.models._keras import import_keras

    keras = import_keras()
    inputs = keras.Input((32, 32, 3))
    down = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down1")(inputs)
    bottleneck = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="bottleneck")(down)
    up = keras.layers.UpSampling2D(2, name="up1")(bottleneck)
    late = keras.layers.Conv2D(8, 3, padding="same", name="late")(up)  # 16x16, after the upsampling: not chosen
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(keras.layers.UpSampling2D(2)(late))
    wrapper = open_model(keras.Model(inputs, outputs))
    assert wrapper.default_latent_layer() == "bottleneck"
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    assert wrapper.predict_with_latent([x])[1]["bottleneck"].shape == (2, 16)
