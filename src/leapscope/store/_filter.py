"""The one safe sample filter: ``column op literal [and column op literal ...]``.

Every string filter leapscope accepts (saved threshold tests, ``leapscope test --filter``,
``analysis.aggregate(where=...)``, the API's ``where``) goes through :func:`parse_filter`.
Nothing of the text is ever evaluated as code: a small tokenizer accepts

- a column: ``[A-Za-z_][A-Za-z0-9_]*`` (ASCII), checked against the run's columns;
- an operator: ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=``, or ``in`` / ``not in`` followed by
  a ``[literal, ...]`` list;
- a literal: a JSON number, a JSON string (``"8"``), a single-quoted string (``'8'``),
  ``true`` / ``false`` / ``null`` (``True`` / ``False`` / ``None`` too);
- ``and`` between conditions (no ``or``, no parentheses, no functions, no attributes).

A parsed :class:`Filter` gives a DuckDB ``WHERE`` fragment with quoted identifiers and
``?`` parameters (:meth:`Filter.sql`) and a boolean mask over a pyarrow table
(:meth:`Filter.mask`); both select the same rows, as pandas would: NaN and null never
match ``<``, ``<=``, ``>``, ``>=``, ``==`` or ``in``, always match ``!=`` and ``not in``, and
both count as missing for ``== null`` / ``!= null``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from leapscope.exceptions import FilterError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["MAX_FILTER_LENGTH", "Condition", "Filter", "FilterError", "parse_filter"]

MAX_FILTER_LENGTH = 2000
"""Longest filter text accepted (characters)."""

_MAX_CONDITIONS = 32
_MAX_IN_VALUES = 256
_INT64 = 2**63 - 1
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERING = ("<", "<=", ">", ">=")
GRAMMAR = "column op literal [and column op literal ...] with op one of == != < <= > >= in [..] 'not in' [..]"

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_.]))
  | (?P<dstring>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
  | (?P<sstring>'(?:[^'\\\x00-\x1f]|\\['\\])*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[\[\],])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}


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
        """This filter validated against a pyarrow schema (names and types) or bare column names.

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
            col = _quote(cond.column)
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
                compare = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
                           ">=": pc.greater_equal}[cond.op]
                hit = compare(column, scalar)
                hit = pc.fill_null(hit, cond.op == "!=")  # null != x is true, as in pandas
            result &= np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        return result


def parse_filter(text: str | Sequence[str] | None, schema: pa.Schema | Iterable[str] | None = None) -> Filter:
    """Parse ``column op literal [and ...]`` (or a list of such strings, joined by ``and``).

    Parameters
    ----------
    text : str, list of str or None
        The filter; ``None``, ``""`` or ``[]`` give an empty filter (every row).
    schema : pyarrow.Schema or iterable of column names, optional
        When given, columns (and, with a schema, literal types) are checked too.

    Returns
    -------
    Filter

    Raises
    ------
    FilterError
        Malformed text (the message says where and shows the grammar), text over
        :data:`MAX_FILTER_LENGTH` characters, or (with ``schema``) an unknown column or a
        literal of the wrong type.
    """
    if text is None:
        parsed = Filter("")
    elif isinstance(text, str):
        parsed = _parse(text)
    else:
        parts = [_parse(t) for t in text]
        parsed = Filter(" and ".join(p.text for p in parts if p.text.strip()), tuple(c for p in parts for c in p.conditions))
        if len(parsed.conditions) > _MAX_CONDITIONS:
            raise FilterError(f"filter: {len(parsed.conditions)} conditions; at most {_MAX_CONDITIONS} are accepted")
    return parsed.check(schema) if schema is not None else parsed


def _parse(text: str) -> Filter:
    if not isinstance(text, str):
        raise FilterError(f"filter: expected a string, got {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter: {len(text)} characters; at most {MAX_FILTER_LENGTH} are accepted ({GRAMMAR})")
    shown = text if len(text) <= 200 else text[:200] + "..."
    tokens = _tokenize(text, shown)
    if not tokens:
        return Filter(text)
    conditions: list[Condition] = []
    pos = 0

    def fail(why: str) -> FilterError:
        at = tokens[pos][1] if pos < len(tokens) else len(text)
        return FilterError(f"filter {shown!r}: {why} at character {at}; expected {GRAMMAR}, e.g. digit_label == \"8\" and loss_ce > 0.5")

    def take() -> tuple[str, int, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise fail("unexpected end")
        token = tokens[pos]
        pos += 1
        return token[0], token[1], token[2]

    while True:
        kind, _, value = take()
        if kind != "name" or value in _KEYWORDS or value in ("and", "or", "in", "not"):
            pos -= 1
            raise fail(f"expected a column name, found {value!r}")
        if value.startswith("__"):
            pos -= 1
            raise fail(f"column names cannot start with '__' ({value!r})")
        column = value
        kind, _, value = take()
        if kind == "op":
            op = value
            literal = _literal(take(), fail)
            if literal is None and op not in ("==", "!="):
                raise fail(f"null can only be compared with == or != (found {op})")
            conditions.append(Condition(column, op, literal))
        elif kind == "name" and value in ("in", "not"):
            op = "in"
            if value == "not":
                kind, _, value = take()
                if (kind, value) != ("name", "in"):
                    pos -= 1
                    raise fail("expected 'in' after 'not'")
                op = "not in"
            kind, _, value = take()
            if value != "[":
                pos -= 1
                raise fail(f"expected '[' after '{op}'")
            values: list[Any] = []
            while True:
                values.append(_literal(take(), fail))
                if values[-1] is None:
                    pos -= 1
                    raise fail(f"null cannot be in an '{op}' list; write '{column} == null' (or != null) as its own condition")
                kind, _, value = take()
                if value == "]":
                    break
                if value != ",":
                    pos -= 1
                    raise fail("expected ',' or ']' in the list")
            if len(values) > _MAX_IN_VALUES:
                raise fail(f"{len(values)} values in the list; at most {_MAX_IN_VALUES}")
            conditions.append(Condition(column, op, tuple(values)))
        else:
            pos -= 1
            raise fail(f"expected an operator (== != < <= > >= in) after '{column}', found {value!r}")
        if len(conditions) > _MAX_CONDITIONS:
            raise fail(f"more than {_MAX_CONDITIONS} conditions (at most {_MAX_CONDITIONS} are accepted)")
        if pos == len(tokens):
            return Filter(text, tuple(conditions))
        kind, _, value = take()
        if kind == "name" and value.lower() == "or":
            pos -= 1
            raise fail("'or' is not supported (conditions are joined with 'and'; use 'column in [a, b]' for alternatives)")
        if kind != "name" or value.lower() != "and":
            pos -= 1
            raise fail(f"expected 'and' between conditions, found {value!r}")


def _tokenize(text: str, shown: str) -> list[tuple[str, int, str]]:
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            raise FilterError(
                f"filter {shown!r}: unexpected character {char!r} (U+{ord(char):04X}) at character {at}; expected {GRAMMAR}; "
                "strings are quoted: \"8\" or '8'"
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, at, match.group()))
        at = match.end()
    return tokens


def _literal(token: tuple[str, int, str], fail: Any) -> Any:
    kind, _, raw = token
    if kind == "number":
        number: int | float = json.loads(raw)
        if isinstance(number, float) and not math.isfinite(number):
            raise fail(f"number {raw} is out of range")
        if isinstance(number, int) and abs(number) > _INT64:
            raise fail(f"integer {raw} is out of the 64-bit range")
        return number
    if kind == "dstring":
        return json.loads(raw)
    if kind == "sstring":
        return re.sub(r"\\(['\\])", r"\1", raw[1:-1])
    if kind == "name" and raw in _KEYWORDS:
        return _KEYWORDS[raw]
    raise fail(f"expected a literal (number, \"string\", 'string', true, false, null), found {raw!r}")


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
            raise FilterError(f"{where} holds strings, but {json.dumps(value)} is not a string; write {cond.column} {cond.op} {_as_list(cond, as_text)}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise FilterError(f"{where} holds booleans, but {json.dumps(value)} is not one; write {cond.column} == true (or false)")
        if cond.op in _ORDERING:
            raise FilterError(f"{where} holds booleans, which have no order; use == or !=")
    else:  # integer, float
        if isinstance(value, bool) or not isinstance(value, int | float):
            number = _number_hint(value)
            fix = f"write {cond.column} {cond.op} {_as_list(cond, number)}" if number is not None else f"compare it with a number, e.g. {cond.column} {cond.op} 0.5"
            raise FilterError(f"{where} holds numbers ({'integers' if kind == 'integer' else 'floats'}), but {json.dumps(value)} is not a number; {fix}")


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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
