"""``occlusion``: black-box sliding-window occlusion (Zeiler & Fergus 2014; Captum ``Occlusion``)
run through ``ModelWrapper.predict``, so it works on ONNX models onnx2torch cannot convert,
on several inputs, on integer inputs (token ids) and on custom numpy losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.analysis.attribution.base import Attribution, AttributionMethod, ExplainRequest, register
from leapscope.analysis.attribution.cam import spatial_size
from leapscope.analysis.attribution.losses import torch_loss

__all__ = ["Occlusion", "window_shapes"]


def window_shapes(
    x: np.ndarray, channel_axis: int | None, window: int | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Captum's ``sliding_window_shapes`` and ``strides`` for a batched input: square windows over
    H, W of a 4-D input (all channels at once; default side an eighth of the shorter side), windows
    over the first axis of other inputs (default a 32nd of it); strides are half a window."""
    if x.ndim == 4:
        h, w = spatial_size(x, channel_axis)
        size = window or max(1, min(h, w) // 8)
        if channel_axis == 3:
            return (size, size, x.shape[3]), (max(1, size // 2), max(1, size // 2), x.shape[3])
        return (x.shape[1], size, size), (x.shape[1], max(1, size // 2), max(1, size // 2))
    size = window or max(1, x.shape[1] // 32)
    return (size, *x.shape[2:]), (max(1, size // 2), *x.shape[2:])


def _forward(request: ExplainRequest) -> Any:
    """The perturbed-batch forward Captum calls: class scores (B', K), or (B',) losses."""
    import torch

    x, index, inputs, loss, ground_truth = (
        request.x,
        request.input_index,
        request.arrays,
        request.loss,
        request.ground_truth,
    )

    def forward(t: Any) -> Any:
        batch = t.detach().numpy().astype(x.dtype)
        # Captum stacks several perturbations per sample; repeat the other inputs to match
        arrays = [batch if i == index else np.repeat(a, len(batch) // len(a), axis=0) for i, a in enumerate(inputs)]
        out = request.model.predict(arrays)[request.out_index].reshape(len(batch), -1)
        if loss is None:
            return torch.from_numpy(out.astype(np.float32))
        # the loss of each perturbed copy against its sample's ground truth
        gt = np.repeat(ground_truth, len(batch) // len(ground_truth), axis=0)  # type: ignore[arg-type]
        if isinstance(loss, str):
            return torch_loss(loss, torch.from_numpy(out.astype(np.float32)), torch.from_numpy(gt))
        return torch.from_numpy(np.asarray(loss(gt, out), np.float32))

    return forward


@register
class Occlusion(AttributionMethod):
    """The drop of the score (or rise of the loss) when a window is set to the baseline, spread over the window."""

    name = "occlusion"
    order = 70
    needs_gradients = False

    def attribute(self, request: ExplainRequest) -> Attribution:
        """See :meth:`AttributionMethod.attribute`."""
        import torch
        from captum.attr import Occlusion as CaptumOcclusion

        x = request.x
        shape, strides = window_shapes(x, request.channel_axis, request.options.window)
        baseline = float(np.asarray(request.baseline).flat[0])
        target = None if request.loss is not None else torch.tensor(request.targets)
        attr = CaptumOcclusion(_forward(request)).attribute(
            torch.from_numpy(x.astype(np.float32)),
            sliding_window_shapes=shape,
            strides=strides,
            baselines=baseline,
            target=target,
            perturbations_per_eval=16,
        )
        values = np.asarray(attr.numpy(), dtype=np.float32)
        return Attribution(values, self.name, request.targets, channel_axis=request.channel_axis, extra=request.extra)
