"""The real pass of the integration test: every part called on a few samples with real arrays (batch of
one), every output validated; failures are recorded per part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leapscope.exceptions import LeapscopeError, ModelError, ModelInputError, ValidationError
from leapscope.integration._kinds import resolve_kinds
from leapscope.integration._report import _PART_OF_KIND, PartName, Predictor, _Parts
from leapscope.integration._trace import bind_arguments
from leapscope.integration._usercode import call_user
from leapscope.integration._validate import (
    ShapeTracker,
    fn_label,
    validate_encoded,
    validate_metadata,
    validate_per_sample,
    validate_predictions,
    validate_visual,
)
from leapscope.sdk._decorators import (
    Decorated,
    GroundTruthEncoder,
    InputEncoder,
    Integration,
    IntegrationTest,
    Metadata,
    ModelLoader,
    Prediction,
    Visualizer,
    test_context,
)
from leapscope.sdk._parts import class_axis
from leapscope.sdk._subset import DataState, Subset


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
                    value = call_user(
                        fn.function, sample_id, subset, name=fn_label(fn), subset=subset.name, sample_id=sample_id
                    )
                    validate_metadata(fn, value, subset=subset.name, sample_id=sample_id, types=metadata_types)
                else:
                    _encode(fn, subset, sample_id, tracker)  # type: ignore[arg-type]
                parts.ok(part)


class _RealContext:
    """Test context of the real pass: real arrays, batch of one, every output validated."""

    def __init__(self, parts: _Parts, predictor: Predictor, subset: Subset, sample_id: Any, tracker: ShapeTracker):
        self.parts, self.predictor, self.subset, self.sample_id, self.tracker = (
            parts,
            predictor,
            subset,
            sample_id,
            tracker,
        )
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
            return _RealModel(self, fn_label(target), names, target.predictions)
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

    def __init__(self, ctx: _RealContext, label: str, names: list[str], declared: Sequence[Prediction] = ()):
        self.predictor, self.subset, self.sample_id = ctx.predictor, ctx.subset.name, ctx.sample_id
        self.parts, self.label, self.names = ctx.parts, label, names
        self.declared, self.encoded = declared, ctx.encoded or {}

    def __call__(self, inputs: Any) -> Any:
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        try:
            outputs = self.predictor.predict(items)
        except ModelInputError as exc:  # say which input encoder feeds the input that does not fit
            raise ModelInputError(f"{_fed_by(self.predictor, items, self.encoded)}: {exc}") from exc
        try:
            _check_labels(self.label, self.declared, outputs, subset=self.subset, sample_id=self.sample_id)
            for info in resolve_kinds(
                self.label, self.names, self.declared, outputs, subset=self.subset, sample_id=self.sample_id
            ):
                self.parts.kinds.setdefault(info.name, info)
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
        axis = class_axis(sample_shape, pred.labels, pred.channel_dim)
        has_axis = bool(sample_shape) and -len(sample_shape) <= axis < len(sample_shape)
        size = sample_shape[axis] if has_axis else None
        if size == len(pred.labels):
            continue
        shown = ", ".join(repr(x) for x in pred.labels[:8]) + (", ..." if len(pred.labels) > 8 else "")
        if pred.channel_dim is None and len(sample_shape) > 1:  # no axis of a map holds one value per label
            actual = f"no axis of one sample (shape {sample_shape}) has {len(pred.labels)} values"
            expected = f"one axis with {len(pred.labels)} values, one per label"
        elif has_axis:
            actual = f"{size} values on the class axis (channel_dim={axis})"
            expected = f"{size} labels, one per value on axis {axis} of one sample (shape {sample_shape})"
        else:
            actual = f"no axis {axis}"
            expected = f"a class axis {axis} in one sample of the output (shape {sample_shape})"
        raise ValidationError(
            f"Prediction '{pred.name}' declares {len(pred.labels)} labels but the model's output has {actual}",
            function=label,
            argument="predictions",
            subset=subset,
            sample_id=sample_id,
            expected=expected,
            actual=f"{len(pred.labels)} labels: {shown}",
            fix=(
                f"set channel_dim={fits[0]} (the axis with {len(pred.labels)} values) or leave it out"
                if (fits := [a for a, size in enumerate(sample_shape) if size == len(pred.labels)])
                else f"give ls.Prediction('{pred.name}', labels=[...]) one label per class the model outputs, or set "
                "channel_dim= to the class axis of one sample (labels=None for outputs without classes)"
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
            parts.fail(
                "integration test",
                ValidationError(
                    "the integration test stopped at a failing part",
                    function=test.__name__,
                    subset=subset.name,
                    sample_id=sample_id,
                    actual=str(exc).splitlines()[0],
                    fix="fix the part marked ✗ above",
                ),
            )
        else:
            target: PartName = "model" if isinstance(exc, ModelError) else "integration test"
            parts.fail(target, exc)
        return
    parts.ok("integration test")
