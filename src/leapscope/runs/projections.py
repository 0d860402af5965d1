"""Projections of a run's latent space, cached under the run's ``projections/`` folder."""

from __future__ import annotations

from typing import Any

import numpy as np

from leapscope.analysis.projections import Method, project
from leapscope.store import Run, atomic_path
from leapscope.store._files import load_npy
from leapscope.store._schema import projection_file

__all__ = ["projection"]


def projection(
    run: Run, *, space: str | None = None, method: Method = "pca", n_components: int = 2, seed: int = 0, **params: Any
) -> np.ndarray:
    """(N, n_components) float32 projection of a latent space, cached under ``projections/`` by content hash.

    See :func:`leapscope.analysis.projections.project` for the methods and ``params``.

    Raises
    ------
    StoreError
        No such latent space; CorruptStorageError for a damaged cached file, or a ``projections/`` link that
        leads outside the run folder (nothing is written through it).
    LeapscopeError
        Unknown method, or fewer than 3 valid rows.
    """
    name = space or (run.latent_spaces[0] if run.latent_spaces else "")
    path = run.file(projection_file(name, method, n_components, seed, params))  # no link out of the run
    if path.exists():
        return np.asarray(load_npy(path, mmap=False, fix=f"delete the cached projection {path}; it is computed again"))
    result = project(np.asarray(run.latent(space)), method, n_components, seed, **params)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, result)
    return result
