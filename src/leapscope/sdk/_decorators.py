"""Decorators that declare an integration, and the registry that collects them.

Each decorator wraps the user's function in a small callable object (an
:class:`InputEncoder`, a :class:`Metric`, ...) that keeps the declaration (name,
options, source line) next to the function. Calling the object calls the function,
except inside the integration test, where leapscope's test runner intercepts the
call (to batch encoder outputs, run the real model, or trace the wiring).

Which functions form one integration is decided by :class:`Integration`, a plain
registry. ``leapscope.integration.load`` activates a fresh registry while it imports
the user's module, so two integrations loaded in one process never mix; a module
imported by hand can be collected with :meth:`Integration.from_module`.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, Protocol

from leapscope.exceptions import IntegrationDefinitionError
from leapscope.sdk._visuals import Visual, VisualizerType

__all__ = [
    "Decorated",
    "GroundTruthEncoder",
    "InputEncoder",
    "Integration",
    "IntegrationTest",
    "Kind",
    "Loss",
    "Metadata",
    "Metric",
    "ModelLoader",
    "Prediction",
    "Preprocess",
    "Visualizer",
    "gt_encoder",
    "input_encoder",
    "integration_test",
    "load_model",
    "loss",
    "metadata",
    "metric",
    "preprocess",
    "unlabeled_preprocess",
    "visualizer",
]


class Kind(enum.StrEnum):
    """The part of an integration a decorated function plays."""

    PREPROCESS = "preprocess"
    UNLABELED_PREPROCESS = "unlabeled_preprocess"
    INPUT = "input"
    GROUND_TRUTH = "ground_truth"
    METADATA = "metadata"
    VISUALIZER = "visualizer"
    METRIC = "metric"
    LOSS = "loss"
    MODEL = "model"
    INTEGRATION_TEST = "integration_test"


class TestContext(Protocol):
    """What the integration-test runner provides while the test function runs."""

    def call(self, target: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


_ACTIVE_TEST: contextvars.ContextVar[TestContext | None] = contextvars.ContextVar("leapscope_test", default=None)
_ACTIVE_REGISTRY: contextvars.ContextVar[Integration | None] = contextvars.ContextVar("leapscope_registry", default=None)


@contextlib.contextmanager
def test_context(ctx: TestContext) -> Iterator[None]:
    """Route calls of decorated functions through ``ctx`` (used by the test runner)."""
    token = _ACTIVE_TEST.set(ctx)
    try:
        yield
    finally:
        _ACTIVE_TEST.reset(token)


@contextlib.contextmanager
def collecting(registry: Integration) -> Iterator[Integration]:
    """Register every decorated function defined inside the block into ``registry``."""
    token = _ACTIVE_REGISTRY.set(registry)
    try:
        yield registry
    finally:
        _ACTIVE_REGISTRY.reset(token)


class Decorated:
    """A user function plus its declaration. Calling it calls the function."""

    kind: Kind

    def __init__(self, function: Callable[..., Any], name: str, *, n_params: int | None, min_params: int = 0):
        if not callable(function):
            raise IntegrationDefinitionError(
                f"@{self.kind.value}('{name}') decorates {function!r}, which is not callable; "
                "fix: put the decorator directly above a def"
            )
        if not isinstance(name, str) or not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise IntegrationDefinitionError(
                f"@{self.kind.value} on '{getattr(function, '__name__', function)}': name {name!r} is not a plain "
                "identifier; fix: use letters, digits, '_' or '-', e.g. 'image'"
            )
        self.function = function
        self.name = name
        self.__name__ = getattr(function, "__name__", name)
        self.__doc__ = function.__doc__
        self.__wrapped__ = function
        code = getattr(function, "__code__", None)
        self.filename: str | None = code.co_filename if code else None
        self.lineno: int | None = code.co_firstlineno if code else None
        self.params = _positional_params(function)
        if n_params is not None and len(self.params) != n_params:
            raise IntegrationDefinitionError(
                f"@{self.kind.value}('{name}') on '{self.__name__}' ({self.location}): takes "
                f"{len(self.params)} argument(s) {self.params}, expected {n_params}; fix: "
                + _SIGNATURE_HINT[self.kind]
            )
        if len(self.params) < min_params:
            raise IntegrationDefinitionError(
                f"@{self.kind.value}('{name}') on '{self.__name__}' ({self.location}): takes no argument; "
                f"fix: {_SIGNATURE_HINT[self.kind]}"
            )
        registry = _ACTIVE_REGISTRY.get()
        if registry is not None:
            registry.register(self)

    @property
    def location(self) -> str:
        """``file:line`` of the decorated function."""
        return f"{self.filename}:{self.lineno}" if self.filename else "<unknown>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ctx = _ACTIVE_TEST.get()
        if ctx is None:
            return self.function(*args, **kwargs)
        return ctx.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}' ({self.__name__} at {self.location})>"

    def describe(self) -> dict[str, Any]:
        """The declaration as a JSON-ready dict (for manifests and reports)."""
        return {"kind": self.kind.value, "name": self.name, "function": self.__name__, "params": self.params}


_SIGNATURE_HINT = {
    Kind.PREPROCESS: "def subsets() -> list[ls.Subset] takes no argument",
    Kind.UNLABELED_PREPROCESS: "def unlabeled() -> ls.Subset takes no argument",
    Kind.INPUT: "def encoder(sample_id, subset) -> np.ndarray",
    Kind.GROUND_TRUTH: "def gt(sample_id, subset) -> np.ndarray",
    Kind.METADATA: "def meta(sample_id, subset) -> scalar or flat dict",
    Kind.VISUALIZER: "def vis(array, ...) -> ls.Image (one argument per array it shows)",
    Kind.METRIC: "def metric(gt, prediction, ...) -> np.ndarray of shape (B,)",
    Kind.LOSS: "def loss(gt, prediction, ...) -> np.ndarray of shape (B,)",
    Kind.MODEL: "def model() takes no argument and returns a path or a model object",
    Kind.INTEGRATION_TEST: "def test(sample_id, subset) calls the encoders, the model and the metrics",
}


def _positional_params(function: Callable[..., Any]) -> list[str]:
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds and p.default is inspect.Parameter.empty]


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

    def __init__(
        self, function: Callable[..., Any], name: str, channel_dim: int | None = -1, dtype: str = "float32"
    ):
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


# --- decorator functions -------------------------------------------------------


def preprocess(function: Callable[[], Any]) -> Preprocess:
    """Declare the function that returns the subsets (``list[ls.Subset]``).

    It runs once per evaluation and must return at least a ``training`` and a
    ``validation`` subset (plus optionally ``test``).
    """
    return Preprocess(function)


def unlabeled_preprocess(function: Callable[[], Any]) -> UnlabeledPreprocess:
    """Declare the function that returns one ``unlabeled`` subset (no ground truth)."""
    return UnlabeledPreprocess(function)


def input_encoder(
    name: str, channel_dim: int | None = -1, dtype: str = "float32"
) -> Callable[[Callable[..., Any]], InputEncoder]:
    """Declare an input encoder: ``(sample_id, subset) -> float32 ndarray`` of one sample."""
    return lambda function: InputEncoder(function, name, channel_dim, dtype)


def gt_encoder(name: str) -> Callable[[Callable[..., Any]], GroundTruthEncoder]:
    """Declare a ground-truth encoder: ``(sample_id, subset) -> float32 ndarray`` of one sample."""
    return lambda function: GroundTruthEncoder(function, name)


def metadata(name: str, dtype: str | type | None = None) -> Callable[[Callable[..., Any]], Metadata]:
    """Declare metadata: ``(sample_id, subset) -> scalar | dict[str, scalar]``."""
    return lambda function: Metadata(function, name, dtype)


def visualizer(
    name: str, type: VisualizerType | str | None = None, heatmap: Callable[..., Any] | None = None
) -> Callable[[Callable[..., Any]], Visualizer]:
    """Declare a visualizer: one sample's arrays -> a visual of ``type``."""
    return lambda function: Visualizer(function, name, type, heatmap)


def metric(
    name: str, direction: Direction | Mapping[str, Direction] = "higher", compute_insights: bool = True
) -> Callable[[Callable[..., Any]], Metric]:
    """Declare a metric: batched arrays -> ndarray of shape (B,) (or a dict of them)."""
    return lambda function: Metric(function, name, direction, compute_insights)


def loss(name: str) -> Callable[[Callable[..., Any]], Loss]:
    """Declare a loss: batched arrays -> ndarray of shape (B,)."""
    return lambda function: Loss(function, name)


def load_model(predictions: list[Prediction] | None = None) -> Callable[[Callable[[], Any]], ModelLoader]:
    """Declare the model: the function returns a path or a model object."""
    return lambda function: ModelLoader(function, predictions)


def integration_test(function: Callable[..., Any]) -> IntegrationTest:
    """Declare the integration test: ``test(sample_id, subset)``."""
    return IntegrationTest(function)


# --- the registry ----------------------------------------------------------------

_SINGLE = {
    Kind.PREPROCESS: "preprocess",
    Kind.UNLABELED_PREPROCESS: "unlabeled_preprocess",
    Kind.MODEL: "model_loader",
    Kind.INTEGRATION_TEST: "integration_test",
}
_MANY = {
    Kind.INPUT: "input_encoders",
    Kind.GROUND_TRUTH: "gt_encoders",
    Kind.METADATA: "metadata",
    Kind.VISUALIZER: "visualizers",
    Kind.METRIC: "metrics",
    Kind.LOSS: "losses",
}


@dataclass
class Integration:
    """What one integration declared: its decorated functions, by kind and name."""

    name: str = "integration"
    source: str | None = None
    preprocess: Preprocess | None = None
    unlabeled_preprocess: UnlabeledPreprocess | None = None
    input_encoders: dict[str, InputEncoder] = field(default_factory=dict)
    gt_encoders: dict[str, GroundTruthEncoder] = field(default_factory=dict)
    metadata: dict[str, Metadata] = field(default_factory=dict)
    visualizers: dict[str, Visualizer] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    losses: dict[str, Loss] = field(default_factory=dict)
    model_loader: ModelLoader | None = None
    integration_test: IntegrationTest | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def register(self, obj: Decorated) -> None:
        """Add a decorated function.

        Raises
        ------
        IntegrationDefinitionError
            A second function of the same kind and name.
        """
        if obj.kind in _SINGLE:
            attr = _SINGLE[obj.kind]
            current = getattr(self, attr)
            if current is not None and current is not obj:
                raise IntegrationDefinitionError(
                    f"@{obj.kind.value} is declared twice: '{current.__name__}' ({current.location}) and "
                    f"'{obj.__name__}' ({obj.location}); fix: keep one"
                )
            setattr(self, attr, obj)
            return
        table: dict[str, Decorated] = getattr(self, _MANY[obj.kind])
        current = table.get(obj.name)
        if current is not None and current is not obj:
            raise IntegrationDefinitionError(
                f"two {obj.kind.value} functions are named '{obj.name}': '{current.__name__}' ({current.location}) "
                f"and '{obj.__name__}' ({obj.location}); fix: give each a unique name"
            )
        table[obj.name] = obj

    def parts(self) -> Iterator[Decorated]:
        """Every registered function."""
        for attr in _SINGLE.values():
            obj = getattr(self, attr)
            if obj is not None:
                yield obj
        for attr in _MANY.values():
            yield from getattr(self, attr).values()

    @property
    def predictions(self) -> list[Prediction]:
        """The model's declared predictions (empty without ``@load_model``)."""
        return self.model_loader.predictions if self.model_loader else []

    @classmethod
    def from_module(cls, module: ModuleType, name: str | None = None) -> Integration:
        """Collect the decorated functions found in a module's namespace."""
        registry = cls(name=name or module.__name__, source=getattr(module, "__file__", None))
        for value in vars(module).values():
            if isinstance(value, Decorated):
                registry.register(value)
        return registry

    def describe(self) -> dict[str, Any]:
        """Every declaration as a JSON-ready dict."""
        return {"name": self.name, "parts": [p.describe() for p in self.parts()]}
