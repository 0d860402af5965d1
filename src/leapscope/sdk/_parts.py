"""One class per part of an integration (:class:`Preprocess`, :class:`InputEncoder`, :class:`Metric`, ...,
:class:`ModelLoader` with its :class:`Prediction` s): the options each declaration keeps and checks.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._declared import Decorated, Kind
from leapscope.sdk._visuals import Visual, VisualizerType

__all__ = [
    "Direction",
    "GroundTruthEncoder",
    "InputEncoder",
    "IntegrationTest",
    "Loss",
    "Metadata",
    "MetadataScalar",
    "Metric",
    "ModelLoader",
    "Prediction",
    "Preprocess",
    "UnlabeledPreprocess",
    "Visualizer",
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


@dataclass(frozen=True)
class Prediction:
    """One output of the model.

    Parameters
    ----------
    name : str
        e.g. ``"classes"``.
    labels : list of str, optional
        Class names along ``channel_dim`` (for classification outputs).
    channel_dim : int, default -1
        The class/channel axis of the unbatched output.
    """

    name: str
    labels: list[str] | None = None
    channel_dim: int = -1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "channel_dim": self.channel_dim}


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
