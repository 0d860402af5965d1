"""Explanations of stored samples, for the CLI, the server and the report.

Plain functions over a :class:`~leapscope.runs.RunContext` (one loaded model per context):

- :func:`explain_samples`: several samples in one batched attribution call.
- :func:`explain_targets`: what can be explained for one sample (targets, regions, losses), in words.
- :func:`explain_methods`: which methods apply to the run's model, and why not.
- :func:`model_layers`: the model's layers with type, shape, spatial flag, the default latent and CAM layers.
- :func:`prediction_summary`: a JSON-ready summary of one prediction that follows its kind (a dense map
  is channels with their predicted-positive pixel counts, never thousands of "classes").
- :func:`resolve_region`: a region string (``positive``, ``all``, ``gt``, ``gt:NAME``, ``box:x0,y0,x1,y1``,
  a ``.npy`` / ``.png`` mask file) to what :func:`leapscope.analysis.attribution.explain` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leapscope.analysis import attribution
from leapscope.analysis.attribution.base import get_method
from leapscope.analysis.attribution.targets import binary_class_names, binary_class_values, resolve_targets
from leapscope.exceptions import LeapscopeError
from leapscope.models import ModelWrapper
from leapscope.sdk._parts import class_axis
from leapscope.store._manifest import GT_SOURCE, INPUT_SOURCE, PREDICTION_SOURCE, parse_source

if TYPE_CHECKING:
    from leapscope.runs.sample import RunContext

__all__ = [
    "ExplainedSample",
    "check_request",
    "draw_channel_map",
    "OutputInfo",
    "explain_methods",
    "explain_samples",
    "explain_targets",
    "layer_rows",
    "model_layers",
    "output_info",
    "prediction_summary",
    "resolve_region",
]

#: most per-class rows :func:`explain_targets` lists for a class output
MAX_LISTED_CLASSES = 50


@dataclass
class OutputInfo:
    """One model output as explain sees it: position, name, kind, channel labels, batched channel axis."""

    index: int
    name: str
    kind: str | None
    labels: list[str] | None
    channel_axis: int | None = None


@dataclass
class ExplainedSample:
    """One explained sample: its attribution (batch of one), the unbatched explained input and prediction."""

    subset: str
    sample_id: str
    attribution: attribution.Attribution
    x: np.ndarray
    prediction: np.ndarray
    output: OutputInfo

    @property
    def description(self) -> str:
        """What was explained, in words."""
        return self.attribution.descriptions[0] if self.attribution.descriptions else ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method, target in words, layer, completeness error, prediction summary."""
        result = self.attribution
        return {
            "subset": self.subset,
            "sample_id": self.sample_id,
            "method": result.method,
            "target": self.description,
            "target_index": result.target[0],
            "layer": result.layer,
            "completeness_error": None if result.completeness_error is None else float(result.completeness_error[0]),
            "heatmap_shape": list(result.heatmap().shape[1:]),
            "prediction": prediction_summary(self.prediction, self.output),
        }


def output_info(ctx: RunContext, output: int | str | None = None) -> OutputInfo:
    """The explained output: ``output`` (index or prediction name; default the first) with its declared kind."""
    predictions = ctx.run.typed_manifest.predictions
    names = [p.name for p in predictions]
    if output is None:
        index = 0
    elif isinstance(output, int):
        index = output
    elif output in names:
        index = names.index(output)
    else:
        raise LeapscopeError(f"explain: unknown output {output!r}; outputs: {', '.join(names)}")
    info = predictions[index] if index < len(predictions) else None
    kind = getattr(info, "resolved_kind", None) if info is not None else None
    labels = info.labels if info is not None else None
    axis = None
    if info is not None and kind == "dense":
        declared = info.extra.get("channel_dim")
        shape = _output_shape(ctx.model, index)
        found = class_axis(shape, labels, declared if isinstance(declared, int) else None) if shape else -1
        # the channel axis counts when it holds one value per label (else the map is one channel)
        if labels and shape and -len(shape) <= found < len(shape) and shape[found] == len(labels):
            axis = found + 1 if found >= 0 else found
    return OutputInfo(index, info.name if info is not None else f"output {index}", kind, labels, axis)


def _output_shape(model: ModelWrapper, index: int) -> tuple[int | None, ...] | None:
    spec = model.outputs[index].shape if index < len(model.outputs) else None
    return None if spec is None else tuple(spec[1:])


def _losses(ctx: RunContext) -> dict[str, Any]:
    return dict(ctx.loaded.integration.losses)


def _loss_choice(ctx: RunContext, name: str | None) -> str:
    """The integration loss ``name`` (``None``: the only loss).

    Raises
    ------
    LeapscopeError
        No loss; an unknown name; ``loss`` without a name while there are several (listed).
    """
    losses = _losses(ctx)
    if not losses:
        raise LeapscopeError(
            "explain: --target loss needs a loss, and the integration declares none (@ls.loss); "
            "fix: explain a class or channel instead (leave --target out)"
        )
    if name:
        if name not in losses:
            raise LeapscopeError(
                f"explain: the integration has no loss {name!r}; losses: {', '.join(losses)}; "
                f"fix: --target loss:{next(iter(losses))}"
            )
        return name
    if len(losses) > 1:
        raise LeapscopeError(
            f"explain: --target loss is ambiguous: the integration has {len(losses)} losses "
            f"({', '.join(losses)}); fix: name one, e.g. --target loss:{next(iter(losses))}"
        )
    return next(iter(losses))


def _loss_arguments(
    ctx: RunContext, name: str, inputs: list[dict[str, np.ndarray]], gts: list[dict[str, np.ndarray]]
) -> tuple[Any, np.ndarray, int]:
    """(loss for attribution.explain, (B, ...) ground truth, output index) of integration loss ``name``.

    A built-in loss is its name (differentiated by its torch formula); a custom one becomes a function
    ``(gt, prediction)`` that calls the user's loss with its wired keyword arguments: the ground truth,
    the prediction in its real batched shape, and the sample's other wired values held fixed.
    """
    fn = _losses(ctx)[name]
    sources = ctx.wiring.arguments_of("loss", name)
    gt_param = next((p for p, s in sources.items() if parse_source(s)[0] == GT_SOURCE), None)
    pred_param = next((p for p, s in sources.items() if parse_source(s)[0] == PREDICTION_SOURCE), None)
    if pred_param is None:
        raise LeapscopeError(
            f"explain: loss '{name}' takes no prediction in the wiring, so nothing in it can be explained"
        )
    if any(not g for g in gts):
        raise LeapscopeError(
            f"explain: loss '{name}' needs ground truths, and an explained sample has none (unlabeled)"
        )
    names = [p.name for p in ctx.run.typed_manifest.predictions]
    pred_name = parse_source(sources[pred_param])[1]
    out_index = names.index(pred_name) if pred_name in names else 0
    gt_name = parse_source(sources[gt_param])[1] if gt_param else next(iter(gts[0]))
    gt = np.stack([np.asarray(g[gt_name], dtype=np.float32) for g in gts])
    builtin = attribution.builtin_loss_name(fn.function)
    if builtin is not None:
        return builtin, gt, out_index
    fixed: dict[str, np.ndarray] = {}
    for param, source in sources.items():
        kind, value = parse_source(source)
        if param in (gt_param, pred_param):
            continue
        if kind == INPUT_SOURCE:
            fixed[param] = np.stack([i[value] for i in inputs])
        elif kind == GT_SOURCE:
            fixed[param] = np.stack([g[value] for g in gts])
        else:
            raise LeapscopeError(
                f"explain: loss '{name}' also takes {source!r} ({param}); only losses of ground truths, inputs and "
                "one prediction can be explained"
            )
    function = fn.function

    def user_loss(g: Any, p: Any) -> Any:
        import torch

        rows = len(p)
        values: dict[str, Any] = dict(fixed)
        if isinstance(p, torch.Tensor):
            values = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in values.items()}
        if rows != len(gt):  # occlusion passes perturbed copies: repeat the held values to match
            values = {k: v[np.arange(rows) % len(gt)] for k, v in values.items()}
        if gt_param:
            values[gt_param] = g
        return function(**values, **{pred_param: p})

    user_loss.__name__ = name
    return user_loss, gt, out_index


def resolve_region(
    ctx: RunContext | None, region: str | None, gts: list[dict[str, np.ndarray]] | None = None
) -> tuple[Any, str | None]:
    """A region string -> (region for ``attribution.explain``, its name in descriptions).

    ``None`` / ``positive``: predicted-positive pixels; ``all``; ``gt`` (the wired ground truth, the only
    one or the first) or ``gt:NAME``; ``box:x0,y0,x1,y1`` (output pixels, end exclusive); a path to a
    ``.npy`` array or an image file (non-zero = inside), of the output map's size.

    Raises
    ------
    LeapscopeError
        An unknown form, a missing file or ground truth, or an unreadable mask.
    """
    if region is None or region in attribution.REGIONS:
        return region, None
    if region.startswith("box:"):
        return attribution.parse_box(region[len("box:") :]), None
    if region == "gt" or region.startswith("gt:"):
        if not gts or any(not g for g in gts):
            raise LeapscopeError("explain: --region gt needs a ground truth, and an explained sample has none")
        name = region[3:] or next(iter(gts[0]))
        if name not in gts[0]:
            raise LeapscopeError(f"explain: no ground truth {name!r}; ground truths: {', '.join(gts[0])}")
        return np.stack([np.asarray(g[name], dtype=np.float32) for g in gts]), f"the ground-truth mask '{name}'"
    path = Path(region).expanduser()
    if not path.exists():
        raise LeapscopeError(
            f"explain: region {region!r} is not positive, all, gt, gt:NAME, box:x0,y0,x1,y1 or an existing mask file"
        )
    if path.suffix == ".npy":
        try:
            mask = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise LeapscopeError(f"explain: cannot read mask {path}: {exc}") from exc
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                mask = np.asarray(image.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            raise LeapscopeError(f"explain: cannot read mask image {path}: {exc}") from exc
    return (np.asarray(mask) > 0).astype(np.float32), f"the mask {path.name}"


def check_request(ctx: RunContext, method: str, target: Any = None, region: str | None = None) -> None:
    """The checks of an explain request that need no model: the method's name, a loss target's name
    (``loss`` alone with several losses is ambiguous), a box's syntax. The CLI calls it before loading
    the model, so a mistyped request fails in a second, not after the model has loaded.

    Raises
    ------
    LeapscopeError
        An unknown method, an unknown or ambiguous loss, a malformed box or element target.
    """
    get_method(method)
    parsed = attribution.parse_target(target)
    if parsed.kind == "loss":
        _loss_choice(ctx, parsed.loss)
    if region is not None and region.startswith("box:"):
        attribution.parse_box(region[len("box:") :])


def explain_samples(
    ctx: RunContext,
    samples: Sequence[tuple[str, str | int]],
    *,
    method: str = "integrated_gradients",
    target: Any = None,
    region: str | None = None,
    layer: str | None = None,
    input_name: str | None = None,
    output: int | str | None = None,
    **settings: Any,
) -> list[ExplainedSample]:
    """Explain several samples of a run with one batched attribution call (the model is loaded once per ``ctx``).

    ``target``: ``None`` (predicted class; dense: main class over predicted-positive pixels), a class /
    channel index or label, ``element:i,j,...``, ``loss`` (the only loss) or ``loss:NAME``. ``region``: see
    :func:`resolve_region` (dense outputs only). Samples whose inputs differ in shape are explained in
    separate calls.

    Raises
    ------
    LeapscopeError
        Unknown sample, target, region, loss, layer, or a method that does not apply (no silent fallback).
    """
    if not samples:
        raise LeapscopeError("explain: no sample given")
    encoded = [ctx.encode(subset, sample_id) for subset, sample_id in samples]
    arrays_each = [ctx.model_inputs(inputs) for inputs, _ in encoded]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, arrays in enumerate(arrays_each):
        groups.setdefault(tuple(a.shape for a in arrays), []).append(i)
    results: list[ExplainedSample | None] = [None] * len(samples)
    for rows in groups.values():
        for position, item in zip(
            rows,
            _explain_group(
                ctx, samples, encoded, arrays_each, rows, method, target, region, layer, input_name, output, settings
            ),
            strict=True,
        ):
            results[position] = item
    return [r for r in results if r is not None]


def _explain_group(
    ctx: RunContext,
    samples: Sequence[tuple[str, str | int]],
    encoded: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
    arrays_each: list[list[np.ndarray]],
    rows: list[int],
    method: str,
    target: Any,
    region: str | None,
    layer: str | None,
    input_name: str | None,
    output: int | str | None,
    settings: dict[str, Any],
) -> list[ExplainedSample]:
    arrays = [np.concatenate([arrays_each[r][k] for r in rows]) for k in range(len(arrays_each[rows[0]]))]
    inputs = [encoded[r][0] for r in rows]
    gts = [encoded[r][1] for r in rows]
    info = output_info(ctx, output)
    if isinstance(target, str) and target.isdigit() and (info.labels is None or target not in info.labels):
        target = int(target)
    parsed = attribution.parse_target(target)
    options: dict[str, Any]
    if parsed.kind == "loss":
        loss, gt, out_index = _loss_arguments(ctx, _loss_choice(ctx, parsed.loss), inputs, gts)
        info = output_info(ctx, out_index)
        options = {"loss": loss, "ground_truth": gt, "target": "loss"}
    else:
        options = {"target": target}
    region_value, region_name = resolve_region(ctx, region, gts)
    index = ctx._input_names().index(input_name) if input_name else 0
    result = attribution.explain(
        ctx.model,
        arrays,
        method=method,
        layer=layer,
        labels=info.labels,
        input_index=index,
        output=info.index,
        region=region_value,
        region_name=region_name,
        output_channel_axis=info.channel_axis,
        kind=info.kind,
        **options,
        **settings,
    )
    predictions = ctx.model.predict(arrays)[info.index]
    out = []
    for j, r in enumerate(rows):
        subset, sample_id = samples[r]
        out.append(
            ExplainedSample(subset, str(sample_id), _one(result, j), arrays[index][j], np.asarray(predictions[j]), info)
        )
    return out


def _one(result: attribution.Attribution, j: int) -> attribution.Attribution:
    """Sample ``j`` of a batched attribution, as a batch of one."""
    extra = {k: (v[j : j + 1] if isinstance(v, np.ndarray) and len(v) > j else v) for k, v in result.extra.items()}
    return attribution.Attribution(
        result.values[j : j + 1],
        result.method,
        result.target[j : j + 1],
        layer=result.layer,
        completeness_error=None if result.completeness_error is None else result.completeness_error[j : j + 1],
        channel_axis=result.channel_axis,
        extra=extra,
        descriptions=result.descriptions[j : j + 1],
        weights=None if result.weights is None else result.weights[j : j + 1],
    )


def prediction_summary(prediction: np.ndarray, info: OutputInfo, top: int = 10) -> dict[str, Any]:
    """A JSON-ready summary of one unbatched prediction that follows its kind.

    Dense: ``{"kind": "dense", "shape", "channels": [{"channel", "label", "positive_pixels", "mean"}]}``
    (predicted-positive = argmax, or > 0.5 / > 0 for one channel, as the explain targets use). Otherwise
    ``{"kind", "values": [{"index", "label", "value"}]}``: the ``top`` highest values. A binary sigmoid output
    (one value, one label ``L``) lists its two classes, ``{"index": 1, "label": "L", "value": p}`` and
    ``{"index": 0, "label": "not L", "value": 1 - p}`` (``z`` and ``-z`` for a logit), the predicted one first.
    """
    p = np.asarray(prediction, dtype=np.float64)
    kind = info.kind or ("dense" if p.ndim >= 2 else "class")
    if kind == "dense" and p.ndim >= 1:
        batched = p[None]
        axis = info.channel_axis if info.channel_axis is not None else None
        if axis is None and p.ndim == 3:
            axis = 1 if not (info.labels and p.shape[-1] == len(info.labels)) else 3
        channels = batched[:, None] if axis is None else np.moveaxis(batched, axis, 1)
        n = channels.shape[1]
        winners = channels.argmax(axis=1) if n > 1 else None
        threshold = 0.5 if channels.min() >= 0 and channels.max() <= 1 else 0.0
        rows = []
        for c in range(n):
            positive = (winners == c) if winners is not None else (channels[:, 0] > threshold)
            rows.append(
                {
                    "channel": c,
                    "label": info.labels[c] if info.labels and c < len(info.labels) else None,
                    "positive_pixels": int(positive.sum()),
                    "pixels": int(positive.size),
                    "mean": float(channels[:, c].mean()),
                }
            )
        return {"kind": "dense", "output": info.name, "shape": list(p.shape), "channels": rows}
    flat = p.reshape(-1)
    names = binary_class_names(flat.size, info.labels, info.kind)
    if names is not None:
        scores = binary_class_values(flat)[0][0]
        ranked = [1, 0] if scores[1] > scores[0] else [0, 1]  # a tie is class 0, as the label column says
        values = [{"index": c, "label": names[c], "value": float(scores[c])} for c in ranked]
        return {"kind": kind, "output": info.name, "values": values}
    order = np.argsort(-flat)[:top]
    return {
        "kind": kind,
        "output": info.name,
        "values": [
            {
                "index": int(i),
                "label": info.labels[i] if info.labels and i < len(info.labels) else None,
                "value": float(flat[i]),
            }
            for i in order
        ],
    }


def explain_targets(
    ctx: RunContext, subset: str, sample_id: str | int, output: int | str | None = None
) -> list[dict[str, Any]]:
    """What can be explained for one sample, each as ``{"target", "region", "kind", "label", "default"}``.

    ``target`` / ``region`` are what :func:`explain_samples` (and ``leapscope explain --target/--region``)
    take; ``label`` says it in words; ``kind`` is ``class``, ``channel``, ``region``, ``element`` or ``loss``.
    A class output lists its predicted class and up to :data:`MAX_LISTED_CLASSES` classes; a dense output
    its channels (with predicted-positive pixel counts) and regions (all pixels, the ground truth, a box).
    A loss is listed when this sample can explain it; one the default (gradient) method cannot differentiate
    says "occlusion only" and why in its label (:func:`_loss_status`).
    """
    inputs, gts = ctx.encode(subset, sample_id)
    info = output_info(ctx, output)
    prediction = np.asarray(ctx.model.predict(ctx.model_inputs(inputs))[info.index])
    summary = prediction_summary(prediction[0], info)
    rows: list[dict[str, Any]] = []
    if summary["kind"] == "dense":
        channels = summary["channels"]
        resolved = attribution_targets(ctx, prediction, info)
        rows.append(_row(None, None, "channel", f"default: {resolved}", True))
        for c in channels:
            name = f"channel {c['channel']}" + (f" ({c['label']})" if c["label"] else "")
            rows.append(
                _row(
                    str(c["channel"]),
                    None,
                    "channel",
                    f"sum of {name} over predicted-positive pixels ({c['positive_pixels']} of {c['pixels']})",
                    False,
                )
            )
        rows.append(_row(None, "all", "region", "the main channel summed over all pixels", False))
        for gt_name in gts:
            rows.append(
                _row(
                    None, f"gt:{gt_name}", "region", f"the main channel inside the ground-truth mask '{gt_name}'", False
                )
            )
        rows.append(_row(None, "box:x0,y0,x1,y1", "region", "the main channel inside a box (output pixels)", False))
    else:
        values = summary["values"]
        top = values[0] if values else None
        size = int(prediction[0].size)
        # the words follow the kind: a regression output has values, a multi-label one labels, not classes
        regression = info.kind == "regression" or (info.kind is None and size == 1 and not info.labels)
        noun = "value" if regression else "label" if info.kind == "multilabel" else "class"
        binary = binary_class_names(size, info.labels, info.kind)
        if binary is not None:  # a sigmoid score: its two classes, 'not L' explained as 1 - p (or -z)
            rows.append(_row(None, None, noun, f"default: {attribution_targets(ctx, prediction, info)}", True))
            for name in (binary[1], binary[0]):
                rows.append(_row(name, None, noun, attribution_targets(ctx, prediction, info, name), False))
            size = 0  # the classes are listed
        elif top is not None:
            name = f"{noun} {top['index']}" + (f" ({top['label']})" if top["label"] else "")
            default = f"default: output {name}" if regression else f"default: the predicted {name} score"
            rows.append(_row(None, None, noun, default, True))
        for k in range(min(size, MAX_LISTED_CLASSES)):
            label = info.labels[k] if info.labels and k < len(info.labels) else None
            words = f"{noun} {k}" + (f" ({label})" if label else "") + ("" if regression else " score")
            rows.append(_row(label or str(k), None, noun, ("output " if regression else "") + words, False))
    shape = ",".join("0" for _ in prediction.shape[1:])
    rows.append(
        _row(
            f"element:{shape}",
            None,
            "element",
            f"one output value (index of shape {tuple(prediction.shape[1:])})",
            False,
        )
    )
    losses = {name: _loss_status(ctx, name, inputs, gts) for name in _losses(ctx)}
    offered = [name for name, status in losses.items() if status is not None]
    for name in offered:
        words = f"what raised loss '{name}' against the ground truth{losses[name]}"
        rows.append(_row(f"loss:{name}", None, "loss", words, False))
    if len(losses) == 1 and offered:
        rows.append(_row("loss", None, "loss", f"the only loss ('{offered[0]}'){losses[offered[0]]}", False))
    return rows


def _loss_status(ctx: RunContext, name: str, inputs: dict[str, np.ndarray], gts: dict[str, np.ndarray]) -> str | None:
    """How integration loss ``name`` can be explained for one sample, as words to add to its target row:
    ``""`` by every method (a built-in loss, or a custom one whose numpy code runs differentiably on torch),
    ``" (occlusion only: ...)"`` when the default gradient method cannot differentiate it, ``None`` when it
    cannot be explained at all here (no ground truth, no prediction argument, another wired value)."""
    try:
        loss, gt, out_index = _loss_arguments(ctx, name, [inputs], [gts])
    except LeapscopeError:
        return None
    if isinstance(loss, str):
        return ""
    prediction = np.asarray(ctx.model.predict(ctx.model_inputs(inputs))[out_index])
    try:
        fn, reason = attribution.differentiable_loss(loss, gt, prediction)
    except LeapscopeError:  # the loss fails on this sample even in numpy: nothing explains it
        return None
    return "" if fn is not None else f" (occlusion only, method=occlusion: its code cannot be differentiated: {reason})"


def draw_channel_map(fig: Any, ax: Any, picture: np.ndarray, title: str) -> None:
    """Draw one (H, W) output channel on matplotlib axes ``ax`` with its scale: a colour bar, fixed to 0..1 when
    every value is a probability (so a channel that peaks at 0.5 does not look saturated), else the values'
    own range; the title says which scale and the values' range."""
    values = np.asarray(picture, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    probability = bool(finite.size) and low >= 0.0 and high <= 1.0
    vmin, vmax = (0.0, 1.0) if probability else (low, high if high > low else low + 1.0)
    image = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")
    scale = "scale 0 to 1" if probability else "scale: its own range"
    ax.set_title(f"{title}\n{scale}; values {low:.3g} to {high:.3g}", fontsize=9)


def attribution_targets(ctx: RunContext, prediction: np.ndarray, info: OutputInfo, target: Any = None) -> str:
    """What ``target`` (default: the default target) explains of a (1, ...) prediction, in words."""
    resolved = resolve_targets(
        ctx.model,
        [prediction],
        target,
        info.index,
        info.labels,
        output_channel_axis=info.channel_axis,
        prediction=prediction,
        kind=info.kind,
    )
    return resolved.descriptions[0]


def _row(target: str | None, region: str | None, kind: str, label: str, default: bool) -> dict[str, Any]:
    return {"target": target, "region": region, "kind": kind, "label": label, "default": default}


def explain_methods(ctx: RunContext) -> list[dict[str, Any]]:
    """Every attribution method with ``applies`` (bool) and ``reason`` (why not, else None) for the run's model.

    Grad-CAM / LayerCAM apply only when the model has a spatial layer; gradient methods only when the model
    has a differentiable view and one float input. Loads the model (and converts an ONNX one) once.
    """
    model = ctx.model
    probe = _probe_inputs(ctx)
    rows = []
    for name in attribution.METHODS:
        method = get_method(name)
        reason = attribution.method_problem(method, model, probe, 0) if probe else None
        rows.append({"method": name, "applies": reason is None, "reason": reason})
    return rows


def _probe_inputs(ctx: RunContext) -> list[np.ndarray] | None:
    """The first stored sample's model inputs (a torch model learns its layer shapes from them)."""
    table = ctx.run.samples.select(["subset", "sample_id"]).slice(0, 1).to_pylist()
    if not table:
        return None
    inputs, _ = ctx.encode(str(table[0]["subset"]), table[0]["sample_id"])
    return ctx.model_inputs(inputs)


def layer_rows(wrapper: ModelWrapper, include_hidden: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """One JSON-ready dict per layer (``name``, ``type``, ``output_shape``, ``spatial``, ``hidden``,
    ``default_latent``, ``default_cam``: the Grad-CAM / LayerCAM default) and the default latent layer
    name (``None`` when the model has none).

    A torch default latent ``fc:input`` (the input of layer ``fc``) marks the row of ``fc``."""
    suffix = ":input"
    latent = wrapper.default_latent_or_none()
    latent_row = latent[: -len(suffix)] if latent and latent.endswith(suffix) else latent
    try:
        cam: str | None = attribution.default_cam_layer(wrapper)
    except LeapscopeError:
        cam = None
    rows = []
    for layer in wrapper.layer_info(include_hidden=include_hidden):
        row = layer.to_dict()
        row["default_latent"] = layer.name == latent_row
        row["default_cam"] = layer.name == cam
        rows.append(row)
    return rows, latent


def model_layers(ctx: RunContext, include_hidden: bool = False) -> dict[str, Any]:
    """The run's model layers for a layer picker: ``{"framework", "default_latent", "default_cam_layer",
    "layers": [{"name", "type", "output_shape", "spatial", "hidden", "default_latent", "default_cam"}]}``.

    Names are canonical (accepted by ``--latent``, ``--layer``, ``activations()``); ``default_cam_layer`` is
    ``None`` when the model has no spatial layer (then Grad-CAM / LayerCAM do not apply)."""
    probe = _probe_inputs(ctx) if ctx.model.framework == "torch" else None
    if probe is not None:
        ctx.model.predict([a[:1] for a in probe])  # a torch model learns its layer shapes on a forward pass
    rows, latent = layer_rows(ctx.model, include_hidden)
    try:
        cam: str | None = attribution.default_cam_layer(ctx.model, probe)
    except LeapscopeError:
        cam = None
    return {"framework": ctx.model.framework, "default_latent": latent, "default_cam_layer": cam, "layers": rows}
