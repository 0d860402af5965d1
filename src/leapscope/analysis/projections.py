"""Population exploration: 2-D (or k-D) projections of a latent space.

PCA (scikit-learn) is instant; UMAP (umap-learn; McInnes et al. 2018) and t-SNE
(scikit-learn; van der Maaten & Hinton 2008) are computed on demand. Rows with a
NaN latent (failed samples) are left out and come back as NaN. Methods are looked up
in :data:`PROJECTORS` (name -> function), not chosen by a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from leapscope.exceptions import LeapscopeError

__all__ = ["PROJECTORS", "Method", "project"]

Method = Literal["pca", "umap", "tsne"]
Projector = Callable[[np.ndarray, int, int, dict[str, Any]], np.ndarray]
"""(valid rows (n, D) float32, n_components, seed, estimator params) -> (n, <= n_components)."""


def _pca(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> np.ndarray:
    from sklearn.decomposition import PCA

    k = min(n_components, x.shape[1], len(x))
    return np.asarray(PCA(n_components=k, random_state=seed).fit_transform(x))


def _umap(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> np.ndarray:
    import umap

    n_neighbors = min(params.pop("n_neighbors", 15), len(x) - 1)
    # a seed makes UMAP single-threaded anyway; saying n_jobs=1 avoids its warning on every call
    params.setdefault("n_jobs", 1)
    reducer = umap.UMAP(n_components=n_components, random_state=seed, n_neighbors=n_neighbors, **params)
    return np.asarray(reducer.fit_transform(x))


def _tsne(x: np.ndarray, n_components: int, seed: int, params: dict[str, Any]) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(params.pop("perplexity", 30.0), (len(x) - 1) / 3)
    tsne = TSNE(n_components=n_components, random_state=seed, perplexity=perplexity, init="pca", **params)
    return np.asarray(tsne.fit_transform(x))


PROJECTORS: dict[str, Projector] = {"pca": _pca, "umap": _umap, "tsne": _tsne}


def project(
    latent: np.ndarray, method: Method = "pca", n_components: int = 2, seed: int = 0, **params: Any
) -> np.ndarray:
    """Project (N, D) latent vectors to (N, n_components) float32.

    Parameters
    ----------
    latent : ndarray of shape (N, D)
    method : {"pca", "umap", "tsne"}
    n_components : int, default 2
    seed : int, default 0
        Makes UMAP and t-SNE deterministic.
    **params
        Passed to the estimator (``n_neighbors``, ``min_dist``, ``perplexity``...).

    Raises
    ------
    LeapscopeError
        Unknown method, or fewer than 3 valid rows.
    """
    latent = np.asarray(latent, dtype=np.float32)
    valid = np.isfinite(latent).all(axis=1)
    out = np.full((len(latent), n_components), np.nan, np.float32)
    x = latent[valid]
    if len(x) < 3:
        raise LeapscopeError(f"project: {len(x)} valid latent rows; a projection needs at least 3")
    projector = PROJECTORS.get(method)
    if projector is None:
        raise LeapscopeError(f"project: unknown method {method!r}; expected 'pca', 'umap' or 'tsne'")
    result = projector(x, n_components, seed, dict(params))
    out[valid, : result.shape[1]] = result
    return out
