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
from leapscope.models import ModelWrapper

__all__ = ["GradCam", "LayerCam", "default_cam_layer", "spatial_size", "upsample"]


def default_cam_layer(wrapper: ModelWrapper) -> str:
    """The last layer whose output is spatial (4-D): a convolution or what follows it.

    Raises
    ------
    LeapscopeError
        No layer has a known 4-D output (pass ``layer=``).
    """
    spatial = [layer for layer in wrapper.layers() if layer.output_shape is not None and len(layer.output_shape) == 4]
    if not spatial:
        raise LeapscopeError("explain: the model has no layer with a known 4-D output; pass layer=")
    convs = [layer for layer in spatial if "conv" in layer.type.lower() or layer.type.lower() in ("relu", "activation")]
    return (convs or spatial)[-1].name


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
        name = request.options.layer or default_cam_layer(model)
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
