"""Sample analysis: explanation heatmaps for any model the model layer loads.

One call for every method::

    explain(model, inputs, *, method, target=None, labels=None, ground_truth=None, loss=..., layer=None, ...)

Where each concept lives:

- :mod:`.base`: the :class:`Attribution` result, the method registry (:func:`register`),
  the :class:`ExplainRequest` a method receives, chunk sizes, what is scored per sample.
- :mod:`.targets`: which output and which scalar per sample is explained: a class score, a dense
  output's channel summed over a region (predicted-positive pixels, all, a mask, a box), one element;
  every one a fixed weighting ``sum(W * output)``.
- :mod:`.gradients`: ``saliency``, ``input_x_gradient``, ``smoothgrad`` (Captum) and
  ``integrated_gradients`` (chunked Gauss-Legendre, with its completeness error).
- :mod:`.cam`: ``gradcam`` / ``layercam`` on any spatial layer, in the layer's own layout.
- :mod:`.occlusion`: black-box sliding-window occlusion through ``ModelWrapper.predict``.
- :mod:`.losses`: differentiable torch versions of the SDK's built-in losses (``target="loss"``),
  derived from the SDK's one formula per loss.
- :mod:`.faithfulness`: deletion / insertion AUC and the parameter-randomization check.

Attributions come back in the input's own layout and shape (B, ...). A new method is a
subclass of :class:`AttributionMethod` decorated with :func:`register`, in a module
imported below.
"""

from __future__ import annotations

# the method modules register themselves on import, in this order (the order of METHODS)
from leapscope.analysis.attribution import cam, gradients, occlusion  # noqa: F401
from leapscope.analysis.attribution._explain import LossGradientError, explain, method_problem
from leapscope.analysis.attribution.base import (
    Attribution,
    AttributionMethod,
    ExplainOptions,
    ExplainRequest,
    get_method,
    method_names,
    register,
)
from leapscope.analysis.attribution.cam import default_cam_layer, spatial_layers, upsample
from leapscope.analysis.attribution.faithfulness import deletion_auc, insertion_auc, randomization_check
from leapscope.analysis.attribution.losses import (
    BUILTIN_LOSSES,
    TORCH_LOSSES,
    builtin_loss_name,
    differentiable_loss,
    torch_loss,
)
from leapscope.analysis.attribution.targets import REGIONS, Box, Target, dense_channel_axis, parse_box, parse_target

__all__ = [
    "BUILTIN_LOSSES",
    "METHODS",
    "REGIONS",
    "TORCH_LOSSES",
    "Attribution",
    "AttributionMethod",
    "Box",
    "LossGradientError",
    "ExplainOptions",
    "ExplainRequest",
    "builtin_loss_name",
    "default_cam_layer",
    "dense_channel_axis",
    "differentiable_loss",
    "deletion_auc",
    "explain",
    "insertion_auc",
    "method_problem",
    "parse_box",
    "parse_target",
    "randomization_check",
    "register",
    "spatial_layers",
    "Target",
    "torch_loss",
    "upsample",
]

#: the registered method names
METHODS: tuple[str, ...] = method_names()
#: the methods that need a differentiable view
GRADIENT_METHODS = frozenset(name for name in METHODS if get_method(name).needs_gradients)
