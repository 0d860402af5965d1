"""Clustering of latent vectors: k-means on L2-normalised, PCA-reduced latents."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["latent_clusters", "reduce_latent"]


def reduce_latent(latent: np.ndarray, dims: int = 16, seed: int = 0) -> np.ndarray:
    """(N, D) finite latents -> (N, min(dims, D', N)) float32: L2-normalise, drop the columns that are then
    constant (:func:`leapscope.analysis.projections.varying_columns`; D' varying ones), then PCA.

    When no column varies (every sample has the same direction), (N, 1) zeros.
    """
    from sklearn.decomposition import PCA

    from leapscope.analysis.projections import varying_columns

    x = latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)
    x = x[:, varying_columns(x)]
    if x.shape[1] == 0 or len(x) < 2:
        return np.zeros((len(x), 1), np.float32)
    k = min(dims, x.shape[1], len(x))
    return np.asarray(PCA(n_components=k, random_state=seed).fit_transform(x), dtype=np.float32)


def latent_clusters(latent: np.ndarray, *, seed: int = 0, n_clusters: int | None = None) -> np.ndarray:
    """k-means cluster ids, shape (N,) int64, of L2-normalised, PCA-reduced latents (NaN rows get -1).

    ``n_clusters`` defaults to clip(sqrt(N / 10), 4, 30), and is at most the number of distinct reduced
    vectors. With fewer than 8 finite rows, or fewer than 2 distinct latents (a constant latent space),
    every row gets -1.
    """
    from sklearn.cluster import KMeans

    valid = np.isfinite(latent).all(axis=1)
    labels = np.full(len(latent), -1, np.int64)
    n = int(valid.sum())
    if n < 8:
        return labels
    k = n_clusters or int(np.clip(round(math.sqrt(n / 10)), 4, 30))
    z = reduce_latent(latent[valid], seed=seed)
    distinct = len(np.unique(z.round(6), axis=0))
    if distinct < 2:
        return labels
    labels[valid] = KMeans(n_clusters=min(k, n, distinct), n_init=4, random_state=seed).fit_predict(z)
    return labels
