"""Nearest neighbours in latent space (cosine distance), and k-center greedy selection.

Cosine distance is ``1 - cos``, in [0, 2]; it is computed as half the squared chord
between L2-normalised vectors (scikit-learn ``NearestNeighbors``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cosine_neighbours", "k_center_greedy", "knn_label_disagreement", "l2_normalise", "nearest_to_row"]


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit L2 norm (zero rows stay zero)."""
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def cosine_neighbours(query: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``min(k, M)`` nearest rows of ``reference`` (M, D) for each row of ``query`` (Q, D).

    Returns (distances (Q, k') float, cosine distance; indices (Q, k') int into ``reference``),
    nearest first. Inputs must be finite.
    """
    from sklearn.neighbors import NearestNeighbors

    q, r = l2_normalise(query), l2_normalise(reference)
    dist, idx = NearestNeighbors(n_neighbors=min(k, len(r))).fit(r).kneighbors(q)
    return (dist**2) / 2, idx  # squared chord / 2 = cosine distance


def knn_label_disagreement(latent: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray | None:
    """Per row of ``latent`` (N, D): the share of its ``k`` nearest other rows whose label differs.

    Returns (N,) float in [0, 1], or None when there is no latent (D == 0), a row is not
    finite, or N <= k.
    """
    from sklearn.neighbors import NearestNeighbors

    valid = np.isfinite(latent).all(axis=1)
    if latent.shape[1] == 0 or not valid.all() or len(latent) <= k:
        return None
    x = l2_normalise(latent)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    neighbours = labels[idx[:, 1:]]
    return np.asarray((neighbours != labels[:, None]).mean(axis=1))


def nearest_to_row(latent: np.ndarray, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``latent`` (N, D) nearest to ``latent[row]``, without ``row`` itself.

    Rows holding NaN or inf are never neighbours. Returns (rows (k',) int, cosine distances
    (k',) float), nearest first; both empty when ``latent[row]`` is not finite or no other
    row is.
    """
    from sklearn.neighbors import NearestNeighbors

    valid = np.flatnonzero(np.isfinite(latent).all(axis=1))
    others = valid[valid != row]
    if not np.isfinite(latent[row]).all() or len(others) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    x = l2_normalise(latent[others])
    query = latent[row : row + 1] / max(float(np.linalg.norm(latent[row])), 1e-12)
    dist, idx = NearestNeighbors(n_neighbors=min(k, len(others))).fit(x).kneighbors(query)
    return others[idx[0]], (dist[0] ** 2) / 2


def k_center_greedy(latent: np.ndarray, pool: np.ndarray, labeled: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """k-center greedy coreset (Sener & Savarese 2018): ``min(n, len(pool))`` positions into ``pool``.

    Repeatedly picks the pool row farthest (L2 between normalised latents) from every
    ``labeled`` row and every row picked so far; without labeled rows the first distance is
    to a random pool row (``seed``). ``pool`` and ``labeled`` are row indices of ``latent`` (N, D)
    whose vectors are finite.
    """
    x = l2_normalise(latent)
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
    return np.asarray(picked, dtype=np.int64)
