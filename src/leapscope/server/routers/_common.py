"""Helpers shared by the routers: safe structured filters and DuckDB access to a run."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import duckdb
from fastapi import HTTPException

from leapscope.store import FilterError, Run, parse_filter

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["connection", "json_safe", "parse_filters", "quote"]

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


def parse_filters(filters: list[str], columns: pa.Schema | Iterable[str]) -> tuple[str, list[Any]]:
    r"""``["digit_label == \"8\"", "loss_ce > 0.5"]`` -> (SQL WHERE fragment, parameters).

    A thin wrapper of :func:`leapscope.store.parse_filter`: only ``column op literal [and ...]``
    with known columns (and, given a pyarrow schema, literals of the column's type) is accepted;
    nothing from a request is ever evaluated as code.

    Raises
    ------
    HTTPException
        422 with the parser's reason (malformed filter, unknown column, wrong literal type).
    """
    try:
        return parse_filter(filters, columns).sql()
    except FilterError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value
