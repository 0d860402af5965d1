"""``occlusion``: black-box sliding-window occlusion (Zeiler & Fergus 2014; Captum ``Occlusion``)
run through ``ModelWrapper.predict``, so it works on ONNX models onnx2torch cannot convert,
on several inputs, on integer inputs (token ids) and on custom numpy losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.analysis.attribution.base import Attribution, AttributionMethod, ExplainRequest, register
from leapscope.analysis.attribution.cam import spatial_size
from leapscope.analysis.attribution.losses import numpy_loss_values

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
    """The perturbed-batch forward Captum calls: (B',) explained scores (or losses) of perturbed copies.

    ``index`` (an additional forward argument, expanded by Captum exactly like the inputs) gives the
    sample each perturbed copy belongs to, so other inputs, ground truths and target weights follow it.
    """
    import torch

    x, position, inputs, loss, ground_truth = (
        request.x,
        request.input_index,
        request.arrays,
        request.loss,
        request.ground_truth,
    )

    def forward(t: Any, index: Any) -> Any:
        batch = t.detach().numpy().astype(x.dtype)
        rows = index.numpy()
        arrays = [batch if i == position else a[rows] for i, a in enumerate(inputs)]
        out = request.model.predict(arrays)[request.out_index]
        if loss is not None and not isinstance(loss, str):  # a numpy loss, called with the real shapes
            return torch.from_numpy(numpy_loss_values(loss, ground_truth[rows], out))  # type: ignore[index]
        return request.scorer(torch.from_numpy(out.astype(np.float32)), index)

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
        attr = CaptumOcclusion(_forward(request)).attribute(
            torch.from_numpy(x.astype(np.float32)),
            sliding_window_shapes=shape,
            strides=strides,
            baselines=baseline,
            additional_forward_args=(torch.arange(len(x)),),
            perturbations_per_eval=16,
        )
        values = np.asarray(attr.numpy(), dtype=np.float32)
        return Attribution(values, self.name, request.targets, channel_axis=request.channel_axis, extra=request.extra)
