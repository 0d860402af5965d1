"""Helpers shared by the routers: safe structured filters and DuckDB access to a run."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import duckdb

from leapscope.exceptions import LeapscopeError
from leapscope.store import Run

__all__ = ["connection", "json_safe", "parse_filters", "quote"]

_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_CONNECTIONS: dict[str, duckdb.DuckDBPyConnection] = {}
_LOCK = threading.Lock()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connection(run: Run) -> duckdb.DuckDBPyConnection:
    """A cursor on a cached DuckDB connection whose table ``samples`` is the run's samples.

    A complete run is immutable, so its samples are loaded once into an in-memory
    DuckDB table (no Parquet decoding per request).
    """
    with _LOCK:
        con = _CONNECTIONS.get(run.id)
        if con is None:
            con = duckdb.connect()
            con.register("samples_arrow", run.samples)
            con.execute("CREATE TABLE samples AS SELECT * FROM samples_arrow")  # a table, so every cursor sees it
            con.unregister("samples_arrow")
            _CONNECTIONS[run.id] = con
        return con.cursor()


def parse_filters(filters: list[str], columns: set[str]) -> tuple[str, list[Any]]:
    """``["digit_label == \\"8\\"", "loss_ce > 0.5"]`` -> (SQL WHERE fragment, parameters).

    Only ``column op literal`` with a known column is accepted: nothing from a request
    is ever evaluated as code.
    """
    clauses, params = [], []
    for text in filters:
        match = _FILTER.match(text)
        if not match:
            raise LeapscopeError(f"filter {text!r}: expected 'column op value' with op one of == != < <= > >=")
        column, op, raw = match.groups()
        if column not in columns:
            raise LeapscopeError(f"filter {text!r}: unknown column '{column}'")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip("'")
        clauses.append(f"{quote(column)} {'=' if op == '==' else op} ?")
        params.append(value)
    return " AND ".join(clauses), params


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value
