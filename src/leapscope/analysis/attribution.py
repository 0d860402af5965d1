"""Sample analysis: explanation heatmaps for any model the model layer loads.

One signature for every method::

    explain(model_or_run, inputs, *, method, target=None, layer=None, baseline=None, batch_size=None)

Methods and sources:

- ``saliency``: |d output / d input| (Simonyan et al. 2014; Captum ``Saliency``).
- ``input_x_gradient``: input * gradient (Shrikumar et al. 2016; Captum ``InputXGradient``).
- ``integrated_gradients``: Sundararajan et al. 2017, Gauss-Legendre quadrature like
  Captum's default, implemented here: interpolation steps are chunked across samples
  and steps so peak memory is bounded, f(x) and f(baseline) come from the same
  batch, and the completeness error |sum(attr) - (f(x) - f(b))| / |f(x) - f(b)| is reported.
- ``smoothgrad``: absolute gradients averaged over noisy copies (Smilkov et al. 2017; Captum
  ``NoiseTunnel``), noise std 15 % of the input range.
- ``gradcam`` / ``layercam``: Selvaraju et al. 2017 / Jiang et al. 2021 on any
  spatial layer, pooling over the layer's channel axis in its own layout (NCHW for
  torch/ONNX, NHWC for Keras; Captum's ``LayerGradCam`` assumes NCHW).
- ``occlusion``: black-box sliding-window occlusion (Zeiler & Fergus 2014; Captum
  ``Occlusion``) run through ``ModelWrapper.predict``, so it works on ONNX models
  onnx2torch cannot convert.

Attributions come back in the input's own layout and shape (B, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from leapscope.exceptions import LeapscopeError, ModelError
from leapscope.models import ModelWrapper

__all__ = ["METHODS", "TORCH_LOSSES", "Attribution", "deletion_auc", "explain", "insertion_auc", "randomization_check"]

Method = Literal["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "layercam", "occlusion"]
METHODS: tuple[str, ...] = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "layercam", "occlusion")
GRADIENT_METHODS = {"saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "gradcam", "layercam"}
#: bytes of interpolated inputs per forward/backward chunk (integrated gradients, smoothgrad)
CHUNK_BYTES = 16 * 2**20
#: at most this many interpolated points per chunk: activations, not inputs, dominate memory,
#: and chunks of a few hundred points also run faster on CPU caches (benchmarks/attribution.py)
MAX_CHUNK = 256


@dataclass
class Attribution:
    """Attributions for a batch.

    Attributes
    ----------
    values : ndarray, same shape and layout as the explained input (B, ...)
    method : str
    target : list of int
        The explained output class per sample.
    layer : str or None
        The layer of Grad-CAM / LayerCAM.
    completeness_error : ndarray of shape (B,) or None
        Integrated gradients: |sum(values) - (f(x) - f(baseline))| / max(|f(x) - f(baseline)|, 1e-6).
    channel_axis : int or None
        The input's channel axis (batched), used by :meth:`heatmap`.
    """

    values: np.ndarray
    method: str
    target: list[int]
    layer: str | None = None
    completeness_error: np.ndarray | None = None
    channel_axis: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def heatmap(self) -> np.ndarray:
        """(B, H, W) (or (B, T) for 1-D inputs): attributions summed over the channel axis."""
        values = self.values
        if self.channel_axis is not None and values.ndim >= 3:
            values = values.sum(axis=self.channel_axis)
        return values


# --- helpers --------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def _as_list(inputs: Any) -> list[np.ndarray]:
    return [inputs] if isinstance(inputs, np.ndarray) else list(inputs)


def _output_index(wrapper: ModelWrapper, output: int | str | None) -> int:
    if output is None:
        return 0
    if isinstance(output, int):
        return output
    names = [o.name for o in wrapper.outputs]
    if output not in names:
        raise LeapscopeError(f"explain: unknown output {output!r}; outputs: {', '.join(names)}")
    return names.index(output)


def _n_targets(wrapper: ModelWrapper, inputs: list[np.ndarray], out_index: int) -> int:
    """Values per sample of output ``out_index`` (from its spec, else from one forward pass)."""
    shape = wrapper.outputs[out_index].shape if out_index < len(wrapper.outputs) else None
    dims = [d for d in shape[1:] if isinstance(d, int)] if shape is not None else None
    if shape is not None and dims is not None and len(dims) == len(shape) - 1:
        return int(np.prod(dims, dtype=np.int64))
    return int(wrapper.predict([a[:1] for a in inputs])[out_index].reshape(1, -1).shape[1])


def _valid_targets(n: int, labels: list[str] | None) -> str:
    named = f", labels {', '.join(labels)}" if labels else ""
    return f"class indices 0..{n - 1}{named}, or 'loss'" if n > 0 else "none (the output is empty)"


def _targets(wrapper: ModelWrapper, inputs: list[np.ndarray], target: Any, out_index: int, labels: list[str] | None) -> list[int]:
    """The class index explained for each sample.

    Raises
    ------
    LeapscopeError
        A label that the prediction does not have, or an index outside ``0..C-1``
        (``C`` values per sample of the output); the message lists the valid targets.
    """
    n = len(inputs[0])
    if target is None:
        scores = wrapper.predict(inputs)[out_index].reshape(n, -1)
        return [int(i) for i in scores.argmax(1)]
    if isinstance(target, str):
        if labels is None or target not in labels:
            valid = _valid_targets(_n_targets(wrapper, inputs, out_index), labels)
            raise LeapscopeError(
                f"explain: target {target!r} is not a label of the prediction; valid targets: {valid}; "
                "fix: pass one of them (--target in the CLI)"
            )
        return [labels.index(target)] * n
    targets = [int(target)] * n if isinstance(target, int | np.integer) else [int(t) for t in target]
    if len(targets) != n:
        raise LeapscopeError(f"explain: {len(targets)} targets for {n} samples; fix: give one target per sample, or one for all")
    size = _n_targets(wrapper, inputs, out_index)
    bad = sorted({t for t in targets if not 0 <= t < size})
    if bad:
        raise LeapscopeError(
            f"explain: target {bad[0] if len(bad) == 1 else bad} is out of range: output {out_index} of the model has "
            f"{size} value(s) per sample; valid targets: {_valid_targets(size, labels)}; fix: pass a target in that "
            "range (--target in the CLI)"
        )
    return targets


def _channel_axis(wrapper: ModelWrapper, index: int, array: np.ndarray) -> int | None:
    layout = wrapper.inputs[index].layout
    if array.ndim == 4:
        return 3 if layout == "NHWC" else 1
    return None


def _select(out: Any, out_index: int) -> Any:
    torch = _torch()
    if isinstance(out, torch.Tensor):
        return out
    return out[out_index]


TORCH_LOSSES = ("cross_entropy", "cross_entropy_from_logits", "binary_cross_entropy", "mean_squared_error", "mean_absolute_error")


def _torch_loss(name: str, out: Any, gt: Any) -> Any:
    """Per-sample loss in torch, matching the built-in numpy losses of the SDK."""
    torch = _torch()
    o, g = out.reshape(len(out), -1), gt.reshape(len(gt), -1).to(out.dtype)
    if name == "cross_entropy":
        return -(g * torch.log(o.clamp(1e-7, 1.0))).sum(1)
    if name == "cross_entropy_from_logits":
        return -(g * torch.log_softmax(o, dim=1)).sum(1)
    if name == "binary_cross_entropy":
        p = o.clamp(1e-7, 1 - 1e-7)
        return -(g * torch.log(p) + (1 - g) * torch.log(1 - p)).mean(1)
    if name == "mean_squared_error":
        return ((g - o) ** 2).mean(1)
    if name == "mean_absolute_error":
        return (g - o).abs().mean(1)
    raise LeapscopeError(f"explain: no differentiable version of loss '{name}'; built-ins: {', '.join(TORCH_LOSSES)}")


class _Scorer:
    """What is explained, per sample: the score of a class, or the loss against the ground truth."""

    def __init__(self, targets: list[int], loss: str | None = None, ground_truth: np.ndarray | None = None):
        torch = _torch()
        self.targets = torch.tensor(targets)
        self.loss = loss
        self.gt = None if ground_truth is None else torch.from_numpy(np.ascontiguousarray(ground_truth, dtype=np.float32))

    def __call__(self, out: Any, index: Any) -> Any:
        if self.loss is not None:
            return _torch_loss(self.loss, out, self.gt[index])  # type: ignore[index]
        return out.reshape(len(out), -1).gather(1, self.targets[index].view(-1, 1)).squeeze(1)


def _forward(module: Any, out_index: int, scorer: _Scorer, index: Any) -> Any:
    """A function x -> (B,) explained scores (class score or loss) for Captum and our own loops."""

    def fn(*xs: Any) -> Any:
        out = _select(module(*xs), out_index)
        return scorer(out, index[: len(out)])

    return fn


def _chunk_size(sample_bytes: int, copies: int) -> int:
    return int(np.clip(CHUNK_BYTES // max(1, sample_bytes * copies), 1, MAX_CHUNK))


def _differentiable(wrapper: ModelWrapper, method: str) -> Any:
    if not wrapper.differentiable:
        raise ModelError(
            f"explain: '{method}' needs gradients, but this model has no differentiable view "
            f"({wrapper.differentiable_reason}); fix: use method='occlusion'"
        )
    return wrapper.torch_module()


# --- methods -------------------------------------------------------------------------


def _integrated_gradients(module: Any, x: np.ndarray, baseline: np.ndarray, scorer: _Scorer, out_index: int,
                          steps: int, batch_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Chunked IG over (sample, step) pairs with Gauss-Legendre nodes and weights on [0, 1]."""
    torch = _torch()
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
    w = torch.tensor(weights / 2, dtype=torch.float32)
    xt, bt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(baseline))
    n = len(x)
    pairs = n * steps
    chunk = batch_size or _chunk_size(x[0].nbytes, 3)
    grads_sum = torch.zeros_like(xt)
    sample_of = torch.arange(n).repeat_interleave(steps)
    step_of = torch.arange(steps).repeat(n)
    for start in range(0, pairs, chunk):
        s, k = sample_of[start : start + chunk], step_of[start : start + chunk]
        a = alphas[k].view(-1, *([1] * (xt.dim() - 1)))
        points = (bt[s] + a * (xt[s] - bt[s])).requires_grad_(True)
        scores = _forward(module, out_index, scorer, s)(points)
        (grad,) = torch.autograd.grad(scores.sum(), points)
        grads_sum.index_add_(0, s, grad * w[k].view(-1, *([1] * (xt.dim() - 1))))
    attributions = ((xt - bt) * grads_sum).detach().numpy()
    with torch.no_grad():
        both = torch.arange(n).repeat(2)
        ends = _forward(module, out_index, scorer, both)(torch.cat([xt, bt]))
    delta = (ends[:n] - ends[n:]).numpy()
    error = np.abs(attributions.reshape(n, -1).sum(1) - delta) / np.maximum(np.abs(delta), 1e-6)
    return attributions, error


def _layer_cam(wrapper: ModelWrapper, x: np.ndarray, scorer: _Scorer, index: Any, out_index: int, layer: str, kind: str) -> np.ndarray:
    """Grad-CAM / LayerCAM on the layer's own layout; returns (B, H', W') maps."""
    torch = _torch()
    acts, outs = _activation_and_output(wrapper, torch.from_numpy(np.ascontiguousarray(x)), layer, out_index)
    if acts.dim() != 4:
        raise LeapscopeError(f"explain: layer '{layer}' is not spatial (activation shape {tuple(acts.shape)}); pick a convolutional layer")
    scores = scorer(outs, index).sum()
    (grads,) = torch.autograd.grad(scores, acts)
    channel = 3 if wrapper.internal_layout == "NHWC" else 1
    spatial = (1, 2) if channel == 3 else (2, 3)
    if kind == "gradcam":
        weights = grads.mean(dim=spatial, keepdim=True)
        cam = (weights * acts).sum(dim=channel)
    else:
        cam = (torch.relu(grads) * acts).sum(dim=channel)
    return torch.relu(cam).detach().numpy()


def _activation_and_output(wrapper: ModelWrapper, x: Any, layer: str, out_index: int) -> tuple[Any, Any]:
    """One differentiable forward pass returning the layer's activation and the output."""
    if wrapper.framework == "keras":
        from leapscope.models._keras import import_keras

        keras = import_keras()
        model = wrapper.model  # type: ignore[attr-defined]
        sub = keras.Model(model.inputs, [model.get_layer(layer).output, model.outputs[out_index]])
        act, out = sub(x, training=False)
        return act, out
    module = wrapper.torch_module()
    modules = dict(module.named_modules())
    name = layer if layer in modules else layer.lstrip("/")
    if name not in modules:
        raise LeapscopeError(f"explain: layer '{layer}' not found in the differentiable view; layers: {', '.join(list(modules)[1:15])}")
    captured: dict[str, Any] = {}
    handle = modules[name].register_forward_hook(lambda m, a, out: captured.__setitem__("act", out[0] if isinstance(out, tuple) else out))
    try:
        out = _select(module(x), out_index)
    finally:
        handle.remove()
    return captured["act"], out


def default_cam_layer(wrapper: ModelWrapper) -> str:
    """The last layer whose output is spatial (4-D): a convolution or what follows it."""
    spatial = [layer for layer in wrapper.layers() if layer.output_shape is not None and len(layer.output_shape) == 4]
    if not spatial:
        raise LeapscopeError("explain: the model has no layer with a known 4-D output; pass layer=")
    convs = [layer for layer in spatial if "conv" in layer.type.lower() or layer.type.lower() in ("relu", "activation")]
    return (convs or spatial)[-1].name


def _upsample(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    torch = _torch()
    t = torch.from_numpy(cams[:, None].astype(np.float32))
    return torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def _spatial_size(x: np.ndarray, channel_axis: int | None) -> tuple[int, int]:
    if channel_axis == 3:
        return int(x.shape[1]), int(x.shape[2])
    return int(x.shape[2]), int(x.shape[3])


def _occlusion(wrapper: ModelWrapper, inputs: list[np.ndarray], index: int, targets: list[int], out_index: int,
               baseline: float, window: int | None, loss: Any = None, ground_truth: np.ndarray | None = None) -> np.ndarray:
    """Sliding-window occlusion through ``wrapper.predict`` (no gradients, no torch conversion)."""
    torch = _torch()
    from captum.attr import Occlusion

    x = inputs[index]
    channel_axis = _channel_axis(wrapper, index, x)

    def forward(t: Any) -> Any:
        batch = t.detach().numpy().astype(x.dtype)
        # Captum stacks several perturbations per sample; repeat the other inputs to match
        arrays = [batch if i == index else np.repeat(a, len(batch) // len(a), axis=0) for i, a in enumerate(inputs)]
        out = wrapper.predict(arrays)[out_index].reshape(len(batch), -1)
        if loss is not None:  # the loss of each perturbed copy against its sample's ground truth
            gt = np.repeat(ground_truth, len(batch) // len(ground_truth), axis=0)  # type: ignore[arg-type]
            value = _torch_loss(loss, torch.from_numpy(out.astype(np.float32)), torch.from_numpy(gt)) if isinstance(loss, str) else torch.from_numpy(np.asarray(loss(gt, out), np.float32))
            return value
        return torch.from_numpy(out.astype(np.float32))

    if x.ndim == 4:
        h, w = _spatial_size(x, channel_axis)
        size = window or max(1, min(h, w) // 8)
        if channel_axis == 3:
            shape, strides = (size, size, x.shape[3]), (max(1, size // 2), max(1, size // 2), x.shape[3])
        else:
            shape, strides = (x.shape[1], size, size), (x.shape[1], max(1, size // 2), max(1, size // 2))
    else:
        length = x.shape[1]
        size = window or max(1, length // 32)
        shape, strides = (size, *x.shape[2:]), (max(1, size // 2), *x.shape[2:])
    occ = Occlusion(forward)
    attr = occ.attribute(torch.from_numpy(x.astype(np.float32)), sliding_window_shapes=shape, strides=strides,
                         baselines=baseline, target=None if loss is not None else torch.tensor(targets), perturbations_per_eval=16)
    return np.asarray(attr.numpy(), dtype=np.float32)


def explain(
    model: ModelWrapper,
    inputs: np.ndarray | list[np.ndarray],
    *,
    method: Method = "integrated_gradients",
    target: int | str | list[int] | None = None,
    layer: str | None = None,
    baseline: float | np.ndarray | None = None,
    batch_size: int | None = None,
    input_index: int = 0,
    output: int | str | None = None,
    labels: list[str] | None = None,
    steps: int = 50,
    noise_samples: int = 25,
    noise_level: float = 0.15,
    window: int | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    loss: str | Any = "cross_entropy",
) -> Attribution:
    """Explain a batch of predictions.

    Parameters
    ----------
    model : ModelWrapper
    inputs : ndarray (B, ...) or a list with one batched array per model input
    method : one of :data:`METHODS`
    target : None (the predicted class), a class index, a label name, one index per sample, or
        ``"loss"``: what raised the loss against ``ground_truth``
    ground_truth : ndarray (B, ...), for ``target="loss"``
    loss : str or callable, default "cross_entropy"
        A built-in loss name (differentiable here, see :data:`TORCH_LOSSES`) or a numpy
        function ``(gt, prediction) -> (B,)``, which only occlusion can explain.
    layer : str, optional
        Grad-CAM / LayerCAM layer (default: the last spatial layer).
    baseline : float or ndarray broadcastable to the input, default 0
    batch_size : int, optional
        Samples x steps per forward/backward chunk (default: from the input size).
    input_index : int
        Which model input to explain (others are held fixed).
    output : int or str, optional
        Which model output (default the first).
    labels : list of str, optional
        Class names, for label-name targets.
    steps : int, default 50
        Integrated-gradients steps.
    noise_samples, noise_level : SmoothGrad copies and noise std as a fraction of the input range.
    window : int, optional
        Occlusion window (pixels or positions).
    seed : int
        Makes SmoothGrad deterministic.

    Returns
    -------
    Attribution

    Raises
    ------
    LeapscopeError
        Unknown method, target or layer; ``ModelError`` for a gradient method on a
        model without a differentiable view (use ``occlusion``).
    """
    if method not in METHODS:
        raise LeapscopeError(f"explain: unknown method {method!r}; available: {', '.join(METHODS)}")
    torch = _torch()
    arrays = model.check_inputs(_as_list(inputs))
    x = arrays[input_index]
    out_index = _output_index(model, output)
    explain_loss = isinstance(target, str) and target == "loss"
    if explain_loss and ground_truth is None:
        raise LeapscopeError("explain: target='loss' needs ground_truth= (the batch's encoded ground truths)")
    if explain_loss and not isinstance(loss, str) and method != "occlusion":
        raise LeapscopeError("explain: a custom numpy loss has no gradient; use method='occlusion' for target='loss'")
    targets = [-1] * len(x) if explain_loss else _targets(model, arrays, target, out_index, labels)
    scorer = _Scorer(targets, loss if explain_loss else None, ground_truth if explain_loss else None)
    channel_axis = _channel_axis(model, input_index, x)
    base = np.broadcast_to(np.asarray(0.0 if baseline is None else baseline, dtype=x.dtype), x.shape).copy()
    extra: dict[str, Any] = {"target": "loss", "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")} if explain_loss else {}
    if method == "occlusion":
        values = _occlusion(model, arrays, input_index, targets, out_index, float(np.asarray(base).flat[0]), window,
                            loss if explain_loss else None, ground_truth if explain_loss else None)
        return Attribution(values, method, targets, channel_axis=channel_axis, extra=extra)
    module = _differentiable(model, method) if model.framework != "keras" else model.torch_module()
    if len(arrays) > 1:
        raise LeapscopeError("explain: gradient methods explain single-input models; use method='occlusion' for several inputs")
    if x.dtype.kind != "f":
        raise LeapscopeError(
            f"explain: input '{model.inputs[input_index].name}' holds {x.dtype} values (e.g. token ids), which have no "
            "gradient; use method='occlusion'"
        )
    if method in ("gradcam", "layercam"):
        name = layer or default_cam_layer(model)
        chunk = batch_size or _chunk_size(x[0].nbytes, 8)
        cams = np.concatenate([
            _layer_cam(model, x[i : i + chunk], scorer, torch.arange(i, min(i + chunk, len(x))), out_index, name, method)
            for i in range(0, len(x), chunk)
        ])
        if x.ndim == 4:
            maps = _upsample(cams, _spatial_size(x, channel_axis))
            values = np.repeat(np.expand_dims(maps, channel_axis or 1), x.shape[channel_axis or 1], axis=channel_axis or 1)
            values = values / x.shape[channel_axis or 1]
        else:
            values = cams
        return Attribution(values.astype(np.float32), method, targets, layer=name, channel_axis=channel_axis, extra={"cam": cams, **extra})
    if method == "integrated_gradients":
        values, error = _integrated_gradients(module, x, base, scorer, out_index, steps, batch_size)
        return Attribution(values.astype(np.float32), method, targets, completeness_error=error, channel_axis=channel_axis,
                           extra={"steps": steps, **extra})
    from captum.attr import InputXGradient, NoiseTunnel, Saliency

    chunk = batch_size or _chunk_size(x[0].nbytes, 2 * (noise_samples if method == "smoothgrad" else 1))
    parts = []
    for i in range(0, len(x), chunk):
        xt = torch.from_numpy(np.ascontiguousarray(x[i : i + chunk])).requires_grad_(True)
        index = torch.arange(i, min(i + chunk, len(x)))
        fn = _forward(module, out_index, scorer, index)
        if method == "saliency":
            attr = Saliency(fn).attribute(xt, abs=True)
        elif method == "input_x_gradient":
            attr = InputXGradient(fn).attribute(xt)
        else:
            torch.manual_seed(seed)
            spread = float(x.max() - x.min()) or 1.0
            local = _forward(module, out_index, scorer, index.repeat(noise_samples))
            attr = NoiseTunnel(Saliency(local)).attribute(xt, nt_type="smoothgrad", nt_samples=noise_samples,
                                                          nt_samples_batch_size=noise_samples, stdevs=noise_level * spread, abs=True)
        parts.append(attr.detach().numpy())
    return Attribution(np.concatenate(parts).astype(np.float32), method, targets, channel_axis=channel_axis, extra=extra)


# --- faithfulness ---------------------------------------------------------------------


def _curve(model: ModelWrapper, x: np.ndarray, attribution: Attribution, *, steps: int, insert: bool,
           baseline: float, out_index: int) -> np.ndarray:
    """Target probability after removing (or inserting) features in order of attribution; (B, steps + 1)."""
    n = len(x)
    heat = attribution.heatmap().reshape(n, -1)
    order = np.argsort(-heat, axis=1)
    features = heat.shape[1]
    if attribution.channel_axis is not None and x.ndim == 4:
        channel_axis = attribution.channel_axis
        moved = np.moveaxis(x, channel_axis, -1).reshape(n, features, -1)
    else:
        channel_axis = None
        moved = x.reshape(n, features, -1)
    curves = np.zeros((n, steps + 1), np.float32)
    targets = np.asarray(attribution.target)
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
        curves[:, step] = out[np.arange(n), targets]
    return curves


def deletion_auc(model: ModelWrapper, inputs: np.ndarray, attribution: Attribution, *, steps: int = 64, baseline: float = 0.0,
                 output: int | str | None = None) -> np.ndarray:
    """Area under the target-probability curve while the most-attributed features are set to ``baseline``
    (Petsiuk et al. 2018); lower is more faithful. Per sample, (B,), trapezoid on [0, 1]."""
    curves = _curve(model, np.asarray(inputs), attribution, steps=steps, insert=False, baseline=baseline, out_index=_output_index(model, output))
    return np.trapezoid(curves, dx=1.0 / steps, axis=1)


def insertion_auc(model: ModelWrapper, inputs: np.ndarray, attribution: Attribution, *, steps: int = 64, baseline: float = 0.0,
                  output: int | str | None = None) -> np.ndarray:
    """Area under the target-probability curve while the most-attributed features are inserted into a
    ``baseline`` input; higher is more faithful. Per sample, (B,)."""
    curves = _curve(model, np.asarray(inputs), attribution, steps=steps, insert=True, baseline=baseline, out_index=_output_index(model, output))
    return np.trapezoid(curves, dx=1.0 / steps, axis=1)


def randomization_check(model: ModelWrapper, inputs: np.ndarray, *, method: Method, seed: int = 0, **options: Any) -> float:
    """Model-parameter randomization test (Adebayo et al. 2018).

    Re-initialises every weight of the differentiable view (normal noise with each
    tensor's own std), recomputes the attributions and returns the mean Spearman
    rank correlation of |attribution| before and after. A faithful method gives a
    low value (the explanation depends on what the model learned).
    """
    import copy

    from scipy.stats import spearmanr

    torch = _torch()
    before = explain(model, inputs, method=method, **options)
    randomized = _RandomizedView(model, copy.deepcopy(model.torch_module()), seed)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        for p in randomized.module.parameters():
            std = float(p.std()) if p.numel() > 1 else 1.0
            p.copy_(torch.randn(p.shape, generator=gen) * (std or 0.1))
    after = explain(randomized, inputs, method=method, target=before.target, **{k: v for k, v in options.items() if k != "target"})
    a, b = np.abs(before.heatmap()).reshape(len(before.values), -1), np.abs(after.heatmap()).reshape(len(after.values), -1)
    scores = [spearmanr(a[i], b[i]).statistic for i in range(len(a))]
    return float(np.nanmean(scores))


class _RandomizedView(ModelWrapper):
    """A wrapper whose forward is a re-initialised copy of another wrapper's torch view."""

    def __init__(self, base: ModelWrapper, module: Any, seed: int):
        self.base, self.module = base, module.eval()
        self.framework = base.framework if base.framework != "keras" else "torch"  # type: ignore[misc]
        self.inputs, self.outputs = base.inputs, base.outputs
        self.internal_layout = base.internal_layout
        self.seed = seed

    def _predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        torch = _torch()
        with torch.no_grad():
            out = self.module(*[torch.from_numpy(a) for a in inputs])
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        return [o.numpy() for o in outs]

    def _forward_with(self, inputs: list[np.ndarray], layers: list[str]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        return self._predict(inputs), {}

    def layers(self) -> list[Any]:
        return self.base.layers()

    def default_latent_layer(self) -> str:
        return self.base.default_latent_layer()

    def torch_module(self) -> Any:
        return self.module
