"""Metadata slicing: which metadata columns are categorical, and candidate slices of a subset.

A slice is one or two predicates over metadata columns, written in the filter
language of :func:`leapscope.store.parse_filter` (``column op literal [and ...]``), so
every slice can be re-selected, shown and turned into a threshold test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

__all__ = ["equality_filter", "is_categorical", "metadata_slices"]

Slice = tuple[str, np.ndarray, str | None]
"""(name, boolean mask of shape (N,), filter text or None)."""


def is_categorical(column: pd.Series) -> bool:
    """Strings, booleans, categories, and integers with at most 12 distinct values."""
    types = pd.api.types
    if not types.is_numeric_dtype(column.dtype) or types.is_bool_dtype(column.dtype):
        return True
    return bool(types.is_integer_dtype(column.dtype) and column.nunique() <= 12)


def equality_filter(metadata: pd.DataFrame, name: str, value: object) -> str:
    """``name == 'value'`` when the column holds strings, else ``name == value``."""
    literal = metadata[name].dropna().iloc[0]
    return f"{name} == {value!r}" if isinstance(literal, str) else f"{name} == {value}"


def _predicates(metadata: pd.DataFrame, scope: np.ndarray, min_samples: int) -> list[tuple[str, np.ndarray]]:
    """One-column predicates: ``col == value`` (categorical), quartile bounds (numeric)."""
    predicates: list[tuple[str, np.ndarray]] = []
    for name in metadata.columns:
        column = metadata[name]
        if column[scope].isna().all():
            continue
        if is_categorical(column[scope]):
            for value in column[scope].dropna().unique():
                mask = (column == value).to_numpy() & scope
                if mask.sum() >= min_samples:
                    literal = f"{value!r}" if isinstance(value, str) else f"{value}"
                    predicates.append((f"{name} == {literal}", mask))
        else:
            values = column.astype(float).to_numpy()
            lo, hi = np.nanquantile(values[scope], [0.25, 0.75])
            predicates.append((f"{name} <= {lo:.4g}", (values <= lo) & scope))
            predicates.append((f"{name} >= {hi:.4g}", (values >= hi) & scope))
    return predicates


def metadata_slices(metadata: pd.DataFrame, scope: np.ndarray, min_samples: int) -> list[Slice]:
    """SliceLine-style candidate slices (Sagadeeva & Boehm 2021) of the rows in ``scope``.

    Every one-column predicate, then every conjunction of two predicates over different
    columns with at least ``min_samples`` rows. ``scope`` is a boolean mask of shape (N,)
    with N = ``len(metadata)``; each mask returned lies inside it.
    """
    predicates = _predicates(metadata, scope, min_samples)
    out: list[Slice] = [(p, m, p) for p, m in predicates]
    for (p1, m1), (p2, m2) in itertools.combinations(predicates, 2):
        if p1.split()[0] == p2.split()[0]:
            continue
        mask = m1 & m2
        if mask.sum() >= min_samples:
            out.append((f"{p1} and {p2}", mask, f"{p1} and {p2}"))
    return out
