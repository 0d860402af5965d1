"""``explain``: check a request once, then hand it to the registered method."""

from __future__ import annotations

from typing import Unpack

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
from leapscope.analysis.attribution.losses import LossSpec, loss_label
from leapscope.analysis.attribution.targets import channel_axis, output_index, resolve_targets
from leapscope.exceptions import LeapscopeError, ModelError
from leapscope.models import ModelWrapper

__all__ = ["explain"]


def explain(
    model: ModelWrapper,
    inputs: np.ndarray | list[np.ndarray],
    *,
    method: str = "integrated_gradients",
    target: int | str | list[int] | None = None,
    labels: list[str] | None = None,
    ground_truth: np.ndarray | None = None,
    loss: LossSpec = "cross_entropy",
    input_index: int = 0,
    output: int | str | None = None,
    **settings: Unpack[ExplainSettings],
) -> Attribution:
    """Explain a batch of predictions.

    Parameters
    ----------
    model : ModelWrapper
    inputs : ndarray (B, ...) or a list with one batched array per model input
    method : one of :data:`~leapscope.analysis.attribution.METHODS`
    target : None (the predicted class), a class index, a label name, one index per sample, or
        ``"loss"``: what raised the loss against ``ground_truth``
    labels : list of str, optional; class names, for label-name targets
    ground_truth : ndarray (B, ...), for ``target="loss"``
    loss : str or callable, default "cross_entropy"
        A built-in loss name (differentiable here, see :data:`~leapscope.analysis.attribution.TORCH_LOSSES`)
        or a numpy function ``(gt, prediction) -> (B,)``, which only occlusion can explain.
    input_index : int; which model input to explain (others are held fixed)
    output : int or str, optional; which model output (default the first)
    **settings
        Per-method knobs, see :class:`~leapscope.analysis.attribution.ExplainOptions`: ``layer``,
        ``baseline``, ``batch_size``, ``steps``, ``noise_samples``, ``noise_level``, ``window``, ``seed``.

    Returns
    -------
    Attribution : ``values`` in the explained input's own shape and layout, (B, ...) float32

    Raises
    ------
    LeapscopeError
        Unknown method, target or layer; ``ModelError`` for a gradient method on a
        model without a differentiable view (use ``occlusion``).
    """
    chosen = get_method(method)
    options = ExplainOptions(**settings)
    arrays = model.check_inputs([inputs] if isinstance(inputs, np.ndarray) else list(inputs))
    x = arrays[input_index]
    out_index = output_index(model, output)
    explain_loss = isinstance(target, str) and target == "loss"
    if explain_loss:
        _check_loss_target(chosen, ground_truth, loss)
    targets = [-1] * len(x) if explain_loss else resolve_targets(model, arrays, target, out_index, labels)
    scorer = Scorer(targets, loss if explain_loss else None, ground_truth if explain_loss else None)  # type: ignore[arg-type]
    baseline = np.broadcast_to(
        np.asarray(0.0 if options.baseline is None else options.baseline, dtype=x.dtype), x.shape
    ).copy()
    request = ExplainRequest(
        model,
        arrays,
        input_index,
        out_index,
        targets,
        scorer,
        baseline,
        channel_axis(model, input_index, x),
        options,
        loss=loss if explain_loss else None,
        ground_truth=ground_truth if explain_loss else None,
        extra={"target": "loss", "loss": loss_label(loss)} if explain_loss else {},
    )
    if chosen.needs_gradients:
        _check_gradients(chosen, request)
    return chosen.attribute(request)


def _check_loss_target(method: AttributionMethod, ground_truth: np.ndarray | None, loss: LossSpec) -> None:
    """``target="loss"`` needs the ground truths, and a built-in loss unless the method is black-box."""
    if ground_truth is None:
        raise LeapscopeError("explain: target='loss' needs ground_truth= (the batch's encoded ground truths)")
    if not isinstance(loss, str) and method.needs_gradients:
        raise LeapscopeError("explain: a custom numpy loss has no gradient; use method='occlusion' for target='loss'")


def _check_gradients(method: AttributionMethod, request: ExplainRequest) -> None:
    """What every gradient method needs: a differentiable view, one input, float values."""
    model = request.model
    if not model.differentiable:
        raise ModelError(
            f"explain: '{method.name}' needs gradients, but this model has no differentiable view "
            f"({model.differentiable_reason}); fix: use method='occlusion'"
        )
    if len(request.arrays) > 1:
        raise LeapscopeError(
            "explain: gradient methods explain single-input models; use method='occlusion' for several inputs"
        )
    if request.x.dtype.kind != "f":
        raise LeapscopeError(
            f"explain: input '{model.inputs[request.input_index].name}' holds {request.x.dtype} values (e.g. token ids), which "
            "have no gradient; use method='occlusion'"
        )
