"""Population exploration: 2-D (or k-D) projections of a latent space.

PCA (scikit-learn) is instant; UMAP (umap-learn; McInnes et al. 2018) and t-SNE
(scikit-learn; van der Maaten & Hinton 2008) are computed on demand. Rows with a
NaN latent (failed samples) are left out and come back as NaN. Methods are looked up
in :data:`PROJECTORS` (name -> function), not chosen by a chain of ifs.

Columns that are constant across the valid rows (a conv-only model's pooled map often has
dead channels) carry no information and make PCA divide by zero: they are dropped first
(:func:`varying_columns`); a latent with no varying column projects every sample to the
origin, and :func:`latent_note` says so in words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from leapscope.exceptions import LeapscopeError

__all__ = ["CONSTANT_RTOL", "PROJECTORS", "Method", "latent_note", "project", "varying_columns"]

#: a latent column whose standard deviation is at most this fraction of the latent's largest absolute
#: value (float32 round-off is ~1e-7) counts as constant
CONSTANT_RTOL = 1e-5

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


def varying_columns(x: np.ndarray, rtol: float = CONSTANT_RTOL) -> np.ndarray:
    """(D,) bool: the columns of finite rows ``x`` (n, D) whose std exceeds ``rtol`` x max |x| (and is > 0)."""
    if not x.size:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0, bool)
    x64 = np.asarray(x, np.float64)
    scale = float(np.abs(x64).max())
    std = x64.std(axis=0)
    return np.asarray((std > rtol * scale) & (std > 0))


def latent_note(latent: np.ndarray, space: str = "") -> str | None:
    """A plain-language note when a latent (N, D) is degenerate (None when every column varies).

    Degenerate: some columns are constant across the finite rows (dropped from maps and clusters),
    or all are (every sample has the same latent vector: maps put every sample on one point and no
    cluster can be found).
    """
    latent = np.asarray(latent)
    if latent.ndim != 2 or latent.shape[1] == 0:
        return None
    x = latent[np.isfinite(latent).all(axis=1)]
    if len(x) < 2:
        return None
    varying = varying_columns(x)
    name = f"latent space '{space}'" if space else "the latent space"
    n_const, d = int((~varying).sum()), latent.shape[1]
    if n_const == 0:
        return None
    if n_const == d:
        return (
            f"{name} is constant: all {len(x)} samples have the same {d}-value vector (within {CONSTANT_RTOL:g} "
            "of its scale), so the map shows one point and no clusters are found; fix: evaluate with another "
            "layer, --latent LAYER (list them with `leapscope layers MODEL`)"
        )
    return f"{name}: {n_const} of {d} columns are constant across samples and were left out of maps and clusters"


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

    Columns constant across the valid rows are left out (:func:`varying_columns`); when no column
    varies, every valid row projects to the origin (0, 0) (:func:`latent_note` explains it).

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
    x = x[:, varying_columns(x)]
    if x.shape[1] == 0:  # every sample has the same latent: one point, not a divide by zero
        out[valid] = 0.0
        return out
    result = projector(x, n_components, seed, dict(params))
    out[valid, : result.shape[1]] = result
    return out
