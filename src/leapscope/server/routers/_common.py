"""Helpers shared by the routers: safe structured filters, quoted identifiers, JSON-safe values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from leapscope.store import FilterError, parse_filter

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["json_safe", "parse_filters", "quote"]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
