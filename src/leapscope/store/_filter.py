"""A parsed sample filter (:class:`Filter`) and what it selects: SQL, a mask, a schema check.

The text is parsed by :func:`leapscope.store._filter_parse.parse_filter` (the grammar and its
limits live there). A parsed :class:`Filter` gives a DuckDB ``WHERE`` fragment with quoted
identifiers and ``?`` parameters (:meth:`Filter.sql`) and a boolean mask over a pyarrow table
(:meth:`Filter.mask`); both select the same rows, as pandas would: NaN and null never
match ``<``, ``<=``, ``>``, ``>=``, ``==`` or ``in``, always match ``!=`` and ``not in``, and
both count as missing for ``== null`` / ``!= null``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from leapscope.exceptions import FilterError
from leapscope.store._sql import sql_identifier

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["COMPARISONS", "Condition", "Filter", "FilterError"]

#: the largest integer a filter literal may hold (DuckDB and Arrow compare int64)
INT64_MAX = 2**63 - 1
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERING = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Condition:
    """``column op value``; ``value`` is a tuple for ``in`` / ``not in``; ``kind`` is the
    column's kind once checked against a schema (``string``, ``integer``, ``float``,
    ``boolean``) or ``None``."""

    column: str
    op: str
    value: Any
    kind: str | None = None

    def __str__(self) -> str:
        if isinstance(self.value, tuple):
            return f"{self.column} {self.op} [{', '.join(json.dumps(v) for v in self.value)}]"
        return f"{self.column} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Filter:
    """A parsed filter: conditions joined by ``and`` (empty = every row).

    Build it with :func:`parse_filter`; give it a schema there (or call :meth:`check`)
    before :meth:`mask`, so columns and literal types are validated.
    """

    text: str
    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.conditions)

    @property
    def columns(self) -> list[str]:
        """The columns the filter reads, in order, without repeats."""
        return list(dict.fromkeys(c.column for c in self.conditions))

    def check(self, schema: pa.Schema | Iterable[str]) -> Filter:
        """Return the filter, validated against a pyarrow schema (names and types) or bare column names.

        Raises
        ------
        FilterError
            An unknown column (the message lists close matches), a list/struct column, or a
            literal whose type does not fit the column (``row < "abc"``, ``digit_label == 8``
            on a string column).
        """
        import pyarrow as pa

        if isinstance(schema, pa.Schema):
            names = list(schema.names)
            types: dict[str, pa.DataType] | None = {f.name: f.type for f in schema}
        else:
            names, types = list(schema), None
        checked = []
        for cond in self.conditions:
            if cond.column not in names:
                close = difflib.get_close_matches(cond.column, names, n=5, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                shown = ", ".join(names[:60]) + (", ..." if len(names) > 60 else "")
                raise FilterError(f"filter {self.text!r}: unknown column '{cond.column}'{hint}; columns: {shown}")
            if types is None:
                checked.append(cond)
                continue
            kind = _kind(types[cond.column])
            if kind is None:
                raise FilterError(
                    f"filter {self.text!r}: column '{cond.column}' holds {types[cond.column]} values, which a filter "
                    "cannot compare; filter on a scalar column (string, number or boolean)"
                )
            for value in cond.value if isinstance(cond.value, tuple) else (cond.value,):
                _check_literal(self.text, cond, kind, value)
            checked.append(replace(cond, kind=kind))
        return replace(self, conditions=tuple(checked))

    def sql(self) -> tuple[str, list[Any]]:
        """A DuckDB ``WHERE`` fragment (without ``WHERE``; ``""`` when empty) and its parameters.

        Identifiers are double-quoted, every literal is a ``?`` parameter.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for cond in self.conditions:
            col = sql_identifier(cond.column)
            if isinstance(cond.value, tuple):
                marks = ", ".join("?" for _ in cond.value)
                # SQL NOT IN drops nulls; keep them, as the mask does
                clause = f"{col} IN ({marks})" if cond.op == "in" else f"({col} IS NULL OR {col} NOT IN ({marks}))"
                params.extend(cond.value)
            elif cond.value is None:  # NaN counts as null (missing), as in pandas
                missing = f"({col} IS NULL OR isnan({col}))" if cond.kind == "float" else f"{col} IS NULL"
                clause = missing if cond.op == "==" else f"NOT {missing}"
            else:
                clause = f"{col} {_SQL_OPS[cond.op]} ?"
                if cond.op == "!=":
                    clause = f"({col} IS NULL OR {clause})"
                elif cond.kind == "float" and cond.op in (">", ">="):
                    clause = f"({clause} AND NOT isnan({col}))"  # DuckDB orders NaN above every number
                params.append(cond.value)
            clauses.append(clause)
        return " AND ".join(clauses), params

    def mask(self, table: pa.Table) -> np.ndarray:
        """(N,) bool numpy mask of the rows of ``table`` that match (all ``True`` when empty).

        Raises
        ------
        FilterError
            As :meth:`check` (the filter is checked against ``table.schema``).
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        checked = self.check(table.schema)
        result = np.ones(table.num_rows, dtype=bool)
        for cond in checked.conditions:
            column = table.column(cond.column)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if isinstance(cond.value, tuple):
                if cond.kind == "float" or (cond.kind == "integer" and not all(isinstance(v, int) for v in cond.value)):
                    column, values = column.cast(pa.float64()), pa.array([float(v) for v in cond.value], pa.float64())
                elif cond.kind == "integer":
                    column, values = column.cast(pa.int64()), pa.array(list(cond.value), pa.int64())
                else:
                    values = pa.array(list(cond.value), type=column.type)
                hit = pc.is_in(column, value_set=values, skip_nulls=True)
                hit = pc.fill_null(hit, False)
                if cond.op == "not in":
                    hit = pc.invert(hit)
            elif cond.value is None:
                hit = pc.is_null(column, nan_is_null=True)
                if cond.op == "!=":
                    hit = pc.invert(hit)
            else:
                scalar = pa.scalar(float(cond.value) if cond.kind == "float" else cond.value)
                compare = {
                    "==": pc.equal,
                    "!=": pc.not_equal,
                    "<": pc.less,
                    "<=": pc.less_equal,
                    ">": pc.greater,
                    ">=": pc.greater_equal,
                }[cond.op]
                hit = compare(column, scalar)
                hit = pc.fill_null(hit, cond.op == "!=")  # null != x is true, as in pandas
            result &= np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        return result


def _kind(dtype: pa.DataType) -> str | None:
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "float"
    return None


def _check_literal(text: str, cond: Condition, kind: str, value: Any) -> None:
    shown = text if len(text) <= 200 else text[:200] + "..."
    where = f"filter {shown!r}: column '{cond.column}'"
    if value is None:
        return  # null tests (== / != null, in [..., null]) fit every column
    if kind == "string":
        if not isinstance(value, str):
            as_text = json.dumps(json.dumps(value))  # 8 -> "8", true -> "true"
            raise FilterError(
                f"{where} holds strings, but {json.dumps(value)} is not a string; write {cond.column} {cond.op} {_as_list(cond, as_text)}"
            )
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise FilterError(
                f"{where} holds booleans, but {json.dumps(value)} is not one; write {cond.column} == true (or false)"
            )
        if cond.op in _ORDERING:
            raise FilterError(f"{where} holds booleans, which have no order; use == or !=")
    else:  # integer, float
        if isinstance(value, bool) or not isinstance(value, int | float):
            number = _number_hint(value)
            fix = (
                f"write {cond.column} {cond.op} {_as_list(cond, number)}"
                if number is not None
                else f"compare it with a number, e.g. {cond.column} {cond.op} 0.5"
            )
            raise FilterError(
                f"{where} holds numbers ({'integers' if kind == 'integer' else 'floats'}), but {json.dumps(value)} is not a number; {fix}"
            )


def _number_hint(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        if math.isfinite(number):
            return value.strip()
    return None


def _as_list(cond: Condition, literal: str) -> str:
    return f"[{literal}, ...]" if isinstance(cond.value, tuple) else literal
