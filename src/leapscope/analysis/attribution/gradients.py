"""Gradient methods on the model's differentiable view (``ModelWrapper.torch_module``).

- ``saliency``: |d output / d input| (Simonyan et al. 2014; Captum ``Saliency``).
- ``input_x_gradient``: input * gradient (Shrikumar et al. 2016; Captum ``InputXGradient``).
- ``smoothgrad``: absolute gradients averaged over noisy copies (Smilkov et al. 2017; Captum
  ``NoiseTunnel``), noise std 15 % of the input range.
- ``integrated_gradients``: Sundararajan et al. 2017, Gauss-Legendre quadrature like
  Captum's default, implemented here: interpolation steps are chunked across samples
  and steps so peak memory is bounded, f(x) and f(baseline) come from the same
  batch, and the completeness error |sum(attr) - (f(x) - f(b))| / |f(x) - f(b)| is reported.
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
    forward_scores,
    register,
)

__all__ = ["InputXGradient", "IntegratedGradients", "Saliency", "SmoothGrad", "integrated_gradients"]


class _CaptumMethod(AttributionMethod):
    """A Captum gradient method run over chunks of samples."""

    def copies(self, request: ExplainRequest) -> int:
        """Forward/backward copies of each sample in flight (sizes the chunks)."""
        return 2

    def attribute_chunk(self, xt: Any, module: Any, index: Any, request: ExplainRequest) -> Any:
        """Attributions of one chunk ``xt`` (a tensor requiring grad) whose samples are ``index``."""
        raise NotImplementedError

    def attribute(self, request: ExplainRequest) -> Attribution:
        """See :meth:`AttributionMethod.attribute`."""
        import torch

        x, module = request.x, request.model.torch_module()
        chunk = request.options.batch_size or chunk_size(x[0].nbytes, self.copies(request))
        parts = []
        for i in range(0, len(x), chunk):
            xt = torch.from_numpy(np.ascontiguousarray(x[i : i + chunk])).requires_grad_(True)
            index = torch.arange(i, min(i + chunk, len(x)))
            parts.append(self.attribute_chunk(xt, module, index, request).detach().numpy())
        values = np.concatenate(parts).astype(np.float32)
        return Attribution(values, self.name, request.targets, channel_axis=request.channel_axis, extra=request.extra)


@register
class Saliency(_CaptumMethod):
    """|d score / d input|."""

    name = "saliency"
    order = 10

    def attribute_chunk(self, xt: Any, module: Any, index: Any, request: ExplainRequest) -> Any:
        """Attributions of one chunk (see :meth:`_CaptumMethod.attribute_chunk`)."""
        from captum.attr import Saliency as CaptumSaliency

        return CaptumSaliency(forward_scores(module, request.out_index, request.scorer, index)).attribute(xt, abs=True)


@register
class InputXGradient(_CaptumMethod):
    """input * d score / d input."""

    name = "input_x_gradient"
    order = 20

    def attribute_chunk(self, xt: Any, module: Any, index: Any, request: ExplainRequest) -> Any:
        """Attributions of one chunk (see :meth:`_CaptumMethod.attribute_chunk`)."""
        from captum.attr import InputXGradient as CaptumInputXGradient

        return CaptumInputXGradient(forward_scores(module, request.out_index, request.scorer, index)).attribute(xt)


@register
class IntegratedGradients(AttributionMethod):
    """(x - baseline) * the path integral of the gradient; ``extra["steps"]`` and a completeness error."""

    name = "integrated_gradients"
    order = 30

    def attribute(self, request: ExplainRequest) -> Attribution:
        """See :meth:`AttributionMethod.attribute`."""
        steps = request.options.steps
        values, error = integrated_gradients(
            request.model.torch_module(),
            request.x,
            request.baseline,
            request.scorer,
            request.out_index,
            steps,
            request.options.batch_size,
        )
        return Attribution(
            values.astype(np.float32),
            self.name,
            request.targets,
            completeness_error=error,
            channel_axis=request.channel_axis,
            extra={"steps": steps, **request.extra},
        )


@register
class SmoothGrad(_CaptumMethod):
    """|gradient| averaged over ``noise_samples`` noisy copies (std ``noise_level`` x the input range)."""

    name = "smoothgrad"
    order = 40

    def copies(self, request: ExplainRequest) -> int:
        """Two per noisy copy."""
        return 2 * request.options.noise_samples

    def attribute_chunk(self, xt: Any, module: Any, index: Any, request: ExplainRequest) -> Any:
        """Attributions of one chunk (see :meth:`_CaptumMethod.attribute_chunk`)."""
        import torch
        from captum.attr import NoiseTunnel
        from captum.attr import Saliency as CaptumSaliency

        opts, x = request.options, request.x
        torch.manual_seed(opts.seed)
        spread = float(x.max() - x.min()) or 1.0
        local = forward_scores(module, request.out_index, request.scorer, index.repeat(opts.noise_samples))
        return NoiseTunnel(CaptumSaliency(local)).attribute(
            xt,
            nt_type="smoothgrad",
            nt_samples=opts.noise_samples,
            nt_samples_batch_size=opts.noise_samples,
            stdevs=opts.noise_level * spread,
            abs=True,
        )


def integrated_gradients(
    module: Any, x: np.ndarray, baseline: np.ndarray, scorer: Scorer, out_index: int, steps: int, batch_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Chunked IG over (sample, step) pairs with Gauss-Legendre nodes and weights on [0, 1].

    Returns the (B, ...) attributions and the (B,) completeness errors.
    """
    import torch

    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
    w = torch.tensor(weights / 2, dtype=torch.float32)
    xt, bt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(baseline))
    n = len(x)
    pairs = n * steps
    chunk = batch_size or chunk_size(x[0].nbytes, 3)
    grads_sum = torch.zeros_like(xt)
    sample_of = torch.arange(n).repeat_interleave(steps)
    step_of = torch.arange(steps).repeat(n)
    for start in range(0, pairs, chunk):
        s, k = sample_of[start : start + chunk], step_of[start : start + chunk]
        a = alphas[k].view(-1, *([1] * (xt.dim() - 1)))
        points = (bt[s] + a * (xt[s] - bt[s])).requires_grad_(True)
        scores = forward_scores(module, out_index, scorer, s)(points)
        (grad,) = torch.autograd.grad(scores.sum(), points)
        grads_sum.index_add_(0, s, grad * w[k].view(-1, *([1] * (xt.dim() - 1))))
    attributions = ((xt - bt) * grads_sum).detach().numpy()
    with torch.no_grad():
        both = torch.arange(n).repeat(2)
        ends = forward_scores(module, out_index, scorer, both)(torch.cat([xt, bt]))
    delta = (ends[:n] - ends[n:]).numpy()
    error = np.abs(attributions.reshape(n, -1).sum(1) - delta) / np.maximum(np.abs(delta), 1e-6)
    return attributions, error
