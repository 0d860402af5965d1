"""The integration test: a real pass on a few samples, then a tracing pass.

The result is a :class:`CheckReport`: one :class:`PartResult` per part of the
integration (✓ / ✗ / absent, with the first error), the wiring graph and the
subset sizes. ``leapscope check`` prints it; evaluate stores its wiring.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from leapscope.exceptions import LeapscopeError, ModelError, ModelInputError, ValidationError
from leapscope.integration._loader import LoadedIntegration
from leapscope.integration._trace import MODEL_TARGET, TraceContext, WiringEdge, bind_arguments
from leapscope.integration._usercode import call_user
from leapscope.integration._validate import (
    ShapeTracker,
    fn_label,
    validate_encoded,
    validate_metadata,
    validate_per_sample,
    validate_predictions,
    validate_subsets,
    validate_visual,
)
from leapscope.sdk._decorators import (
    Decorated,
    GroundTruthEncoder,
    InputEncoder,
    Integration,
    IntegrationTest,
    Kind,
    Metadata,
    ModelLoader,
    Prediction,
    Visualizer,
    test_context,
)
from leapscope.sdk._runtime import redact, redact_value
from leapscope.sdk._subset import DataState, Subset

__all__ = [
    "CheckReport",
    "ModelFactory",
    "PartResult",
    "Predictor",
    "load_subsets",
    "resolve_model_source",
    "run_integration_test",
]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class Predictor(Protocol):
    """What the integration test needs of a model (``leapscope.models.ModelWrapper`` fits)."""

    @property
    def inputs(self) -> Sequence[_Named]: ...

    @property
    def outputs(self) -> Sequence[_Named]: ...

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...


ModelFactory = Callable[[Any], Predictor]

PartName = Literal[
    "preprocess",
    "input encoders",
    "ground truths",
    "metadata",
    "visualizers",
    "metrics",
    "losses",
    "model",
    "integration test",
]
_PART_OF_KIND: dict[Kind, PartName] = {
    Kind.PREPROCESS: "preprocess",
    Kind.UNLABELED_PREPROCESS: "preprocess",
    Kind.INPUT: "input encoders",
    Kind.GROUND_TRUTH: "ground truths",
    Kind.METADATA: "metadata",
    Kind.VISUALIZER: "visualizers",
    Kind.METRIC: "metrics",
    Kind.LOSS: "losses",
    Kind.MODEL: "model",
    Kind.INTEGRATION_TEST: "integration test",
}
_MANDATORY: set[PartName] = {"preprocess", "input encoders", "model", "integration test"}


@dataclass
class PartResult:
    """The outcome for one part of the integration.

    ``status`` is ``"pass"``, ``"fail"`` or ``"absent"`` (nothing declared);
    ``error`` holds the first error's parts (see ``ValidationError.to_dict``).
    """

    part: PartName
    mandatory: bool
    functions: list[str] = field(default_factory=list)
    status: Literal["pass", "fail", "absent"] = "absent"
    error: dict[str, Any] | None = None
    checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "mandatory": self.mandatory,
            "status": self.status,
            "functions": self.functions,
            "checked": self.checked,
            "error": self.error,
        }


@dataclass
class CheckReport:
    """Result of the integration test (see module docstring)."""

    parts: list[PartResult]
    wiring: list[WiringEdge]
    subsets: dict[str, int]
    samples_per_subset: int
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when every mandatory part passes and no declared part fails."""
        return all(p.status == "pass" if p.mandatory else p.status != "fail" for p in self.parts)

    def part(self, name: PartName) -> PartResult:
        return next(p for p in self.parts if p.part == name)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report printed by ``leapscope check --json``.

        Every string in it has the run's secret redacted (``***``).
        """
        return dict(redact_value({
            "valid": self.valid,
            "parts": [p.to_dict() for p in self.parts],
            "wiring": [e.to_dict() for e in self.wiring],
            "subsets": self.subsets,
            "samples_per_subset": self.samples_per_subset,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }))


def _error_dict(exc: BaseException) -> dict[str, Any]:
    to_dict = getattr(exc, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    extra = {}
    if getattr(exc, "filename", None):
        extra = {"filename": exc.filename, "lineno": getattr(exc, "lineno", None)}  # type: ignore[attr-defined]
    return {"error": type(exc).__name__, "message": redact(str(exc)), **extra}


class _Parts:
    def __init__(self, integration: Integration):
        self.results: dict[PartName, PartResult] = {
            name: PartResult(name, name in _MANDATORY) for name in dict.fromkeys(_PART_OF_KIND.values())
        }
        for fn in integration.parts():
            part = self.results[_PART_OF_KIND[fn.kind]]
            single = fn.kind in (Kind.PREPROCESS, Kind.UNLABELED_PREPROCESS, Kind.MODEL, Kind.INTEGRATION_TEST)
            part.functions.append(fn.__name__ if single else fn.name)
            part.status = "pass"
        self.recorded: set[int] = set()

    def fail(self, name: PartName, exc: BaseException) -> None:
        part = self.results[name]
        if part.status != "fail":
            part.status = "fail"
            part.error = _error_dict(exc)
        self.recorded.add(id(exc))

    def failed(self, name: PartName) -> bool:
        return self.results[name].status == "fail"

    def ok(self, name: PartName) -> None:
        self.results[name].checked += 1

    @contextlib.contextmanager
    def guard(self, name: PartName) -> Iterator[None]:
        try:
            yield
        except LeapscopeError as exc:
            self.fail(name, exc)


def load_subsets(integration: Integration) -> list[Subset]:
    """Run ``@preprocess`` (and ``@unlabeled_preprocess``) and validate the subsets.

    Raises
    ------
    ValidationError
        No ``@preprocess``, or it returned something that is not valid subsets.
    UserCodeError
        The function raised.
    """
    if integration.preprocess is None:
        raise ValidationError(
            "the integration declares no @ls.preprocess function",
            function="preprocess",
            expected="one function decorated with @ls.preprocess returning list[ls.Subset]",
            actual="none",
            fix="add @ls.preprocess def subsets() -> list[ls.Subset]",
        )
    pre = integration.preprocess
    subsets = validate_subsets(call_user(pre.function, name=pre.__name__), function=pre.__name__)
    if integration.unlabeled_preprocess is not None:
        un = integration.unlabeled_preprocess
        subsets += validate_subsets(call_user(un.function, name=un.__name__), function=un.__name__, unlabeled=True)
    return subsets


def resolve_model_source(loaded: LoadedIntegration, override: Any = None) -> Any:
    """What to load as the model: ``override``, else ``model:`` in leapscope.yaml, else ``@load_model``'s return.

    Relative paths from the config or ``@load_model`` are resolved against the
    integration folder.

    Raises
    ------
    ValidationError
        No model is named anywhere.
    """
    if isinstance(override, str | Path):
        return Path(override).expanduser().resolve()
    if override is not None:
        return override
    if loaded.config.get("model"):
        return (loaded.root / str(loaded.config["model"])).resolve()
    loader = loaded.integration.model_loader
    if loader is None:
        raise ValidationError(
            "no model: the integration declares no @ls.load_model and leapscope.yaml names no model",
            function="load_model",
            expected="@ls.load_model(...) returning a path or a model object",
            actual="none",
            fix="add @ls.load_model(predictions=[ls.Prediction('classes', labels)]) def model(): return 'model.onnx'",
        )
    source = call_user(loader.function, name=loader.__name__)
    if isinstance(source, str | Path):
        return (loaded.root / source).resolve()
    return source


def run_integration_test(
    loaded: LoadedIntegration,
    model_factory: ModelFactory,
    *,
    samples: int = 3,
    model_source: Any = None,
    subsets: list[Subset] | None = None,
) -> CheckReport:
    """Run the integration test of a loaded integration.

    Parameters
    ----------
    loaded : LoadedIntegration
    model_factory : callable
        Turns a model source (path or object) into a :class:`Predictor`;
        ``leapscope.models.load`` in practice.
    samples : int, default 3
        Samples checked per subset (the first ones).
    model_source : path or model object, optional
        Overrides the model named by the integration.
    subsets : list of Subset, optional
        Already loaded subsets (skips running preprocess again).

    Returns
    -------
    CheckReport
        Never raises for problems of the integration; they are in the report.
    """
    started = time.perf_counter()
    integration = loaded.integration
    parts = _Parts(integration)
    report_subsets: dict[str, int] = {}
    warnings: list[str] = []

    given = subsets
    subsets = []
    with parts.guard("preprocess"):
        subsets = given if given is not None else load_subsets(integration)
        report_subsets = {s.name: len(s) for s in subsets}
        parts.ok("preprocess")
    if integration.preprocess is None:
        parts.results["preprocess"].status = "fail"

    predictor: Predictor | None = None
    with parts.guard("model"):
        source = resolve_model_source(loaded, model_source)
        try:
            predictor = model_factory(source)
        except LeapscopeError:
            raise
        except Exception as exc:
            raise ModelError(f"loading the model {source!r} failed: {type(exc).__name__}: {exc}") from exc
        _check_predictions(integration, predictor)

    if not integration.input_encoders:
        parts.fail("input encoders", ValidationError(
            "the integration declares no input encoder",
            function="input_encoder",
            expected="at least one @ls.input_encoder",
            actual="none",
            fix="add @ls.input_encoder('image') def image(sample_id, subset) -> np.ndarray",
        ))
    if integration.integration_test is None:
        parts.fail("integration test", ValidationError(
            "the integration declares no @ls.integration_test",
            function="integration_test",
            expected="@ls.integration_test def test(sample_id, subset) calling encoders, model, metrics",
            actual="none",
            fix="add an integration test; `leapscope init` writes an example",
        ))

    tracker = ShapeTracker()
    metadata_types: dict[str, str] = {}
    for subset in subsets:
        for sample_id in subset.sample_ids[:samples]:
            _check_sample(integration, parts, subset, sample_id, tracker, metadata_types)
            if predictor is not None and integration.integration_test is not None and subset.state is not DataState.UNLABELED:
                _run_test_once(integration.integration_test, parts, predictor, subset, sample_id, tracker)

    wiring: list[WiringEdge] = []
    if integration.integration_test is not None and subsets:
        wiring = _trace(integration, integration.integration_test, parts, predictor, subsets, warnings)

    return CheckReport(
        parts=list(parts.results.values()),
        wiring=wiring,
        subsets=report_subsets,
        samples_per_subset=samples,
        seconds=time.perf_counter() - started,
        warnings=warnings,
    )


def _check_predictions(integration: Integration, predictor: Predictor) -> None:
    declared = integration.predictions
    if declared and len(declared) != len(predictor.outputs):
        raise ValidationError(
            "the declared predictions do not match the model's outputs",
            function="load_model",
            argument="predictions",
            expected=f"{len(predictor.outputs)} prediction(s), one per model output ({', '.join(o.name for o in predictor.outputs)})",
            actual=f"{len(declared)} declared ({', '.join(p.name for p in declared)})",
            fix="declare one ls.Prediction per model output, in output order",
        )


def prediction_names(integration: Integration, predictor: Predictor | None) -> list[str]:
    """Names of the model outputs: the declared predictions, else the model's output names."""
    if integration.predictions:
        return [p.name for p in integration.predictions]
    if predictor is not None:
        return [o.name for o in predictor.outputs]
    return ["output"]


def _encode(fn: InputEncoder | GroundTruthEncoder, subset: Subset, sample_id: Any, tracker: ShapeTracker) -> np.ndarray:
    value = call_user(fn.function, sample_id, subset, name=fn_label(fn), subset=subset.name, sample_id=sample_id)
    dtype = fn.dtype if isinstance(fn, InputEncoder) else "float32"
    return validate_encoded(fn, value, subset=subset.name, sample_id=sample_id, dtype=dtype, tracker=tracker)


def _check_sample(
    integration: Integration,
    parts: _Parts,
    subset: Subset,
    sample_id: Any,
    tracker: ShapeTracker,
    metadata_types: dict[str, str],
) -> None:
    groups: list[tuple[PartName, Sequence[Decorated]]] = [
        ("input encoders", list(integration.input_encoders.values())),
        ("metadata", list(integration.metadata.values())),
    ]
    if subset.state is not DataState.UNLABELED:
        groups.insert(1, ("ground truths", list(integration.gt_encoders.values())))
    for part, functions in groups:
        for fn in functions:
            if parts.failed(part):
                break
            with parts.guard(part):
                if isinstance(fn, Metadata):
                    value = call_user(fn.function, sample_id, subset, name=fn_label(fn), subset=subset.name, sample_id=sample_id)
                    validate_metadata(fn, value, subset=subset.name, sample_id=sample_id, types=metadata_types)
                else:
                    _encode(fn, subset, sample_id, tracker)  # type: ignore[arg-type]
                parts.ok(part)


class _RealContext:
    """Test context of the real pass: real arrays, batch of one, every output validated."""

    def __init__(self, parts: _Parts, predictor: Predictor, subset: Subset, sample_id: Any, tracker: ShapeTracker):
        self.parts, self.predictor, self.subset, self.sample_id, self.tracker = parts, predictor, subset, sample_id, tracker
        self.encoded: dict[int, tuple[str, np.ndarray]] = {}  # id(batch) -> encoder, to name what feeds the model

    def call(self, target: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        part = _PART_OF_KIND[target.kind]
        try:
            result = self._call(target, args, kwargs)
        except LeapscopeError as exc:
            self.parts.fail(part, exc)
            raise
        self.parts.ok(part)
        return result

    def _call(self, target: Decorated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        where = {"subset": self.subset.name, "sample_id": self.sample_id}
        if isinstance(target, InputEncoder | GroundTruthEncoder):
            bound = bind_arguments(target, args, kwargs)
            sample_id, subset = list(bound.values())[:2]
            one = _encode(target, subset, sample_id, self.tracker)[None]
            self.encoded[id(one)] = (fn_label(target), one)
            return one
        if isinstance(target, Metadata):
            return call_user(target.function, *args, name=fn_label(target), **where, **kwargs)
        if isinstance(target, ModelLoader):
            names = [p.name for p in target.predictions] or [o.name for o in self.predictor.outputs]
            return _RealModel(
                self.predictor, self.subset.name, self.sample_id, self.parts, fn_label(target), names, target.predictions, self.encoded
            )
        if isinstance(target, Visualizer):
            args = tuple(_unbatch(a, target, i) for i, a in enumerate(args))
            kwargs = {k: _unbatch(v, target, k) for k, v in kwargs.items()}
            value = call_user(target.function, *args, name=fn_label(target), **where, **kwargs)
            return validate_visual(target, value, **where)
        arrays = [a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)]
        batch = len(arrays[0]) if arrays and arrays[0].ndim else 1
        value = call_user(target.function, *args, name=fn_label(target), **where, **kwargs)
        validate_per_sample(target, value, batch=batch, **where)
        return value


def _unbatch(value: Any, fn: Visualizer, argument: int | str) -> Any:
    # Inside the test every array carries a batch axis of 1; visualizers get one sample.
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.shape[0] != 1:
            raise ValidationError(
                "visualizer argument has no batch axis of size 1",
                function=f"{fn.__name__} (@visualizer '{fn.name}')",
                argument=str(argument),
                expected="a batch of one sample inside the integration test (leapscope removes the batch axis)",
                actual=f"shape {value.shape}",
                fix="pass encoder outputs and predictions to the visualizer unchanged",
            )
        return value[0]
    return value


class _RealModel:
    """The model inside the real pass: predicts, then checks every output is finite."""

    def __init__(
        self, predictor: Predictor, subset: str, sample_id: Any, parts: _Parts, label: str, names: list[str],
        declared: Sequence[Prediction] = (), encoded: dict[int, tuple[str, np.ndarray]] | None = None,
    ):
        self.predictor, self.subset, self.sample_id = predictor, subset, sample_id
        self.parts, self.label, self.names = parts, label, names
        self.declared, self.encoded = declared, encoded or {}

    def __call__(self, inputs: Any) -> Any:
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        try:
            outputs = self.predictor.predict(items)
        except ModelInputError as exc:  # say which input encoder feeds the input that does not fit
            raise ModelInputError(f"{_fed_by(self.predictor, items, self.encoded)}: {exc}") from exc
        try:
            _check_labels(self.label, self.declared, outputs, subset=self.subset, sample_id=self.sample_id)
        except ValidationError as error:
            self.parts.fail("model", error)
            raise
        bad = validate_predictions(
            self.label, dict(zip(self.names, outputs, strict=False)), subset=self.subset, sample_ids=[self.sample_id]
        )
        if bad:  # blame the model here, not the loss that would get the NaN next
            first = next(iter(bad.values()))
            self.parts.fail("model", first)
            raise first
        return outputs[0] if len(outputs) == 1 else outputs


def _fed_by(predictor: Predictor, items: list[Any], encoded: dict[int, tuple[str, np.ndarray]]) -> str:
    """``model input 'x' is fed by input encoder features (@input 'features'), one sample of shape (5,)``, per input."""
    names = [i.name for i in predictor.inputs]
    parts = []
    for i, item in enumerate(items):
        slot = f"model input '{names[i]}'" if i < len(names) else f"model input {i}"
        found = encoded.get(id(item))
        shape = tuple(np.shape(item))[1:]
        source = f"input encoder {found[0]}" if found is not None else "a value computed in the integration test"
        parts.append(f"{slot} is fed by {source}, one sample of shape {shape}")
    return "; ".join(parts)


def _check_labels(
    label: str, declared: Sequence[Prediction], outputs: Sequence[np.ndarray], *, subset: str, sample_id: Any
) -> None:
    """Every ``Prediction(labels=...)`` has one label per value on its class axis (``channel_dim``).

    Raises
    ------
    ValidationError
        The count differs (later stages would drop the label columns or fail to reshape).
    """
    for pred, out in zip(declared, outputs, strict=False):
        if not pred.labels:
            continue
        sample_shape = tuple(np.shape(out))[1:]
        has_axis = bool(sample_shape) and -len(sample_shape) <= pred.channel_dim < len(sample_shape)
        size = sample_shape[pred.channel_dim] if has_axis else None
        if size == len(pred.labels):
            continue
        shown = ", ".join(repr(x) for x in pred.labels[:8]) + (", ..." if len(pred.labels) > 8 else "")
        raise ValidationError(
            f"Prediction '{pred.name}' declares {len(pred.labels)} labels but the model's output has "
            + (f"{size} values on the class axis (channel_dim={pred.channel_dim})" if has_axis else f"no axis {pred.channel_dim}"),
            function=label,
            argument="predictions",
            subset=subset,
            sample_id=sample_id,
            expected=(
                f"{size} labels, one per value on axis {pred.channel_dim} of one sample (shape {sample_shape})"
                if has_axis else f"a class axis {pred.channel_dim} in one sample of the output (shape {sample_shape})"
            ),
            actual=f"{len(pred.labels)} labels: {shown}",
            fix=(
                f"give ls.Prediction('{pred.name}', labels=[...]) one label per class the model outputs, or set "
                "channel_dim= to the class axis (labels=None for outputs without classes)"
            ),
        )


def _run_test_once(
    test: IntegrationTest, parts: _Parts, predictor: Predictor, subset: Subset, sample_id: Any, tracker: ShapeTracker
) -> None:
    if parts.failed("integration test"):
        return
    ctx = _RealContext(parts, predictor, subset, sample_id, tracker)
    try:
        with test_context(ctx):
            call_user(test.function, sample_id, subset, name=test.__name__, subset=subset.name, sample_id=sample_id)
    except LeapscopeError as exc:
        if id(exc) in parts.recorded:
            parts.fail("integration test", ValidationError(
                "the integration test stopped at a failing part",
                function=test.__name__,
                subset=subset.name,
                sample_id=sample_id,
                actual=str(exc).splitlines()[0],
                fix="fix the part marked ✗ above",
            ))
        else:
            target: PartName = "model" if isinstance(exc, ModelError) else "integration test"
            parts.fail(target, exc)
        return
    parts.ok("integration test")


def _trace(
    integration: Integration, test: IntegrationTest, parts: _Parts, predictor: Predictor | None, subsets: list[Subset],
    warnings: list[str],
) -> list[WiringEdge]:
    labeled = next(s for s in subsets if s.state is not DataState.UNLABELED)
    input_names = [i.name for i in predictor.inputs] if predictor is not None else [f"input_{i}" for i in range(len(integration.input_encoders))]
    ctx = TraceContext(input_names, prediction_names(integration, predictor))
    try:
        with test_context(ctx):
            call_user(test.function, labeled.sample_ids[0], labeled, name=test.__name__, subset=labeled.name, sample_id=labeled.sample_ids[0])
    except LeapscopeError as exc:
        parts.fail("integration test", exc)
        return ctx.edges
    if ("model", MODEL_TARGET) not in ctx.called:
        parts.fail("integration test", ValidationError(
            "the integration test never calls the model",
            function=test.__name__,
            expected="predictions = model()(x)",
            actual="no call of model()",
            fix="call the model on the encoder outputs inside the test",
        ))
    for name, group, part in (
        ("metric", integration.metrics, "metrics"),
        ("loss", integration.losses, "losses"),
        ("visualizer", integration.visualizers, "visualizers"),
    ):
        for fn_name, fn in group.items():
            if (name, fn_name) not in ctx.called:
                parts.fail(part, ValidationError(  # type: ignore[arg-type]
                    "never called in the integration test, so leapscope does not know its inputs",
                    function=f"{fn.__name__} (@{name} '{fn_name}')",
                    expected=f"a call like {fn.__name__}(gt, prediction) in @integration_test",
                    actual="no call",
                    fix="call it in the integration test with the arrays it should receive",
                ))
    for name in integration.input_encoders:
        if ("input", name) not in ctx.called:
            warnings.append(f"input encoder '{name}' is not used in the integration test")
    return ctx.edges
