"""The tracing pass: derive the wiring graph from the integration test.

Encoders and the model return :class:`Placeholder` objects that remember where
their value came from; each call of a metric, loss or visualizer records one
:class:`WiringEdge` per argument. Computing on a placeholder raises
:class:`TracingError` naming the user's line, because such logic would be lost:
evaluate calls the decorated functions directly, not the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from leapscope.exceptions import TracingError
from leapscope.integration._usercode import user_frame
from leapscope.sdk._decorators import Decorated, Kind, ModelLoader
from leapscope.sdk._runtime import redact

__all__ = ["MODEL_TARGET", "Placeholder", "TraceContext", "WiringEdge", "bind_arguments"]

MODEL_TARGET = "model"


@dataclass(frozen=True)
class WiringEdge:
    """One arrow of the wiring graph.

    ``source`` is ``input:<name>``, ``gt:<name>``, ``metadata:<name>``,
    ``prediction:<name>`` or ``constant:<repr>``; ``target`` is ``model`` or the
    name of a metric, loss or visualizer; ``kind`` is the target's kind; and
    ``argument`` the model input slot or the parameter name that receives it.
    """

    target: str
    kind: str
    argument: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _refuse(op: str) -> Any:
    def method(self: Placeholder, *args: Any, **kwargs: Any) -> Any:
        self._fail(op)

    return method


class Placeholder:
    """A traced value: stands for an encoder output or a model output in the test."""

    __slots__ = ("source",)
    __array_priority__ = 1000  # numpy defers to our operators, which raise

    def __init__(self, source: str):
        object.__setattr__(self, "source", source)

    def _fail(self, op: str) -> None:
        filename, lineno = user_frame()
        where = f" at {filename}:{lineno}" if filename else ""
        raise TracingError(
            f"integration test{where}: {op} on the value of '{self.source}'. The integration test only wires "
            "values: pass encoder outputs to model(), and ground truths and predictions to metrics, losses and "
            "visualizers. Fix: move this computation into a decorated function (e.g. a @ls.metric or "
            "@ls.visualizer), which leapscope calls on real arrays.",
            filename=filename,
            lineno=lineno,
        )

    def __repr__(self) -> str:
        return f"<traced {self.source}>"

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        self._fail("converting to a numpy array")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        self._fail(f"numpy.{ufunc.__name__}")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        self._fail(f"numpy.{func.__name__}")

    def __getattr__(self, name: str) -> Any:
        self._fail(f"reading attribute '.{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        self._fail(f"setting attribute '.{name}'")

    def __bool__(self) -> bool:
        self._fail("testing the truth value")
        return False

    def __len__(self) -> int:
        self._fail("taking len()")
        return 0

    def __iter__(self) -> Any:
        self._fail("iterating")

    def __float__(self) -> float:
        self._fail("converting to float")
        return 0.0

    def __int__(self) -> int:
        self._fail("converting to int")
        return 0

    __getitem__ = _refuse("indexing")
    __add__ = __radd__ = _refuse("'+'")
    __sub__ = __rsub__ = _refuse("'-'")
    __mul__ = __rmul__ = _refuse("'*'")
    __truediv__ = __rtruediv__ = _refuse("'/'")
    __floordiv__ = __rfloordiv__ = _refuse("'//'")
    __matmul__ = __rmatmul__ = _refuse("'@'")
    __pow__ = __rpow__ = _refuse("'**'")
    __mod__ = __rmod__ = _refuse("'%'")
    __neg__ = _refuse("unary '-'")
    __abs__ = _refuse("abs()")
    __lt__ = _refuse("'<'")
    __le__ = _refuse("'<='")
    __gt__ = _refuse("'>'")
    __ge__ = _refuse("'>='")


class TracedOutputs:
    """The outputs of a multi-output model; may be indexed once, by position."""

    def __init__(self, names: Sequence[str]):
        self._items = [Placeholder(f"prediction:{n}") for n in names]

    def __getitem__(self, index: int) -> Placeholder:
        if not isinstance(index, int):
            Placeholder(f"prediction:{','.join(p.source for p in self._items)}")._fail(f"indexing with {index!r}")
        try:
            return self._items[index]
        except IndexError:
            filename, lineno = user_frame()
            raise TracingError(
                f"integration test at {filename}:{lineno}: the model has {len(self._items)} outputs, index {index} "
                "does not exist",
                filename=filename,
                lineno=lineno,
            ) from None

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def bind_arguments(fn: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map call arguments to the function's parameter names (as Python would)."""
    try:
        bound = inspect.signature(fn.function).bind(*args, **kwargs)
    except TypeError as exc:
        filename, lineno = user_frame()
        raise TracingError(
            f"integration test at {filename}:{lineno}: calling '{fn.__name__}' (@{fn.kind.value} '{fn.name}'): {exc}",
            filename=filename,
            lineno=lineno,
        ) from None
    return dict(bound.arguments)


class TraceContext:
    """Test context of the tracing pass: records edges, returns placeholders."""

    def __init__(self, model_input_names: Sequence[str], prediction_names: Sequence[str]):
        self.model_input_names = list(model_input_names)
        self.prediction_names = list(prediction_names)
        self.edges: list[WiringEdge] = []
        self.called: set[tuple[str, str]] = set()

    def _edge(self, edge: WiringEdge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

    def call(self, target: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.called.add((target.kind.value, target.name))
        if target.kind is Kind.INPUT:
            return Placeholder(f"input:{target.name}")
        if target.kind is Kind.GROUND_TRUTH:
            return Placeholder(f"gt:{target.name}")
        if target.kind is Kind.METADATA:
            return Placeholder(f"metadata:{target.name}")
        if isinstance(target, ModelLoader):
            return _TracedModel(self)
        for param, value in bind_arguments(target, args, kwargs).items():
            source = value.source if isinstance(value, Placeholder) else f"constant:{redact(repr(value))}"
            self._edge(WiringEdge(target.name, target.kind.value, param, source))
        return Placeholder(f"{target.kind.value}:{target.name}")


class _TracedModel:
    def __init__(self, ctx: TraceContext):
        self.ctx = ctx

    def __call__(self, inputs: Any) -> Any:
        ctx = self.ctx
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        filename, lineno = user_frame()
        if len(items) != len(ctx.model_input_names):
            raise TracingError(
                f"integration test at {filename}:{lineno}: model() was given {len(items)} input(s) but the model "
                f"takes {len(ctx.model_input_names)} ({', '.join(ctx.model_input_names)}); fix: call "
                "model()(x) for one input or model()([a, b]) in the model's input order",
                filename=filename,
                lineno=lineno,
            )
        for slot, value in zip(ctx.model_input_names, items, strict=True):
            if not isinstance(value, Placeholder) or not value.source.startswith("input:"):
                raise TracingError(
                    f"integration test at {filename}:{lineno}: model input '{slot}' must come straight from an "
                    f"@input_encoder, got {value!r}; fix: pass the encoder's output to model()",
                    filename=filename,
                    lineno=lineno,
                )
            ctx._edge(WiringEdge(MODEL_TARGET, "model", slot, value.source))
        ctx.called.add(("model", MODEL_TARGET))
        if len(ctx.prediction_names) == 1:
            return Placeholder(f"prediction:{ctx.prediction_names[0]}")
        return TracedOutputs(ctx.prediction_names)
