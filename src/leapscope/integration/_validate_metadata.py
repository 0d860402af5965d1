"""Validation of metadata values: scalars or flat dicts, flattened to typed columns that never clash with
leapscope's reserved columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from leapscope.exceptions import ValidationError
from leapscope.integration._validate_base import (
    RESERVED_COLUMNS,
    RESERVED_PREFIXES,
    MetadataScalar,
    _ctx,
    _describe,
)
from leapscope.sdk._decorators import Metadata
from leapscope.sdk._runtime import redact

__all__ = ["validate_metadata"]


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


def _flatten(fn: Metadata, value: Any, *, subset: str, sample_id: Any) -> dict[str, Any]:
    """A scalar as column ``name``, a flat dict as columns ``name_key``; raises :class:`ValidationError`."""
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
    return items


def _check_types(fn: Metadata, items: dict[str, Any], types: dict[str, str], *, subset: str, sample_id: Any) -> None:
    """Coerce to the declared dtype and check each column keeps its first type (``types`` is updated)."""
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


def validate_metadata(
    fn: Metadata, value: Any, *, subset: str, sample_id: Any, types: dict[str, str] | None = None
) -> dict[str, MetadataScalar]:
    """Check one metadata value and flatten it to columns.

    A scalar becomes column ``name``; a flat dict ``{key: scalar}`` becomes columns
    ``name_key``. ``types`` (column -> type name) is updated with the first type
    seen and later values must match (int widens to float; None is allowed).
    """
    items = _flatten(fn, value, subset=subset, sample_id=sample_id)
    for column in items:
        if column in RESERVED_COLUMNS or column.startswith(RESERVED_PREFIXES):
            _refuse_reserved(fn, column, isinstance(value, Mapping), subset, sample_id)
    if types is not None:
        _check_types(fn, items, types, subset=subset, sample_id=sample_id)
    return items


def _refuse_reserved(fn: Metadata, column: str, from_dict: bool, subset: str, sample_id: Any) -> None:
    source = f"metadata '{fn.name}' with key '{column[len(fn.name) + 1 :]}'" if from_dict else f"metadata '{fn.name}'"
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
