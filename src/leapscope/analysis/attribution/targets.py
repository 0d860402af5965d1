"""What is explained: which model output, and which scalar of it per sample.

Every non-loss target is a fixed linear functional of the output: a weight array ``W``
of the output's shape per sample, and the explained score is ``sum(W * output)``
(:class:`~leapscope.analysis.attribution.base.Scorer`). That one form covers

- class outputs (B, K): a one-hot ``W`` on the explained class (default: the predicted one);
- a binary sigmoid output (B, 1) with one label ``L``: the classes are ``not L`` (0) and ``L`` (1), as in
  the run's label column (:func:`leapscope.sdk._parts.class_names`); ``L`` is explained by ``W = +1`` (the
  score ``p``, or the logit ``z``), ``not L`` by ``W = -1`` (``1 - p`` / ``-z``: a constant apart, so every
  method gives the attributions of ``1 - p``). The default is the predicted class: ``L`` when ``p > 0.5``
  (probabilities in [0, 1]) / ``z > 0`` (logits), as :func:`leapscope.engine.scoring.argmax_labels` decides;
- dense outputs (B, C, H, W) / (B, H, W, C) / (B, H, W) / (B, T, C): the sum of one channel
  over a set of output positions, the **region**: the predicted-positive positions of that
  channel (default), all positions, the ground-truth mask, a user mask or a box;
- a single output element (``element:i,j,...`` as the unbatched output index).

``W`` is computed once from the prediction at the real input and then held fixed, so
every method (gradients, CAM, occlusion) explains the same scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError
from leapscope.models import ModelWrapper
from leapscope.sdk._parts import class_names

__all__ = [
    "REGIONS",
    "Box",
    "ResolvedTargets",
    "Target",
    "binary_class_names",
    "binary_class_values",
    "channel_axis",
    "dense_channel_axis",
    "is_dense",
    "output_index",
    "parse_box",
    "parse_target",
    "resolve_targets",
]

#: named regions of a dense target (besides a mask array or a :class:`Box`)
REGIONS = ("positive", "all")
#: channel labels taken for the background class (never the default "main class" of a dense output)
BACKGROUND_LABELS = frozenset({"background", "bg", "_background_", "__background__", "none"})


@dataclass(frozen=True)
class Box:
    """A box in output pixel coordinates: columns ``x0 <= x < x1``, rows ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool mask of the box, clipped to ``shape``."""
        out = np.zeros(shape, bool)
        out[max(0, self.y0) : max(0, self.y1), max(0, self.x0) : max(0, self.x1)] = True
        return out

    def __str__(self) -> str:
        return f"box x {self.x0}..{self.x1 - 1}, y {self.y0}..{self.y1 - 1}"


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` (exclusive end) -> :class:`Box`.

    Raises
    ------
    LeapscopeError
        Not four integers, or an empty box.
    """
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise LeapscopeError(
            f"explain: box {text!r} is not four integers x0,y0,x1,y1 (output pixels, end exclusive); "
            "fix: e.g. --region box:0,0,32,32"
        ) from None
    if x1 <= x0 or y1 <= y0:
        raise LeapscopeError(f"explain: box {text!r} is empty (x1 must exceed x0 and y1 must exceed y0)")
    return Box(x0, y0, x1, y1)


@dataclass(frozen=True)
class Target:
    """A parsed target.

    ``kind``: ``"default"`` (the predicted class, or for a dense output its main class),
    ``"class"`` (``index`` or ``label``), ``"element"`` (``element``: the unbatched output index)
    or ``"loss"`` (``loss``: a loss name, ``None`` for "the integration's only loss").
    """

    kind: str
    index: int | None = None
    label: str | None = None
    element: tuple[int, ...] | None = None
    loss: str | None = None


def parse_target(target: Any) -> Target:
    """A user's target -> :class:`Target`.

    Accepted: ``None``; an int (class / channel index) or a digit string; a label name;
    ``"loss"`` or ``"loss:NAME"``; ``"element:i,j,..."`` (the unbatched output index); a :class:`Target`.
    A list of ints (one class per sample) is handled by :func:`resolve_targets` itself.
    """
    if target is None:
        return Target("default")
    if isinstance(target, Target):
        return target
    if isinstance(target, int | np.integer):
        return Target("class", index=int(target))
    text = str(target).strip()
    if text == "loss":
        return Target("loss")
    if text.startswith("loss:"):
        return Target("loss", loss=text[len("loss:") :])
    if text.startswith("element:"):
        try:
            element = tuple(int(v) for v in text[len("element:") :].split(","))
        except ValueError:
            raise LeapscopeError(
                f"explain: target {text!r}: element:i,j,... takes the integer index of one output value "
                "(without the batch axis), e.g. element:0,12,40"
            ) from None
        return Target("element", element=element)
    return Target("class", label=text)


def output_index(wrapper: ModelWrapper, output: int | str | None) -> int:
    """The position of ``output`` (an index, an output name, or ``None`` for the first).

    Raises
    ------
    LeapscopeError
        An unknown output name; the message lists the outputs.
    """
    if output is None:
        return 0
    if isinstance(output, int):
        return output
    names = [o.name for o in wrapper.outputs]
    if output not in names:
        raise LeapscopeError(f"explain: unknown output {output!r}; outputs: {', '.join(names)}")
    return names.index(output)


def channel_axis(wrapper: ModelWrapper, index: int, array: np.ndarray) -> int | None:
    """The batched channel axis of input ``index`` (3 for NHWC, 1 for NCHW), or ``None`` unless 4-D."""
    if array.ndim == 4:
        return 3 if wrapper.inputs[index].layout == "NHWC" else 1
    return None


def is_dense(prediction: np.ndarray) -> bool:
    """Whether a batched prediction is a dense map (more than one axis per sample: (B, C, H, W), (B, H, W),
    (B, T, C) ...) rather than class scores / values (B, K) or (B,)."""
    return prediction.ndim >= 3


def dense_channel_axis(
    wrapper: ModelWrapper, prediction: np.ndarray, labels: list[str] | None, declared: int | None = None
) -> int | None:
    """The batched channel (class) axis of a dense prediction, ``None`` for a single-channel (B, H, W) map.

    ``declared`` (a batched axis, negative allowed) wins. Else: the axis whose size is the number of
    ``labels`` (last axis first); else for 4-D the model's layout (axis 1 for NCHW: ONNX and torch,
    axis 3 for NHWC: Keras); else the last axis of a (B, T, C) map is taken for channels only if labels say so.
    """
    nd = prediction.ndim
    if declared is not None:
        return declared % nd
    if labels:
        for axis in (nd - 1, 1):
            if prediction.shape[axis] == len(labels):
                return axis
    if nd == 4:
        return 3 if wrapper.internal_layout == "NHWC" else 1
    return None


def _to_channels_first(prediction: np.ndarray, axis: int | None) -> np.ndarray:
    """(B, C, *S) view of a dense prediction (C = 1 when it has no channel axis)."""
    return prediction[:, None] if axis is None else np.moveaxis(prediction, axis, 1)


def _positive(channels: np.ndarray, c: int) -> np.ndarray:
    """(B, *S) bool: where channel ``c`` is predicted (argmax over channels; one channel: > 0.5 for
    probabilities in [0, 1], else > 0 for logits)."""
    if channels.shape[1] > 1:
        return np.asarray(channels.argmax(axis=1) == c)
    single = channels[:, 0]
    threshold = 0.5 if single.min() >= 0 and single.max() <= 1 else 0.0
    return np.asarray(single > threshold)


def _main_channel(channels: np.ndarray, labels: list[str] | None) -> list[int]:
    """Per sample: the channel with the most predicted-positive positions, never a background-labeled one."""
    n, c = channels.shape[:2]
    if c == 1:
        return [0] * n
    allowed = [k for k in range(c) if not (labels and k < len(labels) and labels[k].lower() in BACKGROUND_LABELS)]
    winners = channels.argmax(axis=1).reshape(n, -1)
    counts = np.stack([(winners == k).sum(1) for k in range(c)], axis=1)
    return [int(allowed[int(np.argmax(counts[i, allowed]))]) for i in range(n)]


@dataclass
class ResolvedTargets:
    """What is explained per sample: ``classes`` (class / channel index, -1 for the loss or an element),
    ``weights`` (B, *output shape) float32 (``None`` for the loss), and one sentence per sample."""

    classes: list[int]
    weights: np.ndarray | None
    descriptions: list[str]
    dense: bool


def _named(what: str, c: int, labels: list[str] | None) -> str:
    """'class 3 (cat)'; 'class 3' when there is no label or the label is the index itself."""
    label = labels[c] if labels and c < len(labels) else None
    return f"{what} {c}" if label is None or label == str(c) else f"{what} {c} ({label})"


def _name(c: int, labels: list[str] | None) -> str:
    return _named("channel", c, labels)


def _class_name(c: int, labels: list[str] | None) -> str:
    return _named("class", c, labels)


def _score_words(c: int, default: bool, labels: list[str] | None, kind: str | None, size: int) -> str:
    """'predicted class 3 (cat) score', 'label 2 (dog) score', 'output value 0'..."""
    if kind == "regression" or (kind is None and size == 1 and not labels):
        return "the output value" if size == 1 else f"output value {c}"
    if kind == "multilabel":
        return f"{_named('label', c, labels)} score"
    return ("predicted " if default else "") + _class_name(c, labels) + " score"


def binary_class_names(size: int, labels: list[str] | None, kind: str | None) -> list[str] | None:
    """``["not L", "L"]`` for a binary sigmoid class output (one value per sample, one label ``L``, kind
    ``class`` or undeclared), else ``None``."""
    if size == 1 and labels is not None and len(labels) == 1 and kind in (None, "class"):
        return class_names(labels)
    return None


def binary_class_values(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """(n,) scores of a binary output -> ((n, 2) float64 scores of ``not L`` and ``L``, whether they are
    probabilities). Probabilities (every value in [0, 1]): ``1 - p`` and ``p``; logits: ``-z`` and ``z``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    probability = bool(v.size) and float(v.min()) >= 0.0 and float(v.max()) <= 1.0
    return np.stack([1.0 - v if probability else -v, v], axis=1), probability


def _binary_words(c: int, default: bool, names: list[str], value: float, probability: bool) -> str:
    """'predicted class 0 (not benign) score 1 - p = 0.555 (p = 0.445: the sigmoid output of benign)'..."""
    head = ("predicted " if default else "") + f"class {c} ({names[c]}) score "
    positive = names[1]
    if probability:
        p = value
        formula = f"1 - p = {1 - p:.3g} (p = {p:.3g}: the sigmoid output of {positive})" if c == 0 else f"p = {p:.3g}"
    else:
        formula = f"-z = {-value:.3g} (z = {value:.3g}: the logit of {positive})" if c == 0 else f"z = {value:.3g}"
    return head + formula


def _valid_targets(prediction: np.ndarray, labels: list[str] | None, dense: bool) -> str:
    shape = tuple(prediction.shape[1:])
    named = f", labels {', '.join(labels)}" if labels else ""
    element = f", element:i,j,... (an index of the per-sample output shape {shape})"
    if dense:
        return f"a channel index{named}{element}, loss or loss:NAME"
    binary = binary_class_names(int(np.prod(shape, dtype=np.int64)), labels, None)
    if binary is not None:
        return f"classes 0 ({binary[0]}) and 1 ({binary[1]}), by index or name{element}, or loss"
    n = int(np.prod(shape, dtype=np.int64))
    return f"class indices 0..{n - 1}{named}{element}, or loss" if n > 0 else "none (the output is empty)"


def _region_mask(region: Any, spatial: tuple[int, ...], n: int, name: str = "") -> tuple[np.ndarray, str]:
    """(B, *spatial) bool mask of a user region (mask array or :class:`Box`), and its description.

    A mask of another (H, W) size (drawn on the input image, say) is resized bilinearly to the output map."""
    if isinstance(region, Box):
        if len(spatial) != 2:
            raise LeapscopeError(f"explain: a box region needs a 2-D (H, W) output map; this output's map is {spatial}")
        h, w = int(spatial[0]), int(spatial[1])
        clipped = Box(max(0, region.x0), max(0, region.y0), min(w, region.x1), min(h, region.y1))
        if clipped.x1 <= clipped.x0 or clipped.y1 <= clipped.y0:
            raise LeapscopeError(
                f"explain: {region} lies outside the output map ({w} wide, {h} high); fix: give a box inside "
                f"x 0..{w - 1}, y 0..{h - 1} (output pixels, end exclusive), e.g. --region box:0,0,{w},{h}"
            )
        return np.broadcast_to(clipped.mask((h, w)), (n, *spatial)), str(clipped)
    mask = np.asarray(region, dtype=np.float32)
    if mask.ndim == len(spatial):
        mask = mask[None]
    if mask.ndim != len(spatial) + 1 or len(mask) not in (1, n) or (mask.shape[1:] != spatial and len(spatial) != 2):
        raise LeapscopeError(
            f"explain: the region mask has shape {np.asarray(region).shape}, the output map is {tuple(spatial)} per "
            f"sample ({n} samples); fix: give an (H, W) mask (resized to the map), or one per sample (B, H, W)"
        )
    if mask.shape[1:] != spatial:
        from leapscope.analysis.attribution.cam import upsample

        mask = upsample(mask, (int(spatial[0]), int(spatial[1])))
    return np.broadcast_to(mask > 0.5, (n, *spatial)), name or "the given mask"


def resolve_targets(
    wrapper: ModelWrapper,
    inputs: list[np.ndarray],
    target: Any,
    out_index: int,
    labels: list[str] | None,
    *,
    region: Any = None,
    region_name: str | None = None,
    output_channel_axis: int | None = None,
    prediction: np.ndarray | None = None,
    kind: str | None = None,
) -> ResolvedTargets:
    """What is explained for each sample (see the module docstring).

    Parameters
    ----------
    target : None, int, str, list of int or :class:`Target`; see :func:`parse_target` (not a loss here)
    region : None, ``"positive"`` (default for dense outputs), ``"all"``, a :class:`Box`, or a mask:
        of the output map's spatial shape ((H, W) or (B, H, W); other sizes are resized bilinearly),
        or of the output's own per-sample shape (a ground-truth mask: its explained channel is used)
    region_name : how a mask region is named in the descriptions (e.g. "the ground-truth mask 'mask'")
    output_channel_axis : the batched class axis of a dense output (see :func:`dense_channel_axis`)
    prediction : the output ``out_index`` for ``inputs`` when already computed
    kind : the output's declared kind (``"dense"``, ``"class"``, ``"multilabel"``, ``"regression"``...);
        ``None``: dense when the output has more than one axis per sample (:func:`is_dense`)

    Raises
    ------
    LeapscopeError
        An unknown label, an index out of range, a region on a class output, an element index of the
        wrong rank; the message lists the valid targets.
    """
    n = len(inputs[0])
    pred = prediction if prediction is not None else wrapper.predict(inputs)[out_index]
    pred = np.asarray(pred)
    dense = kind == "dense" or (kind is None and is_dense(pred))
    if isinstance(target, list | tuple) and not isinstance(target, str):
        targets = [int(t) for t in target]
        if len(targets) != n:
            raise LeapscopeError(
                f"explain: {len(targets)} targets for {n} samples; fix: give one target per sample, or one for all"
            )
        parsed = [Target("class", index=t) for t in targets]
    else:
        parsed = [parse_target(target)] * n
    if parsed[0].kind == "loss":
        raise LeapscopeError("explain: a loss target is resolved by explain(), not resolve_targets()")
    if parsed[0].kind == "element":
        if region not in (None, "positive"):
            raise LeapscopeError("explain: a region does not apply to an element target (it is one value)")
        return _element(pred, parsed[0].element or (), labels, dense)
    if not dense:
        return _class_targets(pred, parsed, labels, kind, region, out_index)
    return _dense_targets(wrapper, pred, parsed, labels, region, region_name, output_channel_axis)


def _class_targets(
    pred: np.ndarray, parsed: list[Target], labels: list[str] | None, kind: str | None, region: Any, out_index: int
) -> ResolvedTargets:
    """One-hot weights on each sample's class of a (B, K) output."""
    n = len(pred)
    if region is not None:
        raise LeapscopeError(
            f"explain: a region applies to dense (per-pixel / per-token) outputs; output {out_index} has "
            f"shape {tuple(pred.shape)} (class scores); fix: drop --region"
        )
    flat = pred.reshape(n, -1)
    names = binary_class_names(flat.shape[1], labels, kind)
    if names is not None:
        return _binary_targets(pred, parsed, names)
    classes = [
        int(flat[i].argmax()) if t.kind == "default" else _class_index(t, flat.shape[1], labels, pred, False)
        for i, t in enumerate(parsed)
    ]
    weights = np.zeros(flat.shape, np.float32)
    weights[np.arange(n), classes] = 1.0
    words = [
        _score_words(c, t.kind == "default", labels, kind, flat.shape[1]) for c, t in zip(classes, parsed, strict=True)
    ]
    return ResolvedTargets(classes, weights.reshape(pred.shape), words, False)


def _binary_targets(pred: np.ndarray, parsed: list[Target], names: list[str]) -> ResolvedTargets:
    """A binary sigmoid output (B, 1): class 1 (``L``) is the score itself (``W = +1``), class 0 (``not L``)
    its negative (``W = -1``: ``1 - p`` for probabilities, ``-z`` for logits). Default: the predicted class
    (``p > 0.5`` / ``z > 0``)."""
    values = pred.reshape(len(pred), -1)[:, 0].astype(np.float64)
    scores, probability = binary_class_values(values)
    # ties (p = 0.5, z = 0) go to class 0, as in the run's label column (p > 0.5 / z > 0 is ``L``)
    classes = [
        int(scores[i].argmax()) if t.kind == "default" else _binary_index(t, names, pred) for i, t in enumerate(parsed)
    ]
    signs = np.where(np.asarray(classes) == 1, 1.0, -1.0).astype(np.float32)
    weights = signs.reshape(len(pred), *([1] * (pred.ndim - 1))) * np.ones(pred.shape, np.float32)
    words = [
        _binary_words(c, t.kind == "default", names, float(values[i]), probability)
        for i, (c, t) in enumerate(zip(classes, parsed, strict=True))
    ]
    return ResolvedTargets(classes, weights, words, False)


def _binary_index(t: Target, names: list[str], pred: np.ndarray) -> int:
    """The class (0: ``not L``, 1: ``L``) a target names: a class name, or 0 / 1."""
    if t.label is not None:
        if t.label in names:
            return names.index(t.label)
        if t.label.isdigit() and int(t.label) in (0, 1):
            return int(t.label)
    elif t.index in (0, 1):
        return int(t.index or 0)
    given = t.label if t.label is not None else t.index
    raise LeapscopeError(
        f"explain: target {given!r} is not a class of this binary output; valid targets: "
        f"{_valid_targets(pred, names[1:], False)}; fix: pass one of them (--target in the CLI, e.g. "
        f"--target {names[1]!r} or --target {names[0]!r})"
    )


def _dense_targets(
    wrapper: ModelWrapper,
    pred: np.ndarray,
    parsed: list[Target],
    labels: list[str] | None,
    region: Any,
    region_name: str | None,
    output_channel_axis: int | None,
) -> ResolvedTargets:
    """Weights on one channel of a dense output, over the region's positions, per sample."""
    n, dense = len(pred), True
    axis = dense_channel_axis(wrapper, pred, labels, output_channel_axis)
    channels = _to_channels_first(pred, axis)
    n_channels = channels.shape[1]
    if parsed[0].kind == "default":
        classes = _main_channel(channels, labels)
    else:
        classes = [_class_index(t, n_channels, labels, pred, dense) for t in parsed]
    spatial = tuple(channels.shape[2:])
    chosen = region if region is not None else "positive"
    weights_cf = np.zeros(channels.shape, np.float32)
    words = []
    if isinstance(chosen, str) and chosen not in REGIONS:
        raise LeapscopeError(f"explain: unknown region {chosen!r}; regions: {', '.join(REGIONS)}, a mask or a box")
    user_mask = None
    if not isinstance(chosen, str):
        array = chosen if isinstance(chosen, Box) else np.asarray(chosen)
        if isinstance(array, np.ndarray) and array.shape[1:] == pred.shape[1:] and len(array) in (1, n):
            # a mask in the output's own shape (a ground truth): the explained channel of it, per sample
            per_channel = _to_channels_first(np.broadcast_to(array, pred.shape), axis)
            array = np.stack([per_channel[i, c] for i, c in enumerate(classes)])
        user_mask, where = _region_mask(array, spatial, n, region_name or "")
    for i, c in enumerate(classes):
        if user_mask is not None:
            mask, text = user_mask[i], f"inside {where} ({int(user_mask[i].sum())} of {user_mask[i].size} pixels)"
        elif chosen == "all":
            mask, text = np.ones(spatial, bool), "over all pixels"
        else:
            mask = _positive(channels[i : i + 1], c)[0]
            text = f"over predicted-positive pixels ({int(mask.sum())} of {mask.size})"
            if not mask.any():
                mask, text = np.ones(spatial, bool), "over all pixels (no pixel is predicted positive)"
        weights_cf[i, c] = mask
        words.append(f"sum of {_name(c, labels)} {text}")
    weights = weights_cf[:, 0] if axis is None else np.moveaxis(weights_cf, 1, axis)
    return ResolvedTargets(classes, np.ascontiguousarray(weights), words, True)


def _class_index(t: Target, size: int, labels: list[str] | None, pred: np.ndarray, dense: bool) -> int:
    if t.label is not None:
        if t.label.isdigit() and (labels is None or t.label not in labels):
            index = int(t.label)
        elif labels is not None and t.label in labels:
            return labels.index(t.label)
        else:
            raise LeapscopeError(
                f"explain: target {t.label!r} is not a label of the prediction; valid targets: "
                f"{_valid_targets(pred, labels, dense)}; fix: pass one of them (--target in the CLI)"
            )
    else:
        index = int(t.index or 0)
    if not 0 <= index < size:
        what = "channel(s)" if dense else "value(s)"
        raise LeapscopeError(
            f"explain: target {index} is out of range: the output has {size} {what} per sample; valid targets: "
            f"{_valid_targets(pred, labels, dense)}; fix: pass a target in that range (--target in the CLI)"
        )
    return index


def _element(pred: np.ndarray, element: tuple[int, ...], labels: list[str] | None, dense: bool) -> ResolvedTargets:
    shape = tuple(pred.shape[1:])
    if len(element) != len(shape) or any(not 0 <= e < s for e, s in zip(element, shape, strict=False)):
        raise LeapscopeError(
            f"explain: element:{','.join(map(str, element))} is not an index of the per-sample output shape {shape}; "
            f"fix: give {len(shape)} integer(s), each below its axis size, e.g. element:{','.join('0' * len(shape))}"
        )
    n = len(pred)
    weights = np.zeros(pred.shape, np.float32)
    weights.reshape(n, -1)[:, int(np.ravel_multi_index(element, shape))] = 1.0
    word = f"output value at {list(element)}"
    return ResolvedTargets([-1] * n, weights, [word] * n, dense)
