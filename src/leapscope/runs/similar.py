"""Samples of a run near one sample (``similar``) or far from everything labeled (``recommend_labeling``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leapscope.analysis.neighbours import k_center_greedy, nearest_to_row
from leapscope.exceptions import StoreError
from leapscope.store import Run
from leapscope.store._schema import KEY_COLUMNS

__all__ = ["recommend_labeling", "row_of", "similar"]


def row_of(run: Run, sample_id: str, subset: str | None) -> int:
    """The samples.parquet row of a sample.

    Raises
    ------
    StoreError
        No such sample, or it is in several subsets and ``subset`` is not given.
    """
    df = run.samples.select(list(KEY_COLUMNS)).to_pandas()
    match = df[(df.sample_id == str(sample_id)) & ((df.subset == subset) if subset else True)]
    if match.empty:
        raise StoreError(f"run {run.id} has no sample {sample_id!r}" + (f" in subset '{subset}'" if subset else ""))
    if len(match) > 1:
        raise StoreError(f"sample id {sample_id!r} is in several subsets ({', '.join(match.subset)}); pass subset=")
    return int(match.row.iloc[0])


def similar(
    run: Run, sample_id: str, *, subset: str | None = None, k: int = 10, space: str | None = None
) -> pd.DataFrame:
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
    latent = np.asarray(run.latent(space), dtype=np.float32)
    row = row_of(run, sample_id, subset)
    samples = run.samples.select(list(KEY_COLUMNS)).to_pandas()
    rows, distance = nearest_to_row(latent, row, k)
    if len(rows) == 0:
        empty = samples.iloc[:0].reset_index(drop=True).assign(distance=np.zeros(0, dtype=np.float64))
        empty.attrs["note"] = (
            f"sample {sample_id!r} has a non-finite latent vector (NaN or inf; its model output was not finite), "
            "so it has no neighbours"
            if not np.isfinite(latent[row]).all()
            else "no other sample has a finite latent vector"
        )
        return empty
    df = samples.iloc[rows].reset_index(drop=True)
    df["distance"] = distance
    return df


def recommend_labeling(
    run: Run, n: int, *, subset: str = "unlabeled", space: str | None = None, seed: int = 0
) -> pd.DataFrame:
    """A coreset of ``n`` samples of ``subset`` to label next: k-center greedy in latent space.

    (Sener & Savarese 2018): repeatedly pick the sample farthest from everything
    already labeled (all other subsets) or picked. Returns a DataFrame with columns row,
    subset, sample_id and rank (1 = label first); at most ``n`` rows.

    Raises
    ------
    StoreError
        No sample of ``subset`` has a finite latent vector, or no such latent space.
    """
    latent = np.asarray(run.latent(space), dtype=np.float32)
    df = run.samples.select(list(KEY_COLUMNS)).to_pandas()
    valid = np.isfinite(latent).all(axis=1)
    pool = np.flatnonzero((df.subset == subset).to_numpy() & valid)
    if len(pool) == 0:
        raise StoreError(f"run {run.id} has no samples in subset '{subset}' to recommend")
    labeled = np.flatnonzero((df.subset != subset).to_numpy() & valid)
    picked = k_center_greedy(latent, pool, labeled, n, seed=seed)
    out = df.iloc[pool[picked]].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out
