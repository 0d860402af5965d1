"""Run-level analysis API: read a stored run, call the pure detectors, cache results.

Results are written under the run folder (``insights.json``, ``projections/``)
atomically; insights are also stored in the catalog.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leapscope.analysis._insights import (
    AnalysisInput,
    data_leakage,
    domain_gap,
    duplicates,
    latent_clusters,
    low_performance,
    mislabeled,
    out_of_distribution,
    overfitting,
)
from leapscope.analysis._projection import Method, project
from leapscope.analysis._types import INSIGHT_TYPES, Insight
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.store import Run, Workspace, atomic_path, parse_filter, write_json

__all__ = [
    "aggregate",
    "analysis_input",
    "analyze",
    "compare_runs",
    "confusion_matrix",
    "load_insights",
    "metadata_columns",
    "projection",
    "recommend_labeling",
    "similar",
]

RESERVED = ("row", "subset", "sample_id", "input_hash", "error")
INSIGHTS_FILE = "insights.json"


def metadata_columns(run: Run) -> list[str]:
    """Names of the run's metadata columns."""
    names = run.samples.column_names
    return [n for n in names if n not in RESERVED and not n.startswith(("gt_", "pred_", "loss_", "metric_"))]


def _label_column(run: Run, prefix: str) -> str | None:
    """The first string column ``<prefix>..._label`` (``gt_label_label``, ``pred_classes_label``)."""
    import pyarrow as pa

    for field in run.samples.schema:
        if field.name.startswith(prefix) and field.name.endswith("_label") and pa.types.is_string(field.type):
            return str(field.name)
    return None


def _metric_direction(run: Run, column: str) -> str:
    for part in run.manifest["integration"]["parts"]:
        if part["kind"] == "metric" and column.startswith(f"metric_{part['name']}"):
            direction = part.get("direction", "higher")
            if isinstance(direction, dict):
                key = column[len(f"metric_{part['name']}_"):]
                return str(direction.get(key, "higher"))
            return str(direction)
    return "higher"


def _as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows that are already probabilities (in [0, 1], summing to 1) stay; raw scores (logits) get a softmax."""
    if len(scores) == 0 or (scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(axis=1), 1, atol=1e-3)):
        return scores
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def analysis_input(run: Run, space: str | None = None) -> AnalysisInput:
    """Assemble the detectors' input from a run (loss, metric, labels, probabilities, metadata)."""
    table = run.samples
    names = table.column_names
    loss_cols = [n for n in names if n.startswith("loss_")]
    metric_cols = [n for n in names if n.startswith("metric_") and _metric_direction(run, n) == "higher"]
    metric_name = metric_cols[0] if metric_cols else None
    n = table.num_rows

    def floats(name: str | None) -> np.ndarray | None:
        if name is None:
            return None
        return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)

    metric = floats(metric_name)
    if loss_cols:
        loss_name, loss = loss_cols[0], floats(loss_cols[0])
    elif metric is not None:
        loss_name, loss = f"1 - {metric_name}", 1.0 - metric
    else:
        raise StoreError(f"run {run.id} has no loss or metric column to analyze")
    labeled = [p for p in run.manifest["predictions"] if p.get("labels")]
    class_names: list[str] = labeled[0]["labels"] if labeled else []
    pred_probs = None
    labels = np.full(n, -1, np.int64)
    if labeled:
        pname = labeled[0]["name"]
        if f"pred_{pname}" in names:
            column = table[f"pred_{pname}"]
            k = len(class_names)
            pred_probs = np.full((n, k), np.nan, np.float32)
            valid = np.asarray(column.is_valid())
            flat = np.asarray(column.drop_null().combine_chunks().flatten(), dtype=np.float32) if valid.any() else np.zeros(0, np.float32)
            pred_probs[valid] = _as_probabilities(flat.reshape(-1, k))
        gt_label = _label_column(run, "gt_")
        if gt_label:
            index = {name: i for i, name in enumerate(class_names)}
            labels = np.array([index.get(v, -1) if v is not None else -1 for v in table[gt_label].to_pylist()], np.int64)
    try:
        latent = np.asarray(run.latent(space), dtype=np.float32)
    except StoreError:
        latent = np.zeros((n, 0), np.float32)
    meta = table.select(metadata_columns(run)).to_pandas()
    return AnalysisInput(
        subset=np.asarray(table["subset"].to_pylist(), dtype=object),
        sample_id=np.asarray(table["sample_id"].to_pylist(), dtype=object),
        latent=latent,
        loss=loss,  # type: ignore[arg-type]
        loss_name=loss_name,
        metric=metric,
        metric_name=metric_name,
        labels=labels,
        pred_probs=pred_probs,
        class_names=class_names,
        metadata=meta,
        input_hash=np.asarray(table["input_hash"].to_pylist(), dtype=object) if "input_hash" in names else None,
    )


def analyze(
    run: Run,
    *,
    types: Sequence[str] | None = None,
    seed: int = 0,
    min_samples: int = 10,
    space: str | None = None,
    workspace: Workspace | None = None,
) -> list[Insight]:
    """Find every insight type on a run; store them (insights.json + catalog); return them ranked.

    Raises
    ------
    LeapscopeError
        Unknown insight type.
    """
    chosen = list(types or INSIGHT_TYPES)
    unknown = [t for t in chosen if t not in INSIGHT_TYPES]
    if unknown:
        raise LeapscopeError(f"unknown insight type(s) {unknown}; available: {', '.join(INSIGHT_TYPES)}")
    data = analysis_input(run, space)
    has_latent = data.latent.shape[1] > 0
    clusters = latent_clusters(data.latent, seed=seed) if has_latent else np.full(data.n, -1)
    found: list[Insight] = []
    timings: dict[str, float] = {}
    for kind in chosen:
        start = time.perf_counter()
        if kind == "low_performance":
            found += low_performance(data, clusters=clusters, min_samples=min_samples)
        elif kind == "mislabeled":
            found += mislabeled(data, seed=seed) if has_latent or data.pred_probs is not None else []
        elif kind == "duplicates" and has_latent:
            found += duplicates(data)
        elif kind == "data_leakage" and has_latent:
            found += data_leakage(data)
        elif kind == "out_of_distribution" and has_latent:
            found += out_of_distribution(data)
        elif kind == "domain_gap" and has_latent:
            found += domain_gap(data, min_samples=2 * min_samples, seed=seed)
        elif kind == "overfitting" and has_latent:
            found += overfitting(data, clusters=clusters, min_samples=min_samples)
        timings[kind] = round(time.perf_counter() - start, 3)
    found.sort(key=lambda i: -i.severity)
    write_json(run.dir / INSIGHTS_FILE, {"run_id": run.id, "seed": seed, "timings": timings, "clusters": clusters.tolist(),
                                         "insights": [i.to_dict() for i in found]})
    ws = workspace or Workspace(run.dir.parents[1])
    with ws.catalog.connect() as db:
        db.execute("DELETE FROM insights WHERE run_id = ?", (run.id,))
        db.executemany(
            "INSERT INTO insights (run_id, type, severity, payload) VALUES (?, ?, ?, ?)",
            [(run.id, i.type, i.severity, json.dumps(i.to_dict(), default=str)) for i in found],
        )
    return found


def load_insights(run: Run) -> list[Insight]:
    """The insights stored by the last :func:`analyze` (empty if never analyzed)."""
    path = run.dir / INSIGHTS_FILE
    if not path.exists():
        return []
    return [Insight.from_dict(d) for d in json.loads(path.read_text())["insights"]]


def projection(run: Run, *, space: str | None = None, method: Method = "pca", n_components: int = 2, seed: int = 0, **params: Any) -> np.ndarray:
    """(N, n_components) projection of a latent space, cached under ``projections/`` by content hash."""
    name = space or (run.latent_spaces[0] if run.latent_spaces else "")
    key = json.dumps({"space": name, "method": method, "k": n_components, "seed": seed, **params}, sort_keys=True)
    path = run.dir / "projections" / f"{name}-{method}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npy"
    if path.exists():
        return np.load(path)
    result = project(np.asarray(run.latent(space)), method, n_components, seed, **params)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, result)
    return result


def _row_of(run: Run, sample_id: str, subset: str | None) -> int:
    df = run.samples.select(["row", "subset", "sample_id"]).to_pandas()
    match = df[(df.sample_id == str(sample_id)) & ((df.subset == subset) if subset else True)]
    if match.empty:
        raise StoreError(f"run {run.id} has no sample {sample_id!r}" + (f" in subset '{subset}'" if subset else ""))
    if len(match) > 1:
        raise StoreError(f"sample id {sample_id!r} is in several subsets ({', '.join(match.subset)}); pass subset=")
    return int(match.row.iloc[0])


def similar(run: Run, sample_id: str, *, subset: str | None = None, k: int = 10, space: str | None = None) -> pd.DataFrame:
    """The ``k`` nearest samples in latent space (cosine), nearest first, without the sample itself.

    Returns a DataFrame with columns row (int), subset, sample_id (str), distance (float,
    ``1 - cos``, in [0, 2]); at most ``k`` rows. Samples whose latent vector holds NaN or inf
    are never neighbours. When the sample's own vector is not finite (its model output was NaN)
    or no other sample has a finite one, the result is empty and ``df.attrs["note"]`` says why.

    Raises
    ------
    StoreError
        No such sample (or it is in several subsets and ``subset`` is not given), or no such
        latent space.
    """
    from sklearn.neighbors import NearestNeighbors

    latent = np.asarray(run.latent(space), dtype=np.float32)
    row = _row_of(run, sample_id, subset)
    samples = run.samples.select(["row", "subset", "sample_id"]).to_pandas()
    valid = np.flatnonzero(np.isfinite(latent).all(axis=1))
    others = valid[valid != row]
    if not np.isfinite(latent[row]).all() or len(others) == 0:
        empty = samples.iloc[:0].reset_index(drop=True).assign(distance=np.zeros(0, dtype=np.float64))
        empty.attrs["note"] = (f"sample {sample_id!r} has a non-finite latent vector (NaN or inf; its model output was not finite), "
                               "so it has no neighbours" if not np.isfinite(latent[row]).all()
                               else "no other sample has a finite latent vector")
        return empty
    x = latent[others] / np.maximum(np.linalg.norm(latent[others], axis=1, keepdims=True), 1e-12)
    query = latent[row : row + 1] / max(float(np.linalg.norm(latent[row])), 1e-12)
    dist, idx = NearestNeighbors(n_neighbors=min(k, len(others))).fit(x).kneighbors(query)
    df = samples.iloc[others[idx[0]]].reset_index(drop=True)
    df["distance"] = (dist[0] ** 2) / 2
    return df


def recommend_labeling(run: Run, n: int, *, subset: str = "unlabeled", space: str | None = None, seed: int = 0) -> pd.DataFrame:
    """A coreset of ``n`` samples of ``subset`` to label next: k-center greedy in latent space.

    (Sener & Savarese 2018): repeatedly pick the sample farthest from everything
    already labeled (all other subsets) or picked.
    """
    latent = np.asarray(run.latent(space), dtype=np.float32)
    df = run.samples.select(["row", "subset", "sample_id"]).to_pandas()
    valid = np.isfinite(latent).all(axis=1)
    pool = np.flatnonzero((df.subset == subset).to_numpy() & valid)
    if len(pool) == 0:
        raise StoreError(f"run {run.id} has no samples in subset '{subset}' to recommend")
    labeled = np.flatnonzero((df.subset != subset).to_numpy() & valid)
    x = latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)
    if len(labeled):
        nearest = np.full(len(pool), np.inf, np.float32)
        for start in range(0, len(labeled), 4096):
            block = x[labeled[start : start + 4096]]
            nearest = np.minimum(nearest, ((x[pool][:, None, :] - block[None]) ** 2).sum(-1).min(1))
    else:
        nearest = ((x[pool] - x[pool[np.random.default_rng(seed).integers(len(pool))]]) ** 2).sum(1)
    picked = []
    for _ in range(min(n, len(pool))):
        i = int(np.argmax(nearest))
        picked.append(i)
        nearest = np.minimum(nearest, ((x[pool] - x[pool[i]]) ** 2).sum(1))
        nearest[i] = -1
    out = df.iloc[pool[picked]].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


AGGREGATES = {"mean": "avg", "count": "count", "median": "median", "min": "min", "max": "max", "sum": "sum", "std": "stddev_samp"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def aggregate(run: Run, column: str, *, by: Sequence[str] = (), agg: str = "mean", where: str | None = None) -> pd.DataFrame:
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
    """Class names and the (K, K) count matrix: rows = ground truth, columns = prediction."""
    gt, pred = _label_column(run, "gt_"), _label_column(run, "pred_")
    labeled = [p for p in run.manifest["predictions"] if p.get("labels")]
    if gt is None or pred is None or not labeled:
        raise LeapscopeError(f"run {run.id} has no classification labels for a confusion matrix")
    labels: list[str] = labeled[0]["labels"]
    df = run.samples.select(["subset", gt, pred]).to_pandas().dropna()
    if subset:
        df = df[df.subset == subset]
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(matrix, (df[gt].map(index).to_numpy(int), df[pred].map(index).to_numpy(int)), 1)
    return labels, matrix


def compare_runs(workspace: Workspace, project: str, column: str, *, by: Sequence[str] = (), agg: str = "mean") -> pd.DataFrame:
    """The same aggregate for every complete run of a project (one row per run and group)."""
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
