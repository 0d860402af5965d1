"""Dashboard data of runs: aggregates by metadata, confusion matrices, one aggregate across runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.runs.columns import class_labels, first_label_column, metadata_columns
from leapscope.store import Run, Workspace, parse_filter
from leapscope.store._schema import GT_PREFIX, PRED_PREFIX, SUBSET

__all__ = ["AGGREGATES", "aggregate", "compare_runs", "confusion_matrix", "metadata_columns"]

AGGREGATES = {
    "mean": "avg",
    "count": "count",
    "median": "median",
    "min": "min",
    "max": "max",
    "sum": "sum",
    "std": "stddev_samp",
}
"""Aggregate name -> DuckDB function."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def aggregate(
    run: Run, column: str, *, by: Sequence[str] = (), agg: str = "mean", where: str | None = None
) -> pd.DataFrame:
    """``agg(column)`` grouped by metadata/subset columns, via DuckDB over the run's samples.

    ``where`` selects rows first: ``column op literal [and ...]`` (e.g. ``digit_label == "8"``),
    parsed by :func:`leapscope.store.parse_filter` into bound parameters, never run as code.
    Returns a DataFrame with the ``by`` columns, ``value`` and ``n`` (one row per group).

    Raises
    ------
    FilterError
        A malformed ``where``, an unknown column in it or a literal of the wrong type.
    LeapscopeError
        Unknown aggregate or unknown ``column`` / ``by`` column.
    """
    if agg not in AGGREGATES:
        raise LeapscopeError(f"unknown aggregate {agg!r}; available: {', '.join(AGGREGATES)}")
    table = run.samples
    names = set(table.column_names)
    for name in [column, *by]:
        if name not in names:
            raise LeapscopeError(f"run {run.id} has no column '{name}'; columns: {', '.join(sorted(names))}")
    clause, params = parse_filter(where, table.schema).sql()
    import duckdb

    con = duckdb.connect()
    try:
        con.register("samples", table)
        groups = ", ".join(_quote(b) for b in by)
        select = f"{groups + ', ' if groups else ''}{AGGREGATES[agg]}({_quote(column)}) AS value, count(*) AS n"
        # identifiers are checked above and quoted; filter values are bound parameters
        parts = ["SELECT", select, "FROM samples"]
        parts += ["WHERE", clause] if clause else []
        parts += ["GROUP BY", groups, "ORDER BY", groups] if groups else []
        query = " ".join(parts)
        return con.execute(query, params).df()
    finally:
        con.close()


def confusion_matrix(run: Run, *, subset: str | None = None) -> tuple[list[str], np.ndarray]:
    """Class names and the (K, K) int64 count matrix: rows = ground truth, columns = prediction.

    Raises
    ------
    LeapscopeError
        The run has no labeled prediction or no ground-truth / predicted label column.
    """
    gt, pred = first_label_column(run, GT_PREFIX), first_label_column(run, PRED_PREFIX)
    labeled = class_labels(run)
    if gt is None or pred is None or not labeled:
        raise LeapscopeError(f"run {run.id} has no classification labels for a confusion matrix")
    labels = labeled[1]
    df = run.samples.select([SUBSET, gt, pred]).to_pandas().dropna()
    if subset:
        df = df[df[SUBSET] == subset]
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(matrix, (df[gt].map(index).to_numpy(int), df[pred].map(index).to_numpy(int)), 1)
    return labels, matrix


def compare_runs(
    workspace: Workspace, project: str, column: str, *, by: Sequence[str] = (), agg: str = "mean"
) -> pd.DataFrame:
    """The same aggregate for every complete run of a project (one row per run and group).

    Raises
    ------
    StoreError
        The project has no complete run.
    LeapscopeError
        As :func:`aggregate`.
    """
    frames = []
    for run in workspace.runs(project):
        if run.status != "complete":
            continue
        frame = aggregate(run, column, by=by, agg=agg)
        frame.insert(0, "version", run.row.version)
        frame.insert(0, "run", run.id)
        frames.append(frame)
    if not frames:
        raise StoreError(f"project '{project}' has no complete run")
    return pd.concat(frames, ignore_index=True)
