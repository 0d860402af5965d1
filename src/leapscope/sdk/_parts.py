"""One class per part of an integration (:class:`Preprocess`, :class:`InputEncoder`, :class:`Metric`, ...,
:class:`ModelLoader` with its :class:`Prediction` s): the options each declaration keeps and checks.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._declared import Decorated, Kind
from leapscope.sdk._visuals import Visual, VisualizerType

__all__ = [
    "Direction",
    "GroundTruthEncoder",
    "InputEncoder",
    "MAX_REGRESSION_VALUES",
    "PREDICTION_KINDS",
    "IntegrationTest",
    "Loss",
    "Metadata",
    "MetadataScalar",
    "Metric",
    "ModelLoader",
    "Prediction",
    "PredictionKind",
    "Preprocess",
    "UnlabeledPreprocess",
    "Visualizer",
    "class_names",
    "infer_kind",
    "kind_mismatch",
]


class Preprocess(Decorated):
    """``@ls.preprocess``: returns the subsets (runs once)."""

    kind = Kind.PREPROCESS

    def __init__(self, function: Callable[..., Any]):
        super().__init__(function, "preprocess", n_params=0)


class UnlabeledPreprocess(Decorated):
    """``@ls.unlabeled_preprocess``: returns one subset of unlabeled samples."""

    kind = Kind.UNLABELED_PREPROCESS

    def __init__(self, function: Callable[..., Any]):
        super().__init__(function, "unlabeled_preprocess", n_params=0)


class InputEncoder(Decorated):
    """``@ls.input_encoder(name, channel_dim=-1)``: one sample -> float32 array, no batch axis.

    ``channel_dim`` is the channel axis of the unbatched sample (``-1`` for HWC
    images, ``0`` for CHW); ``None`` for inputs without channels (tokens, tables).
    ``dtype`` is ``"float32"`` unless the model takes integers (token ids:
    ``"int64"`` or ``"int32"``).
    """

    kind = Kind.INPUT

    def __init__(self, function: Callable[..., Any], name: str, channel_dim: int | None = -1, dtype: str = "float32"):
        if dtype not in ("float32", "int64", "int32"):
            raise IntegrationDefinitionError(
                f"@input_encoder('{name}', dtype={dtype!r}): expected 'float32', 'int64' or 'int32'"
            )
        self.channel_dim = channel_dim
        self.dtype = dtype
        super().__init__(function, name, n_params=2)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "channel_dim": self.channel_dim, "dtype": self.dtype}


class GroundTruthEncoder(Decorated):
    """``@ls.gt_encoder(name)``: one sample's ground truth -> float32 array, no batch axis."""

    kind = Kind.GROUND_TRUTH

    def __init__(self, function: Callable[..., Any], name: str):
        super().__init__(function, name, n_params=2)


MetadataScalar = int | float | str | bool | None


class Metadata(Decorated):
    """``@ls.metadata(name, dtype=None)``: a scalar, or a flat dict -> columns ``name_key``.

    ``dtype`` (``"int"``, ``"float"``, ``"str"``, ``"bool"``) fixes the column type;
    by default it is taken from the first sample and must then stay the same.
    """

    kind = Kind.METADATA

    def __init__(self, function: Callable[..., Any], name: str, dtype: str | type | None = None):
        self.dtype = _metadata_dtype(name, dtype)
        super().__init__(function, name, n_params=2)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": self.dtype}


def _metadata_dtype(name: str, dtype: str | type | None) -> str | None:
    if dtype is None:
        return None
    value = dtype.__name__ if isinstance(dtype, type) else str(dtype)
    if value not in ("int", "float", "str", "bool"):
        raise IntegrationDefinitionError(
            f"@metadata('{name}', dtype={dtype!r}): unknown dtype; expected 'int', 'float', 'str' or 'bool'"
        )
    return value


class Visualizer(Decorated):
    """``@ls.visualizer(name, type, heatmap=None)``: ONE sample -> a visual (``ls.Image``...).

    ``type`` may be left out when the function's return annotation names a visual
    class (``-> ls.Image``). ``heatmap`` optionally names a function that turns an
    attribution map of the visualized input into this visual's heatmap.
    """

    kind = Kind.VISUALIZER

    def __init__(
        self,
        function: Callable[..., Any],
        name: str,
        visualizer_type: VisualizerType | str | None = None,
        heatmap: Callable[..., Any] | None = None,
    ):
        self.heatmap = heatmap
        super().__init__(function, name, n_params=None, min_params=1)
        self.visualizer_type = _visualizer_type(self, visualizer_type)

    @property
    def result_class(self) -> type[Visual]:
        """The visual class this visualizer must return."""
        return self.visualizer_type.result_class

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "visualizer_type": self.visualizer_type.value}


def _visualizer_type(vis: Visualizer, declared: VisualizerType | str | None) -> VisualizerType:
    annotated: type[Visual] | None = None
    try:
        hints = typing.get_type_hints(vis.function)
    except Exception:  # noqa: BLE001 - unresolvable annotations only matter if no type was declared
        hints = {}
    ret = hints.get("return")
    if isinstance(ret, type) and issubclass(ret, Visual) and ret is not Visual:
        annotated = ret
    if declared is None:
        if annotated is None:
            raise IntegrationDefinitionError(
                f"@visualizer('{vis.name}') on '{vis.__name__}' ({vis.location}): no visualizer type; "
                "fix: pass one, e.g. @ls.visualizer('image', ls.VisualizerType.IMAGE), or annotate -> ls.Image"
            )
        return annotated.type
    try:
        vtype = VisualizerType(declared)
    except ValueError:
        raise IntegrationDefinitionError(
            f"@visualizer('{vis.name}') on '{vis.__name__}': unknown type {declared!r}; expected one of "
            + ", ".join(t.value for t in VisualizerType)
        ) from None
    if annotated is not None and annotated.type is not vtype:
        raise IntegrationDefinitionError(
            f"@visualizer('{vis.name}') on '{vis.__name__}' ({vis.location}): declared type '{vtype.value}' "
            f"but annotated to return {annotated.__name__}; fix: make them agree"
        )
    return vtype


Direction = Literal["higher", "lower"]


class Metric(Decorated):
    """``@ls.metric(name, direction="higher", compute_insights=True)``: a batch -> (B,) values.

    Returns an ndarray of shape (B,), a dict of (B,) arrays (one column per key,
    ``direction`` may then be a dict per key), or one list of
    :class:`ConfusionMatrixElement` per sample.
    """

    kind = Kind.METRIC

    def __init__(
        self,
        function: Callable[..., Any],
        name: str,
        direction: Direction | Mapping[str, Direction] = "higher",
        compute_insights: bool = True,
    ):
        directions = direction.values() if isinstance(direction, Mapping) else [direction]
        for d in directions:
            if d not in ("higher", "lower"):
                raise IntegrationDefinitionError(
                    f"@metric('{name}'): direction {d!r} must be 'higher' or 'lower' (which values are better)"
                )
        self.direction = direction
        self.compute_insights = compute_insights
        super().__init__(function, name, n_params=None, min_params=1)

    def direction_of(self, key: str | None = None) -> Direction:
        """Whether higher or lower values of column ``key`` are better."""
        if isinstance(self.direction, Mapping):
            return self.direction.get(key or "", "higher")
        return self.direction

    def describe(self) -> dict[str, Any]:
        direction = dict(self.direction) if isinstance(self.direction, Mapping) else self.direction
        return {**super().describe(), "direction": direction, "compute_insights": self.compute_insights}


class Loss(Decorated):
    """``@ls.loss(name)``: a batch -> (B,) loss values (lower is better)."""

    kind = Kind.LOSS

    def __init__(self, function: Callable[..., Any], name: str):
        super().__init__(function, name, n_params=None, min_params=1)


PredictionKind = Literal["class", "multilabel", "dense", "boxes", "regression"]
#: every prediction kind, in the order ``check`` lists them
PREDICTION_KINDS: tuple[PredictionKind, ...] = ("class", "multilabel", "dense", "boxes", "regression")
#: a label-less 1-D output with at most this many values per sample is inferred as regression values
MAX_REGRESSION_VALUES = 16


@dataclass(frozen=True)
class Prediction:
    """One output of the model.

    Parameters
    ----------
    name : str
        e.g. ``"classes"``.
    labels : list of str, optional
        Class names along ``channel_dim`` (for classification, multi-label and per-class dense outputs).
    channel_dim : int, optional
        The class/channel axis of the unbatched output. Default: found from the first real
        prediction by :func:`class_axis` (the last axis when it holds one value per label, else the
        first that does: a (3, H, W) NCHW map with 3 labels gets 0, an (H, W, 3) one gets -1).
    kind : {"class", "multilabel", "dense", "boxes", "regression"}, optional
        What the output holds, per sample: ``"class"`` scores (C,) of one class; ``"multilabel"``
        scores (C,) of independent labels (a label is on above 0.5); ``"dense"`` a map with a channel
        axis, per pixel or per token, e.g. (1, H, W) or (T, C); ``"boxes"`` (N, 4+) boxes;
        ``"regression"`` a few real values, () or (k,). Default: inferred from the output's shape and
        ``labels`` by :func:`infer_kind` (``leapscope check`` shows the kind it uses). A one-value
        output with one label, ``ls.Prediction("p", labels=["dog"])``, is a binary (sigmoid) class score:
        its class label is ``dog`` above 0.5 (0 for logits), else ``not dog`` (:func:`class_names`).
    kind_hint, hint_source : optional
        Set by a front door, not by users: the kind the Tensorleap adapter reads from how the
        integration draws this output (an ``ImageMask`` visualizer -> ``"dense"``), and where from. Used
        instead of the inferred kind when the output's shape fits it; ``kind`` always wins.
    axis_default_of : optional
        Set by a front door: the platform whose default class axis ``channel_dim=None`` stands for
        (``"code-loader"``: -1), so ``check`` can warn when leapscope finds the labels elsewhere.

    Raises
    ------
    IntegrationDefinitionError
        An unknown ``kind``.
    """

    name: str
    labels: list[str] | None = None
    channel_dim: int | None = None
    kind: PredictionKind | None = None
    kind_hint: PredictionKind | None = field(default=None, compare=False, repr=False)
    hint_source: str | None = field(default=None, compare=False, repr=False)
    axis_default_of: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in PREDICTION_KINDS:
            raise IntegrationDefinitionError(
                f"ls.Prediction('{self.name}', kind={self.kind!r}): unknown kind; expected one of "
                + ", ".join(repr(k) for k in PREDICTION_KINDS)
            )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "channel_dim": self.channel_dim, "kind": self.kind}

    def resolve_kind(self, sample_shape: tuple[int, ...]) -> PredictionKind:
        """The declared ``kind``, else :func:`infer_kind` of one sample's shape (no batch axis)."""
        return self.kind or infer_kind(sample_shape, self.labels, self.channel_dim)


def class_names(labels: list[str]) -> list[str]:
    """The class names a class output's label column takes: ``labels``, or for ONE label (a binary sigmoid
    score) ``["not <label>", "<label>"]``."""
    return [f"not {labels[0]}", labels[0]] if len(labels) == 1 else list(labels)


def class_axis(
    sample_shape: Sequence[int | None], labels: Sequence[str] | None = None, channel_dim: int | None = None
) -> int:
    """The class/channel axis of one unbatched output of shape ``sample_shape``: ``channel_dim`` when given.

    Otherwise, with ``labels``: the last axis when it holds one value per label, else the first axis
    that does (a channel-first (C, H, W) map); with no label count to match, or none that fits, -1
    (the validation of ``labels`` then names the mismatch). Without labels, a 3-D map whose first
    axis is shorter than its last is read as channel-first, (C, H, W) -> 0; else -1. Sizes may be
    None (an ONNX dynamic axis): such an axis never matches.
    """
    if channel_dim is not None:
        return channel_dim
    shape = list(sample_shape)
    if labels:
        fits = [axis for axis, size in enumerate(shape) if size == len(labels)]
        if not fits or fits[-1] == len(shape) - 1:
            return -1
        return fits[0]
    if len(shape) == 3 and shape[0] is not None and shape[-1] is not None and shape[0] < shape[-1]:
        return 0
    return -1


def _spatial_dims(sample_shape: tuple[int, ...], channel_dim: int | None, labels: list[str] | None = None) -> list[int]:
    """The sizes of the non-channel axes of one sample (the channel axis left out when it exists)."""
    ndim = len(sample_shape)
    axis = class_axis(sample_shape, labels, channel_dim)
    channel = axis % ndim if ndim and -ndim <= axis < ndim else None
    return [size for i, size in enumerate(sample_shape) if i != channel]


def infer_kind(
    sample_shape: tuple[int, ...], labels: list[str] | None = None, channel_dim: int | None = None
) -> PredictionKind:
    """The kind of an output whose one sample has shape ``sample_shape`` (no batch axis).

    Rules, in order: a scalar -> ``"regression"``; with ``labels``, one value per label ->
    ``"class"``; an output with 2+ axes of which at least one non-channel axis is longer than 1
    (an image map (1, H, W) / (H, W, C), a token map (T, C)) -> ``"dense"``; without labels, a
    vector of at most :data:`MAX_REGRESSION_VALUES` values -> ``"regression"``; any other vector
    -> ``"class"`` (scores of unnamed classes). ``"multilabel"`` and ``"boxes"`` are never
    inferred: declare them with ``ls.Prediction(name, kind=...)``.
    """
    size = int(np.prod(sample_shape, dtype=np.int64)) if sample_shape else 1
    if not sample_shape:
        return "regression"
    if labels and size == len(labels):
        return "class"
    if len(sample_shape) >= 2 and any(s > 1 for s in _spatial_dims(sample_shape, channel_dim, labels)):
        return "dense"
    if not labels and size <= MAX_REGRESSION_VALUES:
        return "regression"
    return "class"


def kind_mismatch(
    kind: PredictionKind,
    sample_shape: tuple[int, ...],
    labels: list[str] | None = None,
    channel_dim: int | None = None,
) -> tuple[str, str] | None:
    """(expected shape, fix) when an output of one-sample shape ``sample_shape`` cannot hold ``kind``; else None.

    ``class`` / ``multilabel``: a vector (C,) (extra axes of size 1 allowed); ``dense``: 2+ axes with a
    non-channel axis longer than 1; ``boxes``: (N, 4+); ``regression``: a scalar or a vector. The
    fix names the kind :func:`infer_kind` would choose.
    """
    size = int(np.prod(sample_shape, dtype=np.int64)) if sample_shape else 1
    long_axes = [s for s in sample_shape if s > 1]
    inferred = infer_kind(sample_shape, labels, channel_dim)
    fix = f"declare kind='{inferred}' (or leave kind out: leapscope infers '{inferred}' from this shape)"
    if kind in ("class", "multilabel"):
        if len(long_axes) <= 1 and (not labels or size == len(labels)):
            return None
        n = len(labels) if labels else "C"
        return f"one score per {'class' if kind == 'class' else 'label'}: shape ({n},)", fix
    if kind == "dense":
        if len(sample_shape) >= 2 and any(s > 1 for s in _spatial_dims(sample_shape, channel_dim, labels)):
            return None
        return "a map with a channel axis, e.g. (1, H, W), (C, H, W) or (T, C)", fix
    if kind == "boxes":
        if len(sample_shape) == 2 and sample_shape[-1] >= 4:
            return None
        return "(N, 4+) boxes: x1, y1, x2, y2 (then score, class...) per row", fix
    if len(long_axes) <= 1:  # regression
        return None
    return "a scalar or a vector of values, shape () or (k,)", fix


class ModelLoader(Decorated):
    """``@ls.load_model(predictions=[...])``: returns a path or a model object.

    Inside the integration test, ``model()`` returns the loaded model: call it
    with one batch (``model()(x)``) or a list of batches for several inputs
    (``model()([a, b])``); a model with several outputs returns a list.
    """

    kind = Kind.MODEL

    def __init__(self, function: Callable[..., Any], predictions: list[Prediction] | None = None):
        self.predictions = list(predictions or [])
        names = [p.name for p in self.predictions]
        if len(set(names)) != len(names):
            raise IntegrationDefinitionError(f"@load_model: prediction names {names} are not unique")
        super().__init__(function, "model", n_params=0)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "predictions": [p.describe() for p in self.predictions]}


class IntegrationTest(Decorated):
    """``@ls.integration_test``: ``test(sample_id, subset)`` wires encoders, model, metrics."""

    kind = Kind.INTEGRATION_TEST

    def __init__(self, function: Callable[..., Any]):
        super().__init__(function, "integration_test", n_params=2)
