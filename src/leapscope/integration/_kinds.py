"""The kind of each model output (class scores, multi-label, dense map, boxes, regression values).

The integration test resolves it once, from the first real prediction: the kind a
``ls.Prediction`` declares (checked against the output's shape), else the one
:func:`leapscope.sdk._parts.infer_kind` infers. ``leapscope check`` shows it and evaluate
stores it in the run manifest; every later stage reads it from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leapscope.exceptions import ValidationError
from leapscope.sdk._parts import Prediction, PredictionKind, class_axis, infer_kind, kind_mismatch

__all__ = ["PredictionKindInfo", "resolve_kinds"]


@dataclass(frozen=True)
class PredictionKindInfo:
    """One model output's resolved kind: ``declared`` when the ``ls.Prediction`` named it, else inferred.

    ``shape`` is one sample's shape (no batch axis).
    """

    name: str
    kind: PredictionKind
    declared: bool
    shape: tuple[int, ...]
    labels: list[str] | None = None
    #: how an undeclared kind was chosen, or how to change it (shown by ``leapscope check``)
    note: str | None = None
    #: the axis of one sample holding one value per label (declared, or found by ``class_axis``); None
    #: for outputs without labels along an axis (regression, boxes, label-less maps)
    class_axis: int | None = None
    #: a problem ``check`` reports as a warning (e.g. an axis another platform would read differently)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "declared": self.declared,
            "shape": list(self.shape),
            "labels": None if self.labels is None else list(self.labels),
            "note": self.note,
            "class_axis": self.class_axis,
            "warning": self.warning,
        }


def _probabilities(out: Any) -> bool:
    values = np.asarray(out, np.float64)
    return bool(values.size) and bool(np.isfinite(values).all()) and values.min() >= 0.0 and values.max() <= 1.0


def resolve_kinds(
    label: str,
    names: Sequence[str],
    declared: Sequence[Prediction],
    outputs: Sequence[np.ndarray],
    *,
    subset: str | None = None,
    sample_id: Any = None,
) -> list[PredictionKindInfo]:
    """The kind of each of ``outputs`` (batched arrays, named ``names``; ``declared`` predictions by position).

    Raises
    ------
    ValidationError
        A declared kind the output's shape cannot hold (e.g. ``kind="class"`` on a (1, 128, 128) map):
        the message names the prediction, the expected and actual shapes and the kind to declare.
    """
    found = []
    for i, (name, out) in enumerate(zip(names, outputs, strict=False)):
        pred = declared[i] if i < len(declared) else Prediction(name)
        shape = tuple(int(s) for s in np.shape(out))[1:]
        if pred.kind is not None:
            mismatch = kind_mismatch(pred.kind, shape, pred.labels, pred.channel_dim)
            if mismatch is not None:
                expected, fix = mismatch
                raise ValidationError(
                    f"Prediction '{pred.name}' declares kind='{pred.kind}' but the model's output does not fit it",
                    function=label,
                    argument="predictions",
                    subset=subset,
                    sample_id=sample_id,
                    expected=f"for kind '{pred.kind}', one sample of {expected}",
                    actual=f"one sample of shape {shape} ({int(np.prod(shape, dtype=np.int64))} values)",
                    fix=f"in ls.Prediction('{pred.name}', ...), {fix}",
                )
        kind = pred.kind or infer_kind(shape, pred.labels, pred.channel_dim)
        note = None
        if pred.kind is None and pred.kind_hint is not None:
            if kind_mismatch(pred.kind_hint, shape, pred.labels, pred.channel_dim) is None:
                kind, note = pred.kind_hint, f"from {pred.hint_source or 'the integration'}"
            else:
                note = f"not '{pred.kind_hint}' ({pred.hint_source or 'hinted'}): shape {shape} does not fit it"
        elif pred.kind is None and kind == "regression" and shape in ((1,), ()) and _probabilities(out):
            note = (
                "its values are in [0, 1]: if it is a sigmoid binary score, declare "
                f"ls.Prediction('{pred.name}', labels=['<positive class>']) (or kind='class')"
            )
        axis = _labelled_axis(shape, pred) if kind in ("class", "multilabel", "dense") else None
        found.append(
            PredictionKindInfo(
                name, kind, pred.kind is not None, shape, pred.labels, note, axis, _platform_warning(pred, shape, axis)
            )
        )
    return found


def _labelled_axis(shape: tuple[int, ...], pred: Prediction) -> int | None:
    """The non-negative axis of one sample holding one value per label, or None (no labels, or none fits)."""
    if not pred.labels or not shape:
        return None
    axis = class_axis(shape, pred.labels, pred.channel_dim)
    if not -len(shape) <= axis < len(shape) or shape[axis] != len(pred.labels):
        return None
    return axis % len(shape)


def _platform_warning(pred: Prediction, shape: tuple[int, ...], axis: int | None) -> str | None:
    """A Tensorleap ``PredictionTypeHandler`` left at code-loader's default ``channel_dim=-1`` whose labels
    leapscope found on another axis: right here, but Tensorleap itself would read the last axis."""
    if pred.axis_default_of != "code-loader" or axis is None or len(shape) < 2 or axis == len(shape) - 1:
        return None
    return (
        f"prediction '{pred.name}': PredictionTypeHandler leaves channel_dim at code-loader's default -1 (the last "
        f"axis, {shape[-1]} values), but its {len(pred.labels or [])} labels are on axis {axis} of one sample "
        f"{shape}; leapscope uses axis {axis}, Tensorleap would read axis -1: set channel_dim={axis + 1} "
        "(code-loader counts the batch axis) in PredictionTypeHandler"
    )
