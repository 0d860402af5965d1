"""What every declaration shares: :class:`Kind`, the :class:`Decorated` base (the user's function plus
its declaration, registered into the active registry), and the contexts that route calls during the
integration test (:func:`test_context`) and collect declarations (:func:`collecting`).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from leapscope.exceptions import IntegrationDefinitionError

if typing.TYPE_CHECKING:
    from leapscope.sdk._registry import Integration

__all__ = ["Decorated", "Kind", "TestContext", "collecting", "test_context"]


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
    LATENT_SPACE = "latent_space"


class TestContext(Protocol):
    """What the integration-test runner provides while the test function runs."""

    def call(self, target: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


_ACTIVE_TEST: contextvars.ContextVar[TestContext | None] = contextvars.ContextVar("leapscope_test", default=None)
_ACTIVE_REGISTRY: contextvars.ContextVar[Integration | None] = contextvars.ContextVar(
    "leapscope_registry", default=None
)


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
                f"{len(self.params)} argument(s) {self.params}, expected {n_params}; fix: " + _SIGNATURE_HINT[self.kind]
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
    Kind.LATENT_SPACE: (
        "def space(sample_id, subset) -> 1-D np.ndarray, or with layer=/prediction= def space(batch) -> (B, D)"
    ),
}


def _positional_params(function: Callable[..., Any]) -> list[str]:
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds and p.default is inspect.Parameter.empty]
