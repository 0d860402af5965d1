"""``explain``: check a request once, resolve what is explained, then hand it to the registered method."""

from __future__ import annotations

from typing import Any, Unpack

import numpy as np

from leapscope.analysis.attribution.base import (
    Attribution,
    AttributionMethod,
    ExplainOptions,
    ExplainRequest,
    ExplainSettings,
    Scorer,
    get_method,
)
from leapscope.analysis.attribution.losses import (
    TORCH_LOSSES,
    LossSpec,
    differentiable_loss,
    loss_label,
    numpy_loss_values,
)
from leapscope.analysis.attribution.targets import (
    ResolvedTargets,
    channel_axis,
    is_dense,
    output_index,
    parse_target,
    resolve_targets,
)
from leapscope.exceptions import LeapscopeError, ModelError
from leapscope.models import ModelWrapper

__all__ = ["LossGradientError", "explain", "method_problem"]


class LossGradientError(LeapscopeError):
    """A gradient method asked for a custom loss whose code cannot be differentiated on torch tensors.

    ``method``, ``loss`` and ``reason`` (the operation that failed and the line of the loss where it did) are
    kept; the message offers occlusion in API words (``method=occlusion``); :meth:`for_cli` in the CLI's
    (``--method occlusion``).
    """

    def __init__(self, method: str, loss: str, reason: str):
        self.method, self.loss, self.reason = method, loss, reason
        super().__init__(self._text("method=occlusion"))

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (the server's explanation workers)
        return (type(self), (self.method, self.loss, self.reason))

    def _text(self, occlusion: str) -> str:
        return (
            f"explain: '{self.method}' needs the gradient of loss '{self.loss}', and its code cannot be "
            f"differentiated on torch tensors: {self.reason}. Methods that apply: occlusion (fix: {occlusion}; it "
            "calls the loss as it is), or write that step with numpy functions, array methods and arithmetic "
            "(np.sum/np.mean/np.log/np.clip/np.where, .astype, .reshape, np.asarray; no float(), .item(), scipy or "
            "python loops over values)"
        )

    def for_cli(self) -> str:
        """The message with the CLI's flag (``--method occlusion``)."""
        return self._text("--method occlusion")


def explain(
    model: ModelWrapper,
    inputs: np.ndarray | list[np.ndarray],
    *,
    method: str = "integrated_gradients",
    target: Any = None,
    labels: list[str] | None = None,
    ground_truth: np.ndarray | None = None,
    loss: LossSpec = "cross_entropy",
    input_index: int = 0,
    output: int | str | None = None,
    region: Any = None,
    region_name: str | None = None,
    output_channel_axis: int | None = None,
    kind: str | None = None,
    **settings: Unpack[ExplainSettings],
) -> Attribution:
    """Explain a batch of predictions.

    Parameters
    ----------
    model : ModelWrapper
    inputs : ndarray (B, ...) or a list with one batched array per model input
    method : one of :data:`~leapscope.analysis.attribution.METHODS`
    target : what is explained (see :mod:`leapscope.analysis.attribution.targets`)
        ``None``: the predicted class of a class output, or for a dense output the sum of its main
        class channel over the predicted-positive positions; a class / channel index or label name;
        one index per sample; ``"element:i,j,..."`` (one output value); ``"loss"``: what raised
        ``loss`` against ``ground_truth``.
    labels : list of str, optional; class (channel) names
    ground_truth : ndarray (B, ...), for ``target="loss"``
    loss : str or callable, default "cross_entropy"
        A built-in loss name, or a function ``(gt, prediction) -> (B,)`` called with the prediction
        in its real (B, ...) shape. Gradient methods need it differentiable: a built-in, or a
        function that runs unchanged on torch tensors (checked against its numpy values); otherwise
        only occlusion explains it, and asking a gradient method raises.
    input_index : int; which model input to explain (others are held fixed)
    output : int or str, optional; which model output (default the first)
    region : dense outputs only: ``"positive"`` (default), ``"all"``, a
        :class:`~leapscope.analysis.attribution.targets.Box` or an (H, W) / (B, H, W) mask
    region_name : how a mask region is named in ``Attribution.descriptions``
    output_channel_axis : the batched class axis of a dense output (default: from labels / layout)
    kind : the output's prediction kind (``"dense"``, ``"class"``...); default: dense when it has more than
        one axis per sample
    **settings
        Per-method knobs, see :class:`~leapscope.analysis.attribution.ExplainOptions`: ``layer``,
        ``baseline``, ``batch_size``, ``steps``, ``noise_samples``, ``noise_level``, ``window``, ``seed``.

    Returns
    -------
    Attribution : ``values`` in the explained input's own shape and layout, (B, ...) float32;
        ``descriptions`` says in words what was explained for each sample.

    Raises
    ------
    LeapscopeError
        Unknown method, target, region or layer; a method that cannot apply (the message says why and
        which methods can); ``ModelError`` for a gradient method on a model without a differentiable view.
        Nothing falls back silently to another method.
    """
    chosen = get_method(method)
    options = ExplainOptions(**settings)
    arrays = model.check_inputs([inputs] if isinstance(inputs, np.ndarray) else list(inputs))
    x = arrays[input_index]
    out_index = output_index(model, output)
    if chosen.needs_gradients:
        _check_gradients(chosen, model, arrays, input_index)
    parsed = parse_target(target) if not isinstance(target, list | tuple) else None
    prediction = np.asarray(model.predict(arrays)[out_index])
    if parsed is not None and parsed.kind == "loss":
        if region is not None:
            raise LeapscopeError("explain: a region does not apply to a loss target (the loss covers the whole output)")
        resolved, scorer, extra = _loss_target(chosen, loss, ground_truth, prediction)
    else:
        resolved = resolve_targets(
            model,
            arrays,
            target,
            out_index,
            labels,
            region=region,
            region_name=region_name,
            output_channel_axis=output_channel_axis,
            prediction=prediction,
            kind=kind,
        )
        scorer, extra = Scorer(resolved.weights), {}
    baseline = np.broadcast_to(
        np.asarray(0.0 if options.baseline is None else options.baseline, dtype=x.dtype), x.shape
    ).copy()
    request = ExplainRequest(
        model,
        arrays,
        input_index,
        out_index,
        resolved.classes,
        scorer,
        baseline,
        channel_axis(model, input_index, x),
        options,
        loss=loss if extra else None,
        ground_truth=ground_truth if extra else None,
        extra=extra,
    )
    result = chosen.attribute(request)
    result.descriptions = list(resolved.descriptions)
    result.weights = resolved.weights
    return result


def _loss_target(
    method: AttributionMethod, loss: LossSpec, ground_truth: np.ndarray | None, prediction: np.ndarray
) -> tuple[ResolvedTargets, Scorer, dict[str, Any]]:
    """The scorer of a loss target: a built-in formula, or the user's function (torch-callable, or occlusion)."""
    if ground_truth is None:
        raise LeapscopeError("explain: target='loss' needs ground_truth= (the batch's encoded ground truths)")
    gt = np.asarray(ground_truth, dtype=np.float32)
    if len(gt) != len(prediction):
        raise LeapscopeError(f"explain: {len(gt)} ground truths for {len(prediction)} samples")
    name = loss_label(loss)
    extra: dict[str, Any] = {"target": "loss", "loss": name}
    words = [f"loss '{name}' against the ground truth"] * len(prediction)
    resolved = ResolvedTargets([-1] * len(prediction), None, words, is_dense(prediction))
    if isinstance(loss, str):
        if loss not in TORCH_LOSSES:
            raise LeapscopeError(f"explain: unknown built-in loss {loss!r}; built-ins: {', '.join(TORCH_LOSSES)}")
        return resolved, Scorer(None, loss, gt), extra
    if not method.needs_gradients:  # occlusion calls the numpy function itself, on numpy arrays
        numpy_loss_values(loss, gt, prediction)  # fails early, with the loss's name, if it cannot run
        return resolved, Scorer(None, None, gt), extra
    torch_fn, reason = differentiable_loss(loss, gt, prediction)
    if torch_fn is None:
        raise LossGradientError(method.name, name, reason or "")
    extra["loss_gradient"] = "the loss's own code on torch tensors"
    return resolved, Scorer(None, torch_fn, gt), extra


def method_problem(
    method: AttributionMethod, model: ModelWrapper, arrays: list[np.ndarray], input_index: int
) -> str | None:
    """Why ``method`` cannot explain input ``input_index`` of this model (``None`` when it can)."""
    if not method.needs_gradients:
        return None
    if not model.differentiable:
        return f"'{method.name}' needs gradients, but this model has no differentiable view ({model.differentiable_reason})"
    if len(arrays) > 1:
        return f"'{method.name}' explains single-input models only (this one has {len(arrays)} inputs)"
    if arrays[input_index].dtype.kind != "f":
        spec = model.inputs[input_index].name
        return f"input '{spec}' holds {arrays[input_index].dtype} values (e.g. token ids), which have no gradient"
    if method.name in ("gradcam", "layercam") and not _has_spatial_layer(model, arrays):
        return f"'{method.name}' needs a spatial (4-D) layer and this model has none"
    return None


def _has_spatial_layer(model: ModelWrapper, arrays: list[np.ndarray]) -> bool:
    from leapscope.analysis.attribution.cam import spatial_layers

    return bool(spatial_layers(model, arrays))


def _check_gradients(method: AttributionMethod, model: ModelWrapper, arrays: list[np.ndarray], index: int) -> None:
    """What every gradient method needs: a differentiable view, one input, float values."""
    if not model.differentiable:
        raise ModelError(
            f"explain: '{method.name}' needs gradients, but this model has no differentiable view "
            f"({model.differentiable_reason}); fix: use method='occlusion'"
        )
    if len(arrays) > 1:
        raise LeapscopeError(
            "explain: gradient methods explain single-input models; use method='occlusion' for several inputs"
        )
    if arrays[index].dtype.kind != "f":
        raise LeapscopeError(
            f"explain: input '{model.inputs[index].name}' holds {arrays[index].dtype} values (e.g. token ids), which "
            "have no gradient; use method='occlusion'"
        )
