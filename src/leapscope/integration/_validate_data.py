"""Validators of the data side: the subsets of a preprocess, encoder outputs (with a :class:`ShapeTracker`
for shapes that change) and visualizer results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leapscope.exceptions import ValidationError
from leapscope.integration._validate_base import (
    _ctx,
    _describe,
)
from leapscope.sdk._decorators import Decorated, Visualizer
from leapscope.sdk._subset import DataState, Subset
from leapscope.sdk._visuals import Visual

__all__ = ["ShapeTracker", "validate_encoded", "validate_subsets", "validate_visual"]


def _check_states(states: list[DataState], *, function: str, unlabeled: bool) -> None:
    """``unlabeled`` alone for an unlabeled preprocess; else training and validation (and maybe test)."""
    if unlabeled:
        if states != [DataState.UNLABELED]:
            raise ValidationError(
                "unlabeled_preprocess must return one 'unlabeled' subset",
                function=function,
                expected="ls.Subset('unlabeled', ...)",
                actual=str([s.value for s in states]),
                fix="return ls.Subset('unlabeled', ids, data)",
            )
        return
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
            actual=_describe(result)
            if not isinstance(result, list | tuple)
            else f"list of {[type(s).__name__ for s in result]}",
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
    _check_states(states, function=function, unlabeled=unlabeled)
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
    fn: Decorated,
    value: Any,
    *,
    subset: str,
    sample_id: Any,
    dtype: str = "float32",
    tracker: ShapeTracker | None = None,
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
