"""Validation of values returned by integration code.

Validators are pure: they take the value and the context (function, subset,
sample id) and either return a normalised value or raise :class:`ValidationError`
naming every part of the problem. The same validators run in the integration test
and in evaluate, so a sample that passes ``leapscope check`` passes evaluate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leapscope.exceptions import ValidationError
from leapscope.sdk._builtins import ConfusionMatrixElement
from leapscope.sdk._decorators import Decorated, Metadata, Visualizer
from leapscope.sdk._runtime import redact
from leapscope.sdk._subset import DataState, Subset
from leapscope.sdk._visuals import Visual

__all__ = [
    "RESERVED_COLUMNS",
    "RESERVED_PREFIXES",
    "MetadataScalar",
    "fn_label",
    "ShapeTracker",
    "validate_encoded",
    "validate_metadata",
    "validate_per_sample",
    "validate_predictions",
    "validate_subsets",
    "validate_visual",
]

MetadataScalar = int | float | str | bool | None

#: columns of samples.parquet that evaluate writes itself (see ``engine._evaluate``)
RESERVED_COLUMNS = ("row", "subset", "sample_id", "input_hash", "error")
#: prefixes of the ground-truth, prediction, loss and metric columns; metadata columns never start with them
RESERVED_PREFIXES = ("gt_", "pred_", "loss_", "metric_")


def fn_label(fn: Decorated) -> str:
    """How messages name a decorated function: ``features (@input 'features')``."""
    return f"{fn.__name__} (@{fn.kind.value} '{fn.name}')"


def _ctx(fn: Decorated, subset: str | None, sample_id: Any) -> dict[str, Any]:
    return {"function": fn_label(fn), "subset": subset, "sample_id": sample_id}


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray dtype={value.dtype} shape={value.shape}"
    return type(value).__name__


def validate_subsets(result: Any, *, function: str, unlabeled: bool = False) -> list[Subset]:
    """Check what a preprocess function returned.

    ``@preprocess`` must return a list of :class:`Subset` with distinct states
    including ``training`` and ``validation``; ``@unlabeled_preprocess`` one
    ``unlabeled`` subset (a bare Subset or a list of one).
    """
    items = [result] if isinstance(result, Subset) else result
    if not isinstance(items, list | tuple) or not all(isinstance(s, Subset) for s in items):
        raise ValidationError(
            "preprocess must return a list of ls.Subset",
            function=function,
            expected="list[ls.Subset]",
            actual=_describe(result) if not isinstance(result, list | tuple) else f"list of {[type(s).__name__ for s in result]}",
            fix="return [ls.Subset('training', ids, data), ls.Subset('validation', ids, data)]",
        )
    subsets = list(items)
    states = [s.state for s in subsets]
    if len(set(states)) != len(states):
        raise ValidationError(
            "two subsets have the same state",
            function=function,
            expected="one subset per state",
            actual=str([s.value for s in states]),
            fix="merge the subsets of the same state into one",
        )
    for s in subsets:
        if len(s) == 0:
            raise ValidationError(
                "subset has no samples",
                function=function,
                subset=s.name,
                expected="at least one sample id",
                actual="0 sample ids",
                fix="leave the subset out or give it samples",
            )
    if unlabeled:
        if states != [DataState.UNLABELED]:
            raise ValidationError(
                "unlabeled_preprocess must return one 'unlabeled' subset",
                function=function,
                expected="ls.Subset('unlabeled', ...)",
                actual=str([s.value for s in states]),
                fix="return ls.Subset('unlabeled', ids, data)",
            )
        return subsets
    missing = [s for s in (DataState.TRAINING, DataState.VALIDATION) if s not in states]
    if missing:
        raise ValidationError(
            f"missing the {' and '.join(m.value for m in missing)} subset",
            function=function,
            expected="subsets 'training' and 'validation' (and optionally 'test')",
            actual=f"subsets {[s.value for s in states]}",
            fix="return at least ls.Subset('training', ...) and ls.Subset('validation', ...)",
        )
    if DataState.UNLABELED in states:
        raise ValidationError(
            "@preprocess returned an 'unlabeled' subset",
            function=function,
            expected="training / validation / test subsets",
            actual=str([s.value for s in states]),
            fix="return unlabeled samples from a separate @ls.unlabeled_preprocess function",
        )
    return subsets


@dataclass
class ShapeTracker:
    """Remembers the first shape each function returned, to catch shapes that change."""

    first: dict[tuple[str, str], tuple[tuple[int, ...], str, Any]] = field(default_factory=dict)

    def check(self, fn: Decorated, shape: tuple[int, ...], subset: str, sample_id: Any) -> None:
        seen = self.first.get((fn.name, fn.kind))
        if seen is None:
            seen = self.first[(fn.name, fn.kind)] = (shape, subset, sample_id)
        if seen[0] != shape:
            raise ValidationError(
                "shape changed between samples",
                **_ctx(fn, subset, sample_id),
                expected=f"shape {seen[0]} (as for sample id {seen[2]!r} of subset '{seen[1]}')",
                actual=f"shape {shape}",
                fix="return the same shape for every sample (pad or resize in the encoder)",
            )


def validate_encoded(
    fn: Decorated, value: Any, *, subset: str, sample_id: Any, dtype: str = "float32", tracker: ShapeTracker | None = None
) -> np.ndarray:
    """Check one encoder output: an ndarray of ``dtype`` (float32 by default), finite, stable shape.

    Returns the array unchanged. Raises :class:`ValidationError`.
    """
    if not isinstance(value, np.ndarray):
        raise ValidationError(
            "an encoder must return a numpy array",
            **_ctx(fn, subset, sample_id),
            expected=f"np.ndarray of dtype {dtype}, one sample without a batch axis",
            actual=_describe(value),
            fix=f"return np.asarray(value, dtype=np.{dtype})",
        )
    if value.dtype != np.dtype(dtype):
        raise ValidationError(
            f"wrong dtype (encoders return {dtype})",
            **_ctx(fn, subset, sample_id),
            expected=f"dtype {dtype}",
            actual=f"dtype {value.dtype} shape {value.shape}",
            fix=f"return value.astype(np.{dtype})",
        )
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise ValidationError(
            "contains NaN or inf",
            **_ctx(fn, subset, sample_id),
            expected="finite values",
            actual=f"{bad} of {value.size} values are NaN/inf",
            fix="clean or impute the sample's values in the encoder (e.g. np.nan_to_num)",
        )
    if tracker is not None:
        tracker.check(fn, value.shape, subset, sample_id)
    return value


def _scalar(value: Any) -> MetadataScalar | object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return redact(value)  # the run's secret is never stored or shown, not even as metadata
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _NOT_SCALAR


_NOT_SCALAR = object()
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}


def validate_metadata(
    fn: Metadata, value: Any, *, subset: str, sample_id: Any, types: dict[str, str] | None = None
) -> dict[str, MetadataScalar]:
    """Check one metadata value and flatten it to columns.

    A scalar becomes column ``name``; a flat dict ``{key: scalar}`` becomes columns
    ``name_key``. ``types`` (column -> type name) is updated with the first type
    seen and later values must match (int widens to float; None is allowed).
    """
    if isinstance(value, Mapping):
        items: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    "metadata dict keys must be str",
                    **_ctx(fn, subset, sample_id),
                    expected="dict[str, int | float | str | bool | None]",
                    actual=f"key {key!r} of type {type(key).__name__}",
                    fix="use string keys",
                )
            scalar = _scalar(item)
            if scalar is _NOT_SCALAR:
                raise ValidationError(
                    "metadata must be flat",
                    **_ctx(fn, subset, sample_id),
                    expected="dict[str, int | float | str | bool | None]",
                    actual=f"key '{key}' holds {_describe(item)}",
                    fix=f"flatten it: one key per value, e.g. '{key}_<part>'",
                )
            items[f"{fn.name}_{key}"] = scalar
    else:
        scalar = _scalar(value)
        if scalar is _NOT_SCALAR:
            raise ValidationError(
                "metadata must be a scalar or a flat dict",
                **_ctx(fn, subset, sample_id),
                expected="int | float | str | bool | None, or dict of them",
                actual=_describe(value),
                fix="return a plain value (e.g. float(x)) or a flat dict",
            )
        items = {fn.name: scalar}
    for column in items:
        if column in RESERVED_COLUMNS or column.startswith(RESERVED_PREFIXES):
            _refuse_reserved(fn, column, isinstance(value, Mapping), subset, sample_id)
    if types is not None:
        for column, item in items.items():
            if item is None:
                continue
            kind = fn.dtype or _TYPE_NAMES[type(item)]
            if fn.dtype is not None:
                item = _coerce(fn, column, item, fn.dtype, subset, sample_id)
                items[column] = item
            seen = types.setdefault(column, kind)
            if seen != kind and not (seen == "float" and kind == "int"):
                if seen == "int" and kind == "float":
                    types[column] = "float"
                    continue
                raise ValidationError(
                    f"metadata column '{column}' changed type",
                    **_ctx(fn, subset, sample_id),
                    expected=f"{seen} (as in earlier samples)",
                    actual=f"{kind} {item!r}",
                    fix=f"return the same type for every sample, or declare @ls.metadata('{fn.name}', dtype=...)",
                )
    return items


def _refuse_reserved(fn: Metadata, column: str, from_dict: bool, subset: str, sample_id: Any) -> None:
    source = f"metadata '{fn.name}' with key '{column[len(fn.name) + 1:]}'" if from_dict else f"metadata '{fn.name}'"
    rename = "rename the dict key" if from_dict else f"rename it, e.g. @ls.metadata('meta_{fn.name}')"
    raise ValidationError(
        f"metadata column '{column}' uses a name reserved for leapscope's own columns",
        **_ctx(fn, subset, sample_id),
        expected=(
            f"a column name that is not one of {', '.join(RESERVED_COLUMNS)} and does not start with "
            f"{', '.join(RESERVED_PREFIXES)} (those hold sample keys, ground truths, predictions, losses and metrics)"
        ),
        actual=f"'{column}' (from {source})",
        fix=f"{rename}; otherwise the column would clash with or be hidden among leapscope's columns",
    )


def _coerce(fn: Metadata, column: str, item: Any, dtype: str, subset: str, sample_id: Any) -> MetadataScalar:
    cast = {"int": int, "float": float, "str": str, "bool": bool}[dtype]
    try:
        return cast(item)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        raise ValidationError(
            f"metadata column '{column}' cannot be read as {dtype}",
            **_ctx(fn, subset, sample_id),
            expected=dtype,
            actual=repr(item),
            fix=f"return a {dtype} or change the declared dtype",
        ) from None


def validate_per_sample(
    fn: Decorated, value: Any, *, batch: int, subset: str | None, sample_id: Any
) -> dict[str, np.ndarray] | list[list[ConfusionMatrixElement]]:
    """Check a metric or loss output for a batch of ``batch`` samples.

    Accepts an array of shape (B,), a dict of (B,) arrays, or (metrics only) a
    list of B lists of :class:`ConfusionMatrixElement`. Returns ``{column: (B,)
    float32}`` (column ``""`` for a single array) or the confusion elements.
    """
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if fn.kind.value != "metric" or not all(isinstance(e, ConfusionMatrixElement) for v in value for e in v):
            raise ValidationError(
                "a list output must hold one list of ls.ConfusionMatrixElement per sample",
                **_ctx(fn, subset, sample_id),
                expected=f"list of {batch} lists of ConfusionMatrixElement",
                actual=f"list of lists of {sorted({type(e).__name__ for v in value for e in v})}",
                fix="return an np.ndarray of shape (B,) or confusion-matrix elements",
            )
        if len(value) != batch:
            raise ValidationError(
                "one list of confusion-matrix elements per sample",
                **_ctx(fn, subset, sample_id),
                expected=f"{batch} lists",
                actual=f"{len(value)} lists",
                fix="return one list per sample of the batch",
            )
        return value  # type: ignore[return-value]
    columns = dict(value) if isinstance(value, Mapping) else {"": value}
    out: dict[str, np.ndarray] = {}
    for key, arr in columns.items():
        label = f" (key '{key}')" if key else ""
        if np.isscalar(arr) or (isinstance(arr, np.ndarray) and arr.ndim == 0):
            raise ValidationError(
                f"returned a scalar{label}; metrics and losses return one value per sample",
                **_ctx(fn, subset, sample_id),
                expected=f"np.ndarray of shape ({batch},)",
                actual=f"scalar {arr!r}",
                fix="do not reduce over the batch: e.g. return (a - b).mean(axis=1), not .mean()",
            )
        if not isinstance(arr, np.ndarray):
            raise ValidationError(
                f"must return a numpy array{label}",
                **_ctx(fn, subset, sample_id),
                expected=f"np.ndarray of shape ({batch},)",
                actual=_describe(arr),
                fix="return np.asarray(values)",
            )
        if arr.shape != (batch,):
            raise ValidationError(
                f"wrong shape{label}; one value per sample",
                **_ctx(fn, subset, sample_id),
                expected=f"shape ({batch},) for a batch of {batch}",
                actual=f"shape {arr.shape}",
                fix="reduce every axis but the batch axis, e.g. values.reshape(len(values), -1).mean(1)",
            )
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
            raise ValidationError(
                f"not numeric{label}",
                **_ctx(fn, subset, sample_id),
                expected="float values",
                actual=f"dtype {arr.dtype}",
                fix="return numbers",
            )
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise ValidationError(
                f"contains NaN or inf{label}",
                **_ctx(fn, subset, sample_id),
                expected="finite values",
                actual=f"{int((~np.isfinite(arr)).sum())} of {batch} values are NaN/inf",
                fix="guard divisions and logs (e.g. np.clip(p, 1e-7, 1))",
            )
        out[key] = arr
    return out


def validate_visual(fn: Visualizer, value: Any, *, subset: str | None, sample_id: Any) -> Visual:
    """Check that a visualizer returned an instance of its declared visual class."""
    expected = fn.result_class
    if not isinstance(value, expected):
        raise ValidationError(
            f"visualizer of type '{fn.visualizer_type.value}' returned the wrong type",
            **_ctx(fn, subset, sample_id),
            expected=f"ls.{expected.__name__}",
            actual=_describe(value),
            fix=f"return ls.{expected.__name__}(...), or declare the visualizer type you return",
        )
    return value


def non_finite_counts(value: np.ndarray) -> np.ndarray:
    """Number of NaN/inf values per sample of a batched model output.

    ``value`` is (B, ...) of any numeric dtype; returns (B,) int64 (always 0 for
    integer and bool outputs).
    """
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind not in "fc":
        return np.zeros(len(arr), np.int64)
    flat = arr.reshape(len(arr), int(np.prod(arr.shape[1:], dtype=np.int64)))
    return np.count_nonzero(~np.isfinite(flat), axis=1).astype(np.int64)


def non_finite_prediction_error(
    function: str, prediction: str, bad: int, total: int, *, subset: str | None, sample_id: Any
) -> ValidationError:
    """The error of one sample whose model output ``prediction`` holds ``bad`` of ``total`` NaN/inf values."""
    return ValidationError(
        f"prediction '{prediction}': non-finite prediction ({bad} of {total} values NaN/inf)",
        function=function,
        subset=subset,
        sample_id=sample_id,
        expected=f"finite values in the model output '{prediction}'",
        actual=f"{bad} of {total} values are NaN/inf",
        fix="the model computes NaN/inf for this sample's input: look for log/sqrt/division of zero or negative "
        "values and guard them in the model (e.g. clamp, add an epsilon), or clean the input in its encoder",
    )


def validate_predictions(
    function: str, outputs: Mapping[str, np.ndarray], *, subset: str | None, sample_ids: Sequence[Any]
) -> dict[int, ValidationError]:
    """Check a batch of model outputs for NaN/inf, per sample.

    ``outputs`` maps each prediction name to its (B, ...) array; ``sample_ids`` has
    the B ids. Returns ``{position: error}`` for every sample with a non-finite
    value (the first such prediction is named), empty when all are finite. Raises nothing.
    """
    errors: dict[int, ValidationError] = {}
    for name, output in outputs.items():
        counts = non_finite_counts(output)
        ids = list(sample_ids) + [None] * (len(counts) - len(sample_ids))
        total = int(np.prod(np.shape(output)[1:], dtype=np.int64))
        for position in np.flatnonzero(counts):
            if int(position) not in errors:
                errors[int(position)] = non_finite_prediction_error(
                    function, name, int(counts[position]), total, subset=subset, sample_id=ids[int(position)]
                )
    return errors
