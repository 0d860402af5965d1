"""Metadata slicing: which metadata columns are categorical, and candidate slices of a subset.

A slice is one or two predicates over metadata columns, written in the filter
language of :func:`leapscope.store.parse_filter` (``column op literal [and ...]``), so
every slice can be re-selected, shown and turned into a threshold test.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import numpy as np
import pandas as pd

from leapscope.exceptions import LeapscopeError

__all__ = [
    "category_codes",
    "cut_literal",
    "equality_filter",
    "is_categorical",
    "metadata_slices",
    "metadata_slices_with_parents",
    "show_value",
]

MAX_ORDINAL_LEVELS = 6
"""An integer metadata column with 3 to this many levels is also cut by ``>=`` / ``<=`` (a count, an ordinal)."""

Slice = tuple[str, np.ndarray, str | None]
"""(name, boolean mask of shape (N,), filter text or None)."""


def is_categorical(column: pd.Series) -> bool:
    """Strings, booleans, categories, and integers with at most 12 distinct values."""
    types = pd.api.types
    if not types.is_numeric_dtype(column.dtype) or types.is_bool_dtype(column.dtype):
        return True
    return bool(types.is_integer_dtype(column.dtype) and column.nunique() <= 12)


def equality_filter(metadata: pd.DataFrame, name: str, value: object) -> str:
    """``name == 'value'`` when the column holds strings, else ``name == value``; ``name == null`` for a
    missing value (None / NaN)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{name} == null"
    literal = metadata[name].dropna().iloc[0]
    return f"{name} == {value!r}" if isinstance(literal, str) else f"{name} == {value}"


def category_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """(codes, values): each sample's category as an int64 code (N,) and the value of each code, in order
    of first appearance. A missing value (None, NaN) is a category of its own, with value None; numpy
    scalars become Python values (``2``, not ``'2'`` or ``np.int64(2)``)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    values = [None if pd.isna(v) else (v.item() if isinstance(v, np.generic) else v) for v in uniques]
    return np.asarray(codes, dtype=np.int64), values


def show_value(value: Any) -> str:
    """A category value in a sentence: ``'north'`` for strings, ``2`` / ``True`` for others, ``missing`` for None."""
    return "missing" if value is None else repr(value) if isinstance(value, str) else str(value)


def _predicates(metadata: pd.DataFrame, scope: np.ndarray, min_samples: int) -> list[tuple[str, np.ndarray]]:
    """One-column predicates: ``col == value`` (categorical; integer levels also ``>=`` / ``<=``), quartile bounds
    (numeric, written exactly: :func:`cut_literal`)."""
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
            predicates += _ordinal_bounds(name, column, scope, min_samples)
        else:
            values = column.astype(float).to_numpy()
            lo, hi = np.nanquantile(values[scope], [0.25, 0.75])
            predicates += [_bound(name, values, scope, "<=", lo), _bound(name, values, scope, ">=", hi)]
    return predicates


def _bound(name: str, values: np.ndarray, scope: np.ndarray, op: str, cut: float) -> tuple[str, np.ndarray]:
    """``name op literal`` and its mask, the literal written so that it selects exactly ``values op cut`` in scope."""
    text = cut_literal(values[scope], cut, op)
    mask = (values >= float(text)) if op == ">=" else (values <= float(text))
    return f"{name} {op} {text}", mask & scope


def _ordinal_bounds(name: str, column: pd.Series, scope: np.ndarray, min_samples: int) -> list[tuple[str, np.ndarray]]:
    """``col >= v`` / ``col <= v`` at the inner levels of an integer column with 3 to :data:`MAX_ORDINAL_LEVELS`
    levels (``== v`` covers the outer ones): 0/1/2 squares gives ``>= 1`` (one or more) and ``<= 1`` besides the
    three ``== v``. Columns with more levels are more often codes (class ids) than counts: ``==`` only."""
    if not pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return []
    levels = np.sort(column[scope].dropna().unique())
    if len(levels) > MAX_ORDINAL_LEVELS:
        return []
    out = []
    values = column.to_numpy()
    for level in levels[1:-1]:
        for op, mask in ((">=", values >= level), ("<=", values <= level)):
            if (mask & scope).sum() >= min_samples:
                out.append((f"{name} {op} {int(level)}", mask & scope))
    return out


def cut_literal(values: np.ndarray, cut: float, op: str) -> str:
    """The shortest decimal literal ``t`` for which ``values op t`` selects the same values as ``values op cut``.

    ``op`` is ``">="`` or ``"<="``; ``values`` (float, NaN ignored) are the values the filter will see.
    Rounding ``0.11206055`` to ``0.1121`` in ``>=`` would drop the values in between; this rounds down
    for ``>=`` (up for ``<=``) where rounding to nearest would cross a value, and keeps as many digits
    (at least 3) as it takes to stay above (below) the nearest value left out, so a slice and its
    filter always hold the same samples.
    """
    finite = values[np.isfinite(values)]
    if op == ">=":
        outside = finite[finite < cut]
        edge, rounding = (float(outside.max()) if len(outside) else -np.inf), ROUND_FLOOR
    elif op == "<=":
        outside = finite[finite > cut]
        edge, rounding = (float(outside.min()) if len(outside) else np.inf), ROUND_CEILING
    else:
        raise LeapscopeError(f"cut_literal: op must be '>=' or '<=', got {op!r}")
    exact = Decimal(float(cut))
    for digits in range(3, 18):  # at least 3 significant digits: the literal stays close to the cut
        for mode in (ROUND_HALF_EVEN, rounding):
            text = _plain(Context(prec=digits, rounding=mode).create_decimal(exact))
            t = float(text)
            if (edge < t <= cut) if op == ">=" else (cut <= t < edge):
                return text
    return _plain(exact)


def _plain(number: Decimal) -> str:
    """A Decimal as a filter number literal without trailing zeros: ``0.112``, ``3``, ``-1.5e-7``."""
    text = (
        format(number.normalize(), "f") if abs(number) >= Decimal("1e-6") or not number else f"{number.normalize():e}"
    )
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return "0" if text in ("-0", "") else text


def metadata_slices(metadata: pd.DataFrame, scope: np.ndarray, min_samples: int) -> list[Slice]:
    """SliceLine-style candidate slices (Sagadeeva & Boehm 2021) of the rows in ``scope``.

    Every one-column predicate, then every conjunction of two predicates over different
    columns with at least ``min_samples`` rows. ``scope`` is a boolean mask of shape (N,)
    with N = ``len(metadata)``; each mask returned lies inside it.
    """
    return [s for s, _ in metadata_slices_with_parents(metadata, scope, min_samples)]


def metadata_slices_with_parents(
    metadata: pd.DataFrame, scope: np.ndarray, min_samples: int
) -> list[tuple[Slice, tuple[np.ndarray, np.ndarray] | None]]:
    """:func:`metadata_slices`, each with the masks (N,) of its two one-predicate parents (inside ``scope``)
    for a conjunction, None for a one-predicate slice: a conjunction must do worse than each parent
    without the other predicate to earn its second predicate (see
    :func:`leapscope.analysis.insights.performance.low_performance`)."""
    predicates = _predicates(metadata, scope, min_samples)
    out: list[tuple[Slice, tuple[np.ndarray, np.ndarray] | None]] = [((p, m, p), None) for p, m in predicates]
    for (p1, m1), (p2, m2) in itertools.combinations(predicates, 2):
        if p1.split()[0] == p2.split()[0]:
            continue
        mask = m1 & m2
        if mask.sum() >= min_samples:
            out.append(((f"{p1} and {p2}", mask, f"{p1} and {p2}"), (m1, m2)))
    return out
