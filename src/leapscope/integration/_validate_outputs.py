"""Validation of model-side outputs: metric / loss values per sample, and NaN/inf in predictions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from leapscope.exceptions import ValidationError
from leapscope.integration._validate_base import (
    _ctx,
    _describe,
)
from leapscope.sdk._builtins import ConfusionMatrixElement
from leapscope.sdk._decorators import Decorated

__all__ = ["non_finite_counts", "non_finite_prediction_error", "validate_per_sample", "validate_predictions"]


def _confusion_elements(
    fn: Decorated, value: list[Any], *, batch: int, subset: str | None, sample_id: Any
) -> list[list[ConfusionMatrixElement]]:
    """A metric's confusion-matrix output: one list of :class:`ConfusionMatrixElement` per sample."""
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
    return value


def _per_sample_column(
    fn: Decorated, key: str, arr: Any, *, batch: int, subset: str | None, sample_id: Any
) -> np.ndarray:
    """One (B,) column of a metric or loss output as float32; raises :class:`ValidationError`."""
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
    return arr  # type: ignore[no-any-return]


def validate_per_sample(
    fn: Decorated, value: Any, *, batch: int, subset: str | None, sample_id: Any
) -> dict[str, np.ndarray] | list[list[ConfusionMatrixElement]]:
    """Check a metric or loss output for a batch of ``batch`` samples.

    Accepts an array of shape (B,), a dict of (B,) arrays, or (metrics only) a
    list of B lists of :class:`ConfusionMatrixElement`. Returns ``{column: (B,)
    float32}`` (column ``""`` for a single array) or the confusion elements.
    """
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return _confusion_elements(fn, value, batch=batch, subset=subset, sample_id=sample_id)
    columns = dict(value) if isinstance(value, Mapping) else {"": value}
    out: dict[str, np.ndarray] = {}
    for key, arr in columns.items():
        out[key] = _per_sample_column(fn, key, arr, batch=batch, subset=subset, sample_id=sample_id)
    return out


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
    counts: np.ndarray = np.count_nonzero(~np.isfinite(flat), axis=1).astype(np.int64)
    return counts


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
