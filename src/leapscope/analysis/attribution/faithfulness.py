"""How faithful an attribution is to the model.

- :func:`deletion_auc` / :func:`insertion_auc`: the target probability while the
  most-attributed features are removed from (or inserted into) a baseline input
  (Petsiuk et al. 2018).
- :func:`randomization_check`: the model-parameter randomization test (Adebayo et al. 2018).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from leapscope.analysis.attribution.base import Attribution
from leapscope.analysis.attribution.targets import output_index
from leapscope.exceptions import LeapscopeError
from leapscope.models import LayerInfo, ModelWrapper

__all__ = ["deletion_auc", "insertion_auc", "randomization_check"]


def _curve(
    model: ModelWrapper,
    x: np.ndarray,
    attribution: Attribution,
    *,
    steps: int,
    insert: bool,
    baseline: float,
    out_index: int,
) -> np.ndarray:
    """The explained score (target probability; a dense target's weighted sum) after removing (or inserting)
    features in order of attribution; (B, steps + 1)."""
    n = len(x)
    heat = attribution.heatmap().reshape(n, -1)
    order = np.argsort(-heat, axis=1)
    features = heat.shape[1]
    channel_axis = attribution.channel_axis if attribution.channel_axis is not None and x.ndim == 4 else None
    moved = (np.moveaxis(x, channel_axis, -1) if channel_axis is not None else x).reshape(n, features, -1)
    curves = np.zeros((n, steps + 1), np.float32)
    targets = np.asarray(attribution.target)
    weights = None if attribution.weights is None else attribution.weights.reshape(n, -1)
    if weights is None and (targets < 0).any():
        raise LeapscopeError(
            "deletion/insertion curves follow an explained score; this attribution explains a loss (target -1); "
            "fix: explain a class or channel target"
        )
    for step in range(steps + 1):
        k = round(features * step / steps)
        mask = np.zeros((n, features), bool)
        np.put_along_axis(mask, order[:, :k], True, axis=1)
        current = np.where(mask[..., None], moved, baseline) if insert else np.where(mask[..., None], baseline, moved)
        if channel_axis is not None:
            current = np.moveaxis(current.reshape(np.moveaxis(x, channel_axis, -1).shape), -1, channel_axis)
        else:
            current = current.reshape(x.shape)
        out = model.predict([current.astype(x.dtype)])[out_index].reshape(n, -1)
        if weights is not None:  # the explained score itself: a class score, a channel's sum over a region
            curves[:, step] = (out * weights).sum(1)
        else:
            curves[:, step] = out[np.arange(n), targets]
    return curves


def deletion_auc(
    model: ModelWrapper,
    inputs: np.ndarray,
    attribution: Attribution,
    *,
    steps: int = 64,
    baseline: float = 0.0,
    output: int | str | None = None,
) -> np.ndarray:
    """Area under the target-probability curve while the most-attributed features are set to ``baseline``
    (Petsiuk et al. 2018); lower is more faithful. Per sample, (B,), trapezoid on [0, 1]."""
    curves = _curve(
        model,
        np.asarray(inputs),
        attribution,
        steps=steps,
        insert=False,
        baseline=baseline,
        out_index=output_index(model, output),
    )
    return np.asarray(np.trapezoid(curves, dx=1.0 / steps, axis=1))


def insertion_auc(
    model: ModelWrapper,
    inputs: np.ndarray,
    attribution: Attribution,
    *,
    steps: int = 64,
    baseline: float = 0.0,
    output: int | str | None = None,
) -> np.ndarray:
    """Area under the target-probability curve while the most-attributed features are inserted into a
    ``baseline`` input; higher is more faithful. Per sample, (B,)."""
    curves = _curve(
        model,
        np.asarray(inputs),
        attribution,
        steps=steps,
        insert=True,
        baseline=baseline,
        out_index=output_index(model, output),
    )
    return np.asarray(np.trapezoid(curves, dx=1.0 / steps, axis=1))


def randomization_check(
    model: ModelWrapper, inputs: np.ndarray, *, method: str, seed: int = 0, **options: Any
) -> float:
    """Model-parameter randomization test (Adebayo et al. 2018).

    Re-initialises every weight of the differentiable view (normal noise with each
    tensor's own std), recomputes the attributions and returns the mean Spearman
    rank correlation of |attribution| before and after. A faithful method gives a
    low value (the explanation depends on what the model learned). ``options`` go to
    :func:`~leapscope.analysis.attribution.explain`.
    """
    import torch
    from scipy.stats import spearmanr

    from leapscope.analysis.attribution._explain import explain

    before = explain(model, inputs, method=method, **options)
    randomized = _RandomizedView(model, copy.deepcopy(model.torch_module()), seed)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        for p in randomized.module.parameters():
            std = float(p.std()) if p.numel() > 1 else 1.0
            p.copy_(torch.randn(p.shape, generator=gen) * (std or 0.1))
    after = explain(
        randomized, inputs, method=method, target=before.target, **{k: v for k, v in options.items() if k != "target"}
    )
    a, b = (
        np.abs(before.heatmap()).reshape(len(before.values), -1),
        np.abs(after.heatmap()).reshape(len(after.values), -1),
    )
    scores = [spearmanr(a[i], b[i]).statistic for i in range(len(a))]
    return float(np.nanmean(scores))


class _RandomizedView(ModelWrapper):
    """A wrapper whose forward is a re-initialised copy of another wrapper's torch view.

    It inherits the generic :meth:`ModelWrapper.activation_and_output` (hooks on the torch
    view), whatever framework the original model is.
    """

    def __init__(self, base: ModelWrapper, module: Any, seed: int):
        self.base, self.module = base, module.eval()
        self.framework = base.framework  # type: ignore[misc]
        self.inputs, self.outputs = base.inputs, base.outputs
        self.internal_layout = base.internal_layout
        self.seed = seed

    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            out = self.module(*[torch.from_numpy(a) for a in inputs])
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        return [o.numpy() for o in outs]

    def _forward_with(
        self, inputs: list[np.ndarray], layers: list[str]
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        return self._predict(inputs), {}

    def layers(self) -> list[LayerInfo]:
        return self.base.layers()

    def default_latent_layer(self) -> str:
        return self.base.default_latent_layer()

    def torch_module(self) -> Any:
        return self.module
