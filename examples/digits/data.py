"""The digits data: scikit-learn's 1,797 real 8x8 handwritten digits, split once.

Shared by the integration and by train.py so both see the same split.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

SPLIT_SEED = 0
FRACTIONS = {"training": 0.6, "validation": 0.2, "test": 0.2}


def load() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Images (N, 8, 8, 1) float32 in [0, 1], labels (N,) int64, and row indices per subset.

    The split is stratified by label with a fixed seed.
    """
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    rows: dict[str, list[int]] = {name: [] for name in FRACTIONS}
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_train = round(len(idx) * FRACTIONS["training"])
        n_val = round(len(idx) * FRACTIONS["validation"])
        rows["training"] += idx[:n_train].tolist()
        rows["validation"] += idx[n_train : n_train + n_val].tolist()
        rows["test"] += idx[n_train + n_val :].tolist()
    return images, labels, {name: np.sort(np.array(r)) for name, r in rows.items()}
