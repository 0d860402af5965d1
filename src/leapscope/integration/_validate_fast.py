"""Cheap checks that evaluate runs once a function's first values passed the full validators.

(The encoder check is inline in :mod:`leapscope.engine.encode`: a plain ndarray of the validated dtype
and shape, anything else through the full validator.)

Each check either accepts a value that the full validator would accept unchanged (returning the
same result), or says "not sure" (``False`` / ``None``): the caller then runs the full validator
(:func:`~leapscope.integration._validate_data.validate_encoded`,
:func:`~leapscope.integration._validate_metadata.validate_metadata`), which raises the usual
:class:`~leapscope.exceptions.ValidationError` for a bad value. So the fast path never changes an
outcome or a message; it only skips work for values shaped like the ones already validated.

NaN/inf in encoder outputs is not checked here per sample: evaluate checks each stacked batch at
once (:func:`non_finite_rows`) and re-validates only the rows it flags.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from leapscope.sdk._decorators import Metadata
from leapscope.sdk._runtime import redact

__all__ = ["fast_metadata", "non_finite_rows"]

#: exact Python types of metadata scalars -> the type name :func:`validate_metadata` records
_SCALAR_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def non_finite_rows(stacked: np.ndarray) -> np.ndarray:
    """Positions (int64) of the rows of a stacked float batch ``(n, ...)`` holding NaN or inf; empty otherwise.

    One vectorised ``np.isfinite`` over the batch; the rows are located only when it finds one.
    """
    if stacked.dtype.kind != "f" or stacked.size == 0 or np.isfinite(stacked).all():
        return np.empty(0, np.int64)
    flat = stacked.reshape(len(stacked), -1)
    return np.flatnonzero(~np.isfinite(flat).all(axis=1)).astype(np.int64)


def _scalar(column: str, value: Any, types: dict[str, str], redacting: bool) -> tuple[bool, Any]:
    """(accepted, normalised value) of one metadata scalar going to ``column``, as the full validator would."""
    if value is None:
        return True, None
    kind = _SCALAR_TYPES.get(type(value))
    seen = types.get(column)
    if kind is None or seen is None:
        return False, None
    if kind == "float":
        if seen != "float":
            return False, None  # int -> float widening: let the full validator update the recorded type
        return True, None if math.isnan(value) else value
    if kind != seen and not (kind == "int" and seen == "float"):
        return False, None
    if kind == "str" and redacting:
        return True, redact(value)
    return True, value


def fast_metadata(fn: Metadata, value: Any, types: dict[str, str], redacting: bool) -> dict[str, Any] | None:
    """The columns :func:`validate_metadata` would return for ``value``, or None to run the full validator.

    Accepts a scalar or a plain ``dict`` of scalars whose columns were all seen before with the same
    type (``types``: column -> type name, as :func:`validate_metadata` records them; a column
    seen before passed the reserved-name check). ``redacting``: whether a secret is set (strings are
    then redacted). Functions with a declared ``dtype`` always take the full validator.
    """
    if fn.dtype is not None:
        return None
    if type(value) is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                return None
            column = f"{fn.name}_{key}"
            accepted, normalised = _scalar(column, item, types, redacting)
            if not accepted:
                return None
            out[column] = normalised
        return out
    accepted, normalised = _scalar(fn.name, value, types, redacting)
    return {fn.name: normalised} if accepted else None
