"""Dashboard data of runs: aggregates by metadata, confusion matrices, one aggregate across runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.runs.columns import class_labels, first_label_column, metadata_columns
from leapscope.store import Run, Workspace, parse_filter
from leapscope.store._schema import GT_PREFIX, SUBSET, label_column, pred_column

__all__ = ["AGGREGATES", "aggregate", "compare_runs", "confusion_matrix", "confusion_reason", "metadata_columns"]

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


#: aggregates that need a number (the others take any scalar column)
NUMERIC_AGGREGATES = ("mean", "median", "sum", "std")


def _aggregates_of(data_type: Any) -> tuple[str, ...]:
    """The aggregates a column of this pyarrow type allows: all for numbers, count/min/max for other scalars
    (text, booleans, dates), count for lists and structs."""
    import pyarrow as pa

    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return tuple(AGGREGATES)
    if pa.types.is_nested(data_type):
        return ("count",)
    return tuple(a for a in AGGREGATES if a not in NUMERIC_AGGREGATES)


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
        Unknown aggregate, unknown ``column`` / ``by`` column, or an aggregate the column's type does not
        allow (``mean``/``median``/``sum``/``std`` of a text or list column; the message names the ones it allows).
    """
    if agg not in AGGREGATES:
        raise LeapscopeError(f"unknown aggregate {agg!r}; available: {', '.join(AGGREGATES)}")
    table = run.samples
    names = set(table.column_names)
    for name in [column, *by]:
        if name not in names:
            raise LeapscopeError(f"run {run.id} has no column '{name}'; columns: {', '.join(sorted(names))}")
    allowed = _aggregates_of(table.schema.field(column).type)
    if agg not in allowed:
        raise LeapscopeError(
            f"aggregate: agg={agg!r} needs a numeric column, but column '{column}' of run {run.id} is "
            f"{table.schema.field(column).type}; fix: use one of {', '.join(allowed)} for it, or pick a numeric "
            "column (loss_*, metric_*, or numeric metadata)"
        )
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


def confusion_reason(run: Run) -> str | None:
    """Why ``run`` has no confusion matrix (None when it has one): its predictions are not class scores
    (dense maps, regression values, multi-label...), or it stored no ground-truth / predicted label."""
    labeled = class_labels(run)
    if not labeled:
        kinds = ", ".join(f"{p.name}: {p.resolved_kind or 'unlabeled'}" for p in run.typed_manifest.predictions)
        return f"not applicable: no prediction of kind 'class' with labels ({kinds})"
    gt, pred = first_label_column(run, GT_PREFIX), label_column(pred_column(labeled[0]))
    if gt is None or pred not in run.samples.column_names:
        return "not applicable: the run stored no ground-truth class label (no ground truth wired to the class scores)"
    return None


def confusion_matrix(run: Run, *, subset: str | None = None) -> tuple[list[str], np.ndarray]:
    """Class names and the (K, K) int64 count matrix: rows = ground truth, columns = prediction.

    Only runs with a prediction of kind ``class`` have one (see :func:`confusion_reason`; the
    dashboard hides the card for the others).

    Raises
    ------
    LeapscopeError
        The run has no class prediction or no ground-truth / predicted label column (the message
        is :func:`confusion_reason`).
    """
    reason = confusion_reason(run)
    labeled = class_labels(run)
    if reason is not None or labeled is None:
        raise LeapscopeError(f"run {run.id} has no confusion matrix: {reason}")
    gt, pred = first_label_column(run, GT_PREFIX), label_column(pred_column(labeled[0]))
    assert gt is not None  # noqa: S101 - checked by confusion_reason
    labels = labeled[1]
    df = run.samples.select([SUBSET, gt, pred]).to_pandas().dropna()
    if subset:
        df = df[df[SUBSET] == subset]
    index = {name: i for i, name in enumerate(labels)}
    df = df[df[gt].isin(index) & df[pred].isin(index)]
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(matrix, (df[gt].map(index).to_numpy(int), df[pred].map(index).to_numpy(int)), 1)
    return labels, matrix


def compare_runs(
    workspace: Workspace, project: str, column: str, *, by: Sequence[str] = (), agg: str = "mean"
) -> pd.DataFrame:
    """The same aggregate for every complete run of a project (one row per run and group).

    A run without ``column`` (or a ``by`` column), e.g. one evaluated before a loss was added, is
    skipped, not an error: ``frame.attrs["skipped"]`` lists ``{"run": id, "version": v, "reason": ...}``.

    Raises
    ------
    StoreError
        The project has no complete run, or none of its runs has ``column``.
    LeapscopeError
        As :func:`aggregate`.
    """
    frames = []
    skipped: list[dict[str, str]] = []
    complete = [run for run in workspace.runs(project) if run.status == "complete"]
    for run in complete:
        missing = [name for name in [column, *by] if name not in run.samples.column_names]
        if missing:
            reason = f"run {run.id} has no column {', '.join(repr(m) for m in missing)}"
            skipped.append({"run": run.id, "version": run.row.version, "reason": reason})
            continue
        frame = aggregate(run, column, by=by, agg=agg)
        frame.insert(0, "version", run.row.version)
        frame.insert(0, "run", run.id)
        frames.append(frame)
    if not complete:
        raise StoreError(f"project '{project}' has no complete run")
    if not frames:
        raise StoreError(
            f"no complete run of project '{project}' has column '{column}'"
            + (f" (and {', '.join(by)})" if by else "")
            + "; pick a loss or metric the runs share"
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs["skipped"] = skipped
    return out
