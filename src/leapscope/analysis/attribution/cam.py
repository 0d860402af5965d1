"""Class activation maps on any spatial layer: ``gradcam`` (Selvaraju et al. 2017) and
``layercam`` (Jiang et al. 2021).

The channel axis is pooled in the layer's own layout (``ModelWrapper.internal_layout``:
NCHW for torch/ONNX, NHWC for Keras; Captum's ``LayerGradCam`` assumes NCHW). The
layer's activation and the output come from one differentiable forward pass
(``ModelWrapper.activation_and_output``), so this module knows no framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.analysis.attribution.base import (
    Attribution,
    AttributionMethod,
    ExplainRequest,
    Scorer,
    chunk_size,
    register,
)
from leapscope.exceptions import LeapscopeError
from leapscope.models import LayerInfo, ModelWrapper

__all__ = ["GradCam", "LayerCam", "default_cam_layer", "spatial_layers", "spatial_size", "upsample"]


_CAM_TYPES = ("conv", "relu", "activation", "sigmoid", "swish", "silu", "gelu", "clip", "batchnorm", "add", "concat")


def _channels(layer: LayerInfo, layout: str) -> int | None:
    shape = layer.output_shape or ()
    return shape[3] if layout == "NHWC" and len(shape) == 4 else (shape[1] if len(shape) == 4 else None)


def spatial_layers(wrapper: ModelWrapper, arrays: list[np.ndarray] | None = None) -> list[LayerInfo]:
    """The layers with a batched 4-D output (Grad-CAM / LayerCAM candidates), canonical names, in order.

    A torch model learns its layers' shapes on its first forward pass: with ``arrays`` (a batch of
    its inputs) and no shape known yet, one sample is run first."""
    layers = wrapper.layer_info()
    if arrays is not None and layers and all(layer.output_shape is None for layer in layers):
        wrapper.predict([a[:1] for a in arrays])
        layers = wrapper.layer_info()
    return [layer for layer in layers if layer.is_spatial]


def default_cam_layer(wrapper: ModelWrapper, arrays: list[np.ndarray] | None = None) -> str:
    """The deepest spatial feature layer: the last layer with a 4-D output of more than one channel
    whose type is a convolution, activation, normalization, sum or concatenation (else the last 4-D
    layer of more than one channel, else the last 4-D layer). A dense model's 1-channel output map is
    not a feature layer, so a segmentation net gets its last feature map before the head.

    Raises
    ------
    LeapscopeError
        No layer has a known 4-D output: the message says Grad-CAM / LayerCAM do not apply and what does.
    """
    spatial = spatial_layers(wrapper, arrays)
    if not spatial:
        raise LeapscopeError(
            f"explain: Grad-CAM / LayerCAM need a spatial (4-D) layer and this {wrapper.framework} model has none "
            "(`leapscope layers MODEL` lists its layers); methods that apply: saliency, input_x_gradient, "
            "integrated_gradients, smoothgrad, occlusion"
        )
    layout = wrapper.internal_layout
    # a dense model's head (its C-class logits / softmax maps) is its output again, not a feature layer
    head = _output_channels(wrapper, arrays, layout)
    wide = [layer for layer in spatial if (_channels(layer, layout) or head + 1) > head]
    typed = [layer for layer in wide if any(t in layer.type.lower() for t in _CAM_TYPES)]
    return (typed or wide or spatial)[-1].name


def _output_channels(wrapper: ModelWrapper, arrays: list[np.ndarray] | None, layout: str) -> int:
    """Channels of the model's first output when it is a 4-D map (a segmentation head), else 1."""
    spec = wrapper.outputs[0].shape if wrapper.outputs else None
    shape: tuple[Any, ...] | None = tuple(spec) if spec is not None else None
    if shape is None and arrays is not None:  # a torch module declares no output shape
        shape = tuple(wrapper.predict([a[:1] for a in arrays])[0].shape)
    if shape is None or len(shape) != 4:
        return 1
    channels = shape[3] if layout == "NHWC" else shape[1]
    return channels if isinstance(channels, int) and channels > 1 else 1


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (B, h, w) maps to (B, *size) float32 (torch ``interpolate``, ``align_corners=False``)."""
    import torch

    t = torch.from_numpy(maps[:, None].astype(np.float32))
    return torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def spatial_size(x: np.ndarray, channel_axis: int | None) -> tuple[int, int]:
    """(H, W) of a batched 4-D input whose channel axis is ``channel_axis`` (3: NHWC, else NCHW)."""
    if channel_axis == 3:
        return int(x.shape[1]), int(x.shape[2])
    return int(x.shape[2]), int(x.shape[3])


def _layer_cam(
    wrapper: ModelWrapper, x: np.ndarray, scorer: Scorer, index: Any, out_index: int, layer: str, kind: str
) -> np.ndarray:
    """Grad-CAM / LayerCAM of one chunk on the layer's own layout; returns (B, H', W') maps."""
    import torch

    acts, outs = wrapper.activation_and_output(torch.from_numpy(np.ascontiguousarray(x)), layer, out_index)
    if acts.dim() != 4:
        raise LeapscopeError(
            f"explain: layer '{layer}' is not spatial (activation shape {tuple(acts.shape)}); pick a convolutional layer"
        )
    scores = scorer(outs, index).sum()
    (grads,) = torch.autograd.grad(scores, acts)
    channel = 3 if wrapper.internal_layout == "NHWC" else 1
    spatial = (1, 2) if channel == 3 else (2, 3)
    if kind == "gradcam":
        weights = grads.mean(dim=spatial, keepdim=True)
        cam = (weights * acts).sum(dim=channel)
    else:
        cam = (torch.relu(grads) * acts).sum(dim=channel)
    return np.asarray(torch.relu(cam).detach().numpy())


class _Cam(AttributionMethod):
    def attribute(self, request: ExplainRequest) -> Attribution:
        """See :meth:`AttributionMethod.attribute`."""
        import torch

        x, model, channel_axis = request.x, request.model, request.channel_axis
        if request.options.layer:
            name = model.canonical_layer(model.resolve_layers([request.options.layer])[0])
        else:
            name = default_cam_layer(model, request.arrays)
        chunk = request.options.batch_size or chunk_size(x[0].nbytes, 8)
        cams = np.concatenate(
            [
                _layer_cam(
                    model,
                    x[i : i + chunk],
                    request.scorer,
                    torch.arange(i, min(i + chunk, len(x))),
                    request.out_index,
                    name,
                    self.name,
                )
                for i in range(0, len(x), chunk)
            ]
        )
        if x.ndim == 4:  # the map at input resolution, spread evenly over the channels
            axis = channel_axis or 1
            maps = upsample(cams, spatial_size(x, channel_axis))
            values = np.repeat(np.expand_dims(maps, axis), x.shape[axis], axis=axis) / x.shape[axis]
        else:
            values = cams
        return Attribution(
            values.astype(np.float32),
            self.name,
            request.targets,
            layer=name,
            channel_axis=channel_axis,
            extra={"cam": cams, **request.extra},
        )


@register
class GradCam(_Cam):
    """Grad-CAM: channel weights = spatial mean of the score's gradient; ReLU of the weighted sum (B, H', W')."""

    name = "gradcam"
    order = 50


@register
class LayerCam(_Cam):
    """LayerCAM: ReLU of (positive gradients * activations) summed over channels, per position."""

    name = "layercam"
    order = 60
