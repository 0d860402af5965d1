"""scikit-learn's 1,797 real 8x8 handwritten digits, split 60/20/20 per digit with a fixed seed."""

import numpy as np
from sklearn.datasets import load_digits


def load():
    """Images (N, 8, 8, 1) float32 in [0, 1], labels (N,) int64, and the row indices of each subset."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    rows = {"training": [], "validation": [], "test": []}
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_train, n_val = round(len(idx) * 0.6), round(len(idx) * 0.2)
        rows["training"] += idx[:n_train].tolist()
        rows["validation"] += idx[n_train : n_train + n_val].tolist()
        rows["test"] += idx[n_train + n_val :].tolist()
    return images, labels, rows
