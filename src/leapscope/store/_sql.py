"""Quoting for the few SQL texts that cannot take bound parameters (DuckDB views, identifiers)."""

from __future__ import annotations

__all__ = ["sql_identifier", "sql_string"]


def sql_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (``a"b`` -> ``"a""b"``); safe for any column name."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """``text`` as a single-quoted SQL string literal (``it's`` -> ``'it''s'``), for DuckDB and SQLite.

    Use bound parameters (``?``) wherever the statement allows them; this is for the
    statements that do not (``CREATE VIEW ... read_parquet(...)``).
    """
    if "\x00" in text:
        raise ValueError("a SQL string literal cannot hold a NUL character")
    return "'" + str(text).replace("'", "''") + "'"
